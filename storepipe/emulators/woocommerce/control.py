"""Private HTTP control interface under /_emulator/… (clock, order mutations, faults, state) for tests."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from storepipe.emulators.woocommerce.store import NotFound, WooStore

Body = dict[str, Any]
Action = Callable[[WooStore, Body, dict[str, str], dict[str, str]], Any]


def _int(match: dict[str, str], name: str = "id") -> int:
    return int(match[name])


def _flag(body: Body, name: str, default: bool) -> bool:
    value = body.pop(name, default)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


def _create(store: WooStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    return store.create_order(**body)


def _modify(store: WooStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    bump = _flag(body, "bump_modified", True)
    return store.modify_order(_int(match), bump_modified=bump, **body)


def _refund(store: WooStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    bump = _flag(body, "bump_modified", True)
    return store.add_refund(
        _int(match), body.pop("amount", None), body.pop("line_id", None), bump_modified=bump, **body
    )


def _edit_line(store: WooStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    bump = _flag(body, "bump_modified", False)
    return store.edit_line_item(_int(match), _int(match, "line"), bump_modified=bump, **body)


def _delete(store: WooStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    store.delete_order(_int(match))
    return {"deleted": True, "id": _int(match)}


def _add_fault(store: WooStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    kind = body.pop("kind", None)
    if not isinstance(kind, str):
        raise ValueError("a fault needs a 'kind'")
    return {"id": store.set_fault(kind, **body)}


def _clear_faults(store: WooStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    fault_id = int(match["id"]) if "id" in match else None
    return {"removed": store.clear_faults(query.get("kind"), fault_id)}


# (method, path pattern, action). Bodies and answers are JSON.
ROUTES: list[tuple[str, str, Action]] = [
    ("GET", r"/state", lambda s, b, m, q: s.state()),
    (
        "POST",
        r"/time/advance",
        lambda s, b, m, q: {"now_epoch": s.advance_time(**b), "now": s.state()["now"]},
    ),
    ("GET", r"/orders/ids", lambda s, b, m, q: s.order_ids(q.get("status"))),
    ("POST", r"/orders", _create),
    ("GET", r"/orders/(?P<id>\d+)", lambda s, b, m, q: s.get_order(_int(m))),
    ("PATCH", r"/orders/(?P<id>\d+)", _modify),
    ("DELETE", r"/orders/(?P<id>\d+)", _delete),
    ("POST", r"/orders/(?P<id>\d+)/trash", lambda s, b, m, q: s.trash_order(_int(m))),
    ("POST", r"/orders/(?P<id>\d+)/restore", lambda s, b, m, q: s.restore_order(_int(m))),
    ("GET", r"/orders/(?P<id>\d+)/refunds", lambda s, b, m, q: s.get_refunds(_int(m))),
    ("POST", r"/orders/(?P<id>\d+)/refunds", _refund),
    ("PATCH", r"/orders/(?P<id>\d+)/line_items/(?P<line>\d+)", _edit_line),
    ("GET", r"/faults", lambda s, b, m, q: s.list_faults()),
    ("POST", r"/faults", _add_fault),
    ("DELETE", r"/faults", _clear_faults),
    ("DELETE", r"/faults/(?P<id>\d+)", _clear_faults),
]
_COMPILED = [(method, re.compile(f"^/_emulator{pattern}/?$"), action) for method, pattern, action in ROUTES]


def _answer(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value), status, media_type="application/json")


class ControlApi:
    """Dispatches /_emulator requests to WooStore methods; no authentication (bind to localhost)."""

    def __init__(self, store: WooStore) -> None:
        self.store = store

    async def handle(self, request: Request) -> Response:
        path, method = request.url.path, request.method.upper()
        known_path = False
        for route_method, pattern, action in _COMPILED:
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
                return _answer(action(self.store, body, found.groupdict(), dict(request.query_params)))
            except NotFound as exc:
                return _answer({"error": f"not found: {exc}"}, 404)
            except (ValueError, TypeError, KeyError) as exc:
                return _answer({"error": str(exc)}, 400)
        if known_path:
            return _answer({"error": f"method {method} not allowed"}, 405)
        return _answer(
            {"error": "unknown control endpoint", "endpoints": [f"{m} /_emulator{p}" for m, p, _ in ROUTES]},
            404,
        )
