"""Running the emulator: a blocking `serve` for the command line and `run_in_thread` for tests and benchmarks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

from storepipe.emulators.server import serve_forever, serving_in_thread, uvicorn_config
from storepipe.emulators.tiktok_shop.app import create_app
from storepipe.emulators.tiktok_shop.config import EmulatorConfig
from storepipe.emulators.tiktok_shop.store import TikTokStore


@dataclass
class RunningEmulator:
    """A live emulator: the Open API and the token endpoints both live under `base_url`."""

    base_url: str
    store: TikTokStore
    config: EmulatorConfig
    host: str
    port: int

    @property
    def control_url(self) -> str:
        return f"{self.base_url}/_emulator"

    @property
    def app_key(self) -> str:
        return self.config.app_key

    @property
    def app_secret(self) -> str:
        return self.config.app_secret

    @property
    def shop_cipher(self) -> str:
        return self.config.shop_cipher


def serve(
    config: EmulatorConfig,
    host: str = "127.0.0.1",
    port: int = 8082,
    log_level: str = "warning",
    webhook: dict[str, Any] | None = None,
) -> None:
    """Build the shop and serve it until interrupted (blocking); `webhook`: register_webhook options."""
    store = TikTokStore(config)
    if webhook is not None:
        store.register_webhook(**webhook)
    app = create_app(store)
    settings = uvicorn_config(app, host, port, log_level)
    serve_forever(settings, "TikTok Shop emulator", config.seed, config.orders, f"app_key {config.app_key}")


@contextmanager
def run_in_thread(
    source: EmulatorConfig | TikTokStore, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
) -> Iterator[RunningEmulator]:
    """A real uvicorn server in a daemon thread on a free port (or `port`); stopped on exit."""
    store = source if isinstance(source, TikTokStore) else TikTokStore(source)

    def settings(bound_port: int) -> uvicorn.Config:
        return uvicorn_config(create_app(store), host, bound_port, log_level)

    with serving_in_thread(settings, host, port, "tiktok-shop-emulator", "TikTok Shop emulator") as bound_port:
        yield RunningEmulator(
            base_url=f"http://{host}:{bound_port}", store=store, config=store.config, host=host, port=bound_port
        )
