"""Running the receiver with uvicorn: in the foreground (`storepipe webhooks serve`) or in a thread (tests, bench)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
import uvicorn

from storepipe.emulators.server import serving_in_thread
from storepipe.webhooks.app import MAX_BODY, create_app


def _config(engine: sa.Engine, host: str, port: int, max_body: int, log_level: str) -> uvicorn.Config:
    # No access log: the receiver logs each rejection itself, with the reason, and accepted deliveries at debug.
    return uvicorn.Config(
        create_app(engine, max_body=max_body),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
    )


def serve(engine: sa.Engine, host: str = "127.0.0.1", port: int = 8787, max_body: int = MAX_BODY) -> None:
    """Serve until interrupted (blocking)."""
    print(f"storepipe webhook receiver on http://{host}:{port}/webhooks/<platform>/<shop_key>", flush=True)
    uvicorn.Server(_config(engine, host, port, max_body, "info")).run()


@contextmanager
def receiver_in_thread(engine: sa.Engine, host: str = "127.0.0.1", max_body: int = MAX_BODY) -> Iterator[str]:
    """The receiver on a free port in a daemon thread until the block exits; yields its base URL."""

    def settings(port: int) -> uvicorn.Config:
        return _config(engine, host, port, max_body, "warning")

    with serving_in_thread(settings, host, 0, "webhook-receiver", "webhook receiver") as port:
        yield f"http://{host}:{port}"
