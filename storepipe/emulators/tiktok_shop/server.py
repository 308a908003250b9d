"""Running the emulator: a blocking `serve` for the command line and `run_in_thread` for tests and benchmarks."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from storepipe.emulators.tiktok_shop.app import TikTokApp, create_app
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


def _uvicorn_config(app: TikTokApp, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="asyncio",
        lifespan="off",
        log_level=log_level,
        access_log=False,
        date_header=False,  # the app sends a Date header from the emulator clock instead
        server_header=False,
        timeout_graceful_shutdown=1,
        timeout_keep_alive=30,
    )


def serve(config: EmulatorConfig, host: str = "127.0.0.1", port: int = 8082, log_level: str = "warning") -> None:
    """Build the shop and serve it until interrupted (blocking)."""
    app = create_app(config)
    print(
        f"TikTok Shop emulator on http://{host}:{port} (seed {config.seed}, {config.orders} orders, "
        f"app_key {config.app_key})",
        flush=True,
    )
    uvicorn.Server(_uvicorn_config(app, host, port, log_level)).run()


@contextmanager
def run_in_thread(
    source: EmulatorConfig | TikTokStore, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
) -> Iterator[RunningEmulator]:
    """A real uvicorn server in a daemon thread on a free port (or `port`); stopped on exit."""
    store = source if isinstance(source, TikTokStore) else TikTokStore(source)
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose proto says TCP (otherwise each
    # response can wait ~40 ms for a delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(_uvicorn_config(create_app(store), host, bound_port, log_level))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="tiktok-shop-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the TikTok Shop emulator did not start")
        time.sleep(0.005)
    try:
        yield RunningEmulator(
            base_url=f"http://{host}:{bound_port}", store=store, config=store.config, host=host, port=bound_port
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
