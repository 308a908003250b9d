"""Private HTTP control interface under /_emulator/… (clock, tokens, order mutations, faults, state)."""

from __future__ import annotations

from typing import Any

from storepipe.emulators.control import FAULT_ROUTES, Body, ControlDispatcher, ControlRoute, flag
from storepipe.emulators.tiktok_shop.store import NotFound, TikTokStore
from storepipe.emulators.webhooks import WEBHOOK_ROUTES


def _modify(store: TikTokStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    bump = flag(body, "bump_update", True)
    return store.modify_order(match["id"], bump_update=bump, **body)


def _advance(store: TikTokStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    now = store.advance_time(**body)
    return {"now_epoch": now, "now": store.state()["now"]}


# (method, path pattern, action). Bodies and answers are JSON.
ROUTES: list[ControlRoute[TikTokStore]] = [
    ("GET", r"/state", lambda s, b, m, q: s.state()),
    ("POST", r"/time/advance", _advance),
    ("POST", r"/auth_codes", lambda s, b, m, q: {"auth_code": s.issue_auth_code()}),
    ("POST", r"/authorize", lambda s, b, m, q: s.authorize()),
    ("GET", r"/orders/ids", lambda s, b, m, q: s.order_ids()),
    ("POST", r"/orders", lambda s, b, m, q: s.create_order(**b)),
    ("GET", r"/orders/(?P<id>\d+)", lambda s, b, m, q: s.get_order(m["id"])),
    ("PATCH", r"/orders/(?P<id>\d+)", _modify),
    ("POST", r"/orders/(?P<id>\d+)/cancel", lambda s, b, m, q: s.cancel_order(m["id"], **b)),
    *FAULT_ROUTES,
    *WEBHOOK_ROUTES,
]


class ControlApi(ControlDispatcher[TikTokStore]):
    """Dispatches /_emulator requests to TikTokStore methods; no authentication (bind to localhost)."""

    def __init__(self, store: TikTokStore) -> None:
        super().__init__(store, ROUTES, NotFound)
