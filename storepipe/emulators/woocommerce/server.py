"""Running the emulator: a blocking `serve` for the CLI and `run_in_thread` for tests and benchmarks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

from storepipe.emulators.server import serve_forever, serving_in_thread, uvicorn_config
from storepipe.emulators.woocommerce.app import WooApp, create_app
from storepipe.emulators.woocommerce.config import EmulatorConfig
from storepipe.emulators.woocommerce.store import WooStore
from storepipe.emulators.woocommerce.transport import ResettableH11Protocol


@dataclass
class RunningEmulator:
    """A live emulator: `base_url` is the shop URL (the API lives under /wp-json/wc/v3)."""

    base_url: str
    store: WooStore
    config: EmulatorConfig
    host: str
    port: int

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/wp-json/wc/v3"

    @property
    def control_url(self) -> str:
        return f"{self.base_url}/_emulator"

    @property
    def auth(self) -> tuple[str, str]:
        """(consumer_key, consumer_secret), e.g. for requests' `auth=`."""
        return self.config.consumer_key, self.config.consumer_secret


def _uvicorn_config(app: WooApp, host: str, port: int, log_level: str) -> uvicorn.Config:
    # ResettableH11Protocol is needed for real TCP resets (see transport.py).
    return uvicorn_config(app, host, port, log_level, http=ResettableH11Protocol)


def serve(
    config: EmulatorConfig,
    host: str = "127.0.0.1",
    port: int = 8081,
    log_level: str = "warning",
    webhook: dict[str, Any] | None = None,
) -> None:
    """Build the shop and serve it until interrupted (blocking); `webhook`: register_webhook options."""
    store = WooStore(config)
    if config.home_url is None:
        store.set_home_url(f"http://{host}:{port}")
    if webhook is not None:
        store.register_webhook(**webhook)
    app = create_app(store)
    settings = _uvicorn_config(app, host, port, log_level)
    serve_forever(settings, "WooCommerce emulator", config.seed, config.orders, f"version {config.version}")


@contextmanager
def run_in_thread(
    source: EmulatorConfig | WooStore, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
) -> Iterator[RunningEmulator]:
    """A real uvicorn server in a daemon thread on a free port (or `port`); stopped on exit."""
    store = source if isinstance(source, WooStore) else WooStore(source)

    def settings(bound_port: int) -> uvicorn.Config:
        if store.config.home_url is None:
            store.set_home_url(f"http://{host}:{bound_port}")
        return _uvicorn_config(create_app(store), host, bound_port, log_level)

    with serving_in_thread(settings, host, port, "woocommerce-emulator", "WooCommerce emulator") as bound_port:
        base_url = f"http://{host}:{bound_port}"
        yield RunningEmulator(base_url=base_url, store=store, config=store.config, host=host, port=bound_port)
