"""Running the emulator: a blocking `serve` for the CLI and `run_in_thread` for tests and benchmarks."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

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
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=ResettableH11Protocol,  # needed for real TCP resets (see transport.py)
        loop="asyncio",
        lifespan="off",
        log_level=log_level,
        access_log=False,
        date_header=False,
        server_header=False,
        # A hanging request (fault "hang") must not hold up shutdown for its full duration.
        timeout_graceful_shutdown=1,
        timeout_keep_alive=30,
    )


def serve(
    config: EmulatorConfig, host: str = "127.0.0.1", port: int = 8081, log_level: str = "warning"
) -> None:
    """Build the shop and serve it until interrupted (blocking)."""
    store = WooStore(config)
    if config.home_url is None:
        store.set_home_url(f"http://{host}:{port}")
    app = create_app(store)
    print(
        f"WooCommerce emulator on http://{host}:{port} (seed {config.seed}, {config.orders} orders, "
        f"version {config.version})",
        flush=True,
    )
    uvicorn.Server(_uvicorn_config(app, host, port, log_level)).run()


@contextmanager
def run_in_thread(
    source: EmulatorConfig | WooStore, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
) -> Iterator[RunningEmulator]:
    """A real uvicorn server in a daemon thread on a free port (or `port`); stopped on exit."""
    store = source if isinstance(source, WooStore) else WooStore(source)
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose proto says TCP (otherwise every
    # response waits ~40 ms for a delayed ACK between the header and body writes).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    base_url = f"http://{host}:{bound_port}"
    if store.config.home_url is None:
        store.set_home_url(base_url)
    server = uvicorn.Server(_uvicorn_config(create_app(store), host, bound_port, log_level))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="woocommerce-emulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the WooCommerce emulator did not start")
        time.sleep(0.005)
    try:
        yield RunningEmulator(base_url=base_url, store=store, config=store.config, host=host, port=bound_port)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
