"""Private HTTP control interface under /_emulator/… (clock, order mutations, faults, state) for tests."""

from __future__ import annotations

from typing import Any

from storepipe.emulators.control import FAULT_ROUTES, Action, Body, ControlDispatcher, ControlRoute, flag
from storepipe.emulators.webhooks import WEBHOOK_ROUTES
from storepipe.emulators.woocommerce.store import NotFound, WooStore


def _int(match: dict[str, str], name: str = "id") -> int:
    return int(match[name])


def _create(store: WooStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    return store.create_order(**body)


def _modify(store: WooStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    bump = flag(body, "bump_modified", True)
    return store.modify_order(_int(match), bump_modified=bump, **body)


def _refund(store: WooStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    bump = flag(body, "bump_modified", True)
    return store.add_refund(
        _int(match), body.pop("amount", None), body.pop("line_id", None), bump_modified=bump, **body
    )


def _edit_line(store: WooStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    bump = flag(body, "bump_modified", False)
    return store.edit_line_item(_int(match), _int(match, "line"), bump_modified=bump, **body)


def _delete(store: WooStore, body: Body, match: dict[str, str], query: dict[str, str]) -> Any:
    store.delete_order(_int(match))
    return {"deleted": True, "id": _int(match)}


def _updater(resource: str) -> Action[WooStore]:
    return lambda s, b, m, q: s.update_resource(resource, _int(m), **b)


def _deleter(resource: str) -> Action[WooStore]:
    return lambda s, b, m, q: s.delete_resource(resource, _int(m))


# (method, path pattern, action). Bodies and answers are JSON.
ROUTES: list[ControlRoute[WooStore]] = [
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
    ("POST", r"/customers", lambda s, b, m, q: s.create_customer(**b)),
    ("POST", r"/products", lambda s, b, m, q: s.create_product(**b)),
    ("POST", r"/coupons", lambda s, b, m, q: s.create_coupon(**b)),
    *[
        route
        for resource in ("customer", "product", "coupon")
        for route in (
            ("PATCH", rf"/{resource}s/(?P<id>\d+)", _updater(resource)),
            ("DELETE", rf"/{resource}s/(?P<id>\d+)", _deleter(resource)),
        )
    ],
    *FAULT_ROUTES,
    *WEBHOOK_ROUTES,
]


class ControlApi(ControlDispatcher[WooStore]):
    """Dispatches /_emulator requests to WooStore methods; no authentication (bind to localhost)."""

    def __init__(self, store: WooStore) -> None:
        super().__init__(store, ROUTES, NotFound)
