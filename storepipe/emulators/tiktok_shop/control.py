"""Private HTTP control interface under /_emulator/… (clock, tokens, order mutations, faults, state)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from storepipe.emulators.tiktok_shop.store import NotFound, TikTokStore

Body = dict[str, Any]
Action = Callable[[TikTokStore, Body, dict[str, str], dict[str, str]], Any]


def _add_fault(store: TikTokStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    kind = body.pop("kind", None)
    if not isinstance(kind, str):
        raise ValueError("a fault needs a 'kind'")
    return {"id": store.set_fault(kind, **body)}


def _clear_faults(store: TikTokStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    fault_id = int(match["id"]) if "id" in match else None
    return {"removed": store.clear_faults(query.get("kind"), fault_id)}


def _modify(store: TikTokStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    bump = body.pop("bump_update", True)
    if not isinstance(bump, bool):
        raise ValueError("bump_update must be true or false")
    return store.modify_order(match["id"], bump_update=bump, **body)


def _advance(store: TikTokStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    now = store.advance_time(**body)
    return {"now_epoch": now, "now": store.state()["now"]}


# (method, path pattern, action). Bodies and answers are JSON.
ROUTES: list[tuple[str, str, Action]] = [
    ("GET", r"/state", lambda s, b, m, q: s.state()),
    ("POST", r"/time/advance", _advance),
    ("POST", r"/auth_codes", lambda s, b, m, q: {"auth_code": s.issue_auth_code()}),
    ("POST", r"/authorize", lambda s, b, m, q: s.authorize()),
    ("GET", r"/orders/ids", lambda s, b, m, q: s.order_ids()),
    ("POST", r"/orders", lambda s, b, m, q: s.create_order(**b)),
    ("GET", r"/orders/(?P<id>\d+)", lambda s, b, m, q: s.get_order(m["id"])),
    ("PATCH", r"/orders/(?P<id>\d+)", _modify),
    ("POST", r"/orders/(?P<id>\d+)/cancel", lambda s, b, m, q: s.cancel_order(m["id"], **b)),
    ("GET", r"/faults", lambda s, b, m, q: s.list_faults()),
    ("POST", r"/faults", _add_fault),
    ("DELETE", r"/faults", _clear_faults),
    ("DELETE", r"/faults/(?P<id>\d+)", _clear_faults),
]
_COMPILED = [(method, re.compile(f"^/_emulator{pattern}/?$"), action) for method, pattern, action in ROUTES]


def _answer(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value), status, media_type="application/json")


class ControlApi:
    """Dispatches /_emulator requests to TikTokStore methods; no authentication (bind to localhost)."""

    def __init__(self, store: TikTokStore) -> None:
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
