"""Shared plumbing of the emulators' private /_emulator control interface: JSON routing, fault routes, errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from starlette.requests import Request
from starlette.responses import Response

StoreT = TypeVar("StoreT")
Body = dict[str, Any]
# An action gets the store, the JSON body, the path pattern's named groups and the query parameters.
Action = Callable[[StoreT, Body, dict[str, str], dict[str, str]], Any]
# (method, path pattern below /_emulator, action). Bodies and answers are JSON.
ControlRoute = tuple[str, str, Action[StoreT]]


class FaultStore(Protocol):
    """What the fault routes need from a store (see faults.FaultControls)."""

    def set_fault(self, kind: str, **options: Any) -> int: ...

    def clear_faults(self, kind: str | None = None, fault_id: int | None = None) -> int: ...

    def list_faults(self) -> list[dict[str, Any]]: ...


def flag(body: Body, name: str, default: bool) -> bool:
    """Pop a boolean option from a body; anything but true or false is a 400."""
    value = body.pop(name, default)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


def _add_fault(store: FaultStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    kind = body.pop("kind", None)
    if not isinstance(kind, str):
        raise ValueError("a fault needs a 'kind'")
    return {"id": store.set_fault(kind, **body)}


def _clear_faults(store: FaultStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    fault_id = int(match["id"]) if "id" in match else None
    return {"removed": store.clear_faults(query.get("kind"), fault_id)}


def _list_faults(store: FaultStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    return store.list_faults()


FAULT_ROUTES: list[ControlRoute[Any]] = [
    ("GET", r"/faults", _list_faults),
    ("POST", r"/faults", _add_fault),
    ("DELETE", r"/faults", _clear_faults),
    ("DELETE", r"/faults/(?P<id>\d+)", _clear_faults),
]


def answer(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value), status, media_type="application/json")


class ControlDispatcher(Generic[StoreT]):
    """Dispatches /_emulator requests to store actions: 404 for unknown paths (listing the endpoints) and for
    `not_found`, 405 for a known path with another method, 400 for bad input; no authentication."""

    def __init__(self, store: StoreT, routes: Sequence[ControlRoute[StoreT]], not_found: type[Exception]) -> None:
        self.store = store
        self.routes = list(routes)
        self.not_found = not_found
        self._compiled = [
            (method, re.compile(f"^/_emulator{pattern}/?$"), action) for method, pattern, action in self.routes
        ]

    async def handle(self, request: Request) -> Response:
        path, method = request.url.path, request.method.upper()
        known_path = False
        for route_method, pattern, action in self._compiled:
            found = pattern.match(path)
            if found is None:
                continue
            known_path = True
            if route_method != method:
                continue
            try:
                raw = await request.body()
                body = json.loads(raw) if raw.strip() else {}
                if not isinstance(body, dict):
                    raise ValueError("the body must be a JSON object")
                return answer(action(self.store, body, found.groupdict(), dict(request.query_params)))
            except self.not_found as exc:
                return answer({"error": f"not found: {exc}"}, 404)
            except (ValueError, TypeError, KeyError) as exc:
                return answer({"error": str(exc)}, 400)
        if known_path:
            return answer({"error": f"method {method} not allowed"}, 405)
        return answer(
            {"error": "unknown control endpoint", "endpoints": [f"{m} /_emulator{p}" for m, p, _ in self.routes]},
            404,
        )
