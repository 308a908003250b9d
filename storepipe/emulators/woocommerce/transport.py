"""Real TCP resets for the `reset` fault: a uvicorn h11 protocol that exposes each request's transport."""

from __future__ import annotations

import asyncio
import contextvars
import socket
import struct

from uvicorn.protocols.http.h11_impl import H11Protocol

# Set in data_received before uvicorn creates the request task, so the ASGI task inherits it (tasks copy
# the context that is current when they are created).
_transport: contextvars.ContextVar[asyncio.Transport | None] = contextvars.ContextVar(
    "storepipe_woocommerce_transport", default=None
)


class ResettableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, remembering the transport of the request being parsed."""

    def data_received(self, data: bytes) -> None:
        _transport.set(self.transport)  # type: ignore[arg-type]
        super().data_received(data)


def reset_current_connection() -> bool:
    """Abort the current request's TCP connection with an RST (SO_LINGER 1,0 + abort); False if impossible."""
    transport = _transport.get()
    if transport is None or transport.is_closing():
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    return True
