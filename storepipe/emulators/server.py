"""Shared uvicorn plumbing of the emulators: the server settings, a bound socket and a server in a daemon thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def uvicorn_config(app: Any, host: str, port: int, log_level: str, **options: Any) -> uvicorn.Config:
    """The settings every emulator runs with; `options` add to or override them (e.g. `http=`)."""
    settings: dict[str, Any] = {
        "host": host,
        "port": port,
        "loop": "asyncio",
        "lifespan": "off",
        "log_level": log_level,
        "access_log": False,
        "date_header": False,  # the apps send a Date header from the emulator clock instead
        "server_header": False,
        # A slow or hanging request (fault "latency"/"hang") must not hold up shutdown for its full duration.
        "timeout_graceful_shutdown": 1,
        "timeout_keep_alive": 30,
    }
    settings.update(options)
    return uvicorn.Config(app, **settings)


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port); port 0 picks a free one (see getsockname)."""
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose proto says TCP (otherwise every
    # response can wait ~40 ms for a delayed ACK between the header and body writes).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def serve_forever(config: uvicorn.Config, what: str, seed: int, orders: int, detail: str) -> None:
    """Announce the emulator on stdout and serve it until interrupted (blocking)."""
    print(f"{what} on http://{config.host}:{config.port} (seed {seed}, {orders} orders, {detail})", flush=True)
    uvicorn.Server(config).run()


@contextmanager
def serving_in_thread(
    settings: Callable[[int], uvicorn.Config], host: str, port: int, name: str, what: str
) -> Iterator[int]:
    """Bind (host, port) (port 0: a free one), build the server with `settings(bound_port)` and run it in a daemon
    thread called `name` until the block exits; yields the bound port. RuntimeError("the {what} did not start")
    if it is not up within 15 s."""
    sock = bind_socket(host, port)
    bound_port: int = sock.getsockname()[1]
    server = uvicorn.Server(settings(bound_port))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"the {what} did not start")
        time.sleep(0.005)
    try:
        yield bound_port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
