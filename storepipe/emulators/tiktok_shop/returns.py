"""Return/refund requests and cancellations (return_refund v202309), derived from order timelines at the clock."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any

from storepipe.emulators.tiktok_shop.config import DAY
from storepipe.emulators.tiktok_shop.data import CENT, ZERO, Line, Order, money
from storepipe.emulators.tiktok_shop.errors import bad_request
from storepipe.emulators.tiktok_shop.paging import (
    in_window,
    keyset_page,
    page_size_param,
    time_bounds,
    time_sort_params,
)
from storepipe.emulators.tiktok_shop.render import happened, is_cancelled

if TYPE_CHECKING:
    from storepipe.emulators.tiktok_shop.store import TikTokStore

# Ids are numeric strings like every TikTok id [C2]; deriving them from the order / line id keeps them unique.
RETURN_ID_OFFSET = 3_500_000_000_000_000_000
CANCEL_ID_OFFSET = 2_000_000_000_000_000_000

PENDING = "RETURN_OR_REFUND_REQUEST_PENDING"
REJECTED = "REFUND_OR_RETURN_REQUEST_REJECT"
AWAITING_BUYER_SHIP = "AWAITING_BUYER_SHIP"
BUYER_SHIPPED = "BUYER_SHIPPED_ITEM"
REJECT_PACKAGE = "REJECT_RECEIVE_PACKAGE"
SUCCESS = "RETURN_OR_REFUND_REQUEST_SUCCESS"
CANCELLED = "RETURN_OR_REFUND_REQUEST_CANCEL"
COMPLETE = "RETURN_OR_REFUND_REQUEST_COMPLETE"
AWAITING_BUYER_RESPONSE = "AWAITING_BUYER_RESPONSE"
RETURN_STATUSES = (
    PENDING, REJECTED, AWAITING_BUYER_SHIP, BUYER_SHIPPED, REJECT_PACKAGE, SUCCESS, CANCELLED, COMPLETE,
    AWAITING_BUYER_RESPONSE,
)  # fmt: skip
RETURN_TYPES = ("REFUND", "RETURN_AND_REFUND", "REPLACEMENT")  # REPLACEMENT is never generated
CANCEL_TYPES = ("CANCEL", "BUYER_CANCEL")
CANCEL_STATUSES = (
    "CANCELLATION_REQUEST_PENDING", "CANCELLATION_REQUEST_SUCCESS", "CANCELLATION_REQUEST_CANCEL",
    "CANCELLATION_REQUEST_COMPLETE",
)  # fmt: skip
# (reason key, text) [INF: the fact sheet names return_reason only; the keys imitate the platform's style].
_REASONS = [
    ("ecom_order_delivered_refund_and_return_reason_damaged", "Damaged product"),
    ("ecom_order_delivered_refund_and_return_reason_wrong_item", "Wrong item delivered"),
    ("ecom_order_delivered_refund_and_return_reason_not_as_described", "Product doesn't match description"),
    ("ecom_order_delivered_refund_and_return_reason_size", "Size doesn't fit"),
    ("ecom_order_delivered_refund_reason_missing_item", "Missing items or parts"),
]


@dataclass(frozen=True)
class Refund:
    """Refunded money; refund_total is by construction the sum of the parts (buyer_service_fee is never charged)."""

    subtotal: Decimal = ZERO
    shipping_fee: Decimal = ZERO
    tax: Decimal = ZERO
    retail_delivery_fee: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.shipping_fee + self.tax + self.retail_delivery_fee

    def __add__(self, other: Refund) -> Refund:
        return Refund(
            self.subtotal + other.subtotal,
            self.shipping_fee + other.shipping_fee,
            self.tax + other.tax,
            self.retail_delivery_fee + other.retail_delivery_fee,
        )

    def render(self, currency: str) -> dict[str, str]:
        return {
            "currency": currency,
            "refund_total": money(self.total),
            "refund_subtotal": money(self.subtotal),
            "refund_shipping_fee": money(self.shipping_fee),
            "refund_tax": money(self.tax),
            "retail_delivery_fee": money(self.retail_delivery_fee),
            "buyer_service_fee": "0.00",
        }


def _share(amount: Decimal, percent: int) -> Decimal:
    """A percentage of an amount, rounded down so a partial refund never exceeds what was paid."""
    return (amount * percent / 100).quantize(CENT, rounding=ROUND_DOWN)


def _shipping_paid(order: Order) -> Refund:
    """What the buyer paid for shipping (fee and its tax) and the retail delivery fee."""
    fee = order.original_shipping_fee - order.shipping_fee_seller_discount - order.shipping_fee_platform_discount
    return Refund(shipping_fee=fee, tax=order.shipping_fee_tax, retail_delivery_fee=order.retail_delivery_fee)


def _line_refund(line: Line, percent: int = 100) -> Refund:
    return Refund(subtotal=_share(line.sale_price, percent), tax=_share(line.tax, percent))


def _sum(refunds: list[Refund]) -> Refund:
    return sum(refunds, Refund())


@dataclass
class ReturnPlan:
    """One order's return request as a timeline: (instant, status) events, the first one opening the request."""

    return_id: str
    order: Order
    return_type: str
    reason: tuple[str, str]
    events: list[tuple[int, str]]
    lines: list[tuple[Line, Refund]]
    shipping: Refund = field(default_factory=Refund)

    @property
    def create_time(self) -> int:
        return self.events[0][0]

    def visible(self, now: int) -> bool:
        # An order cancelled through the control API (only possible before collection) never gets its return.
        return self.create_time <= now and self.order.cancel_time is None

    def render(self, now: int, currency: str) -> dict[str, Any]:
        update_time, status = [event for event in self.events if event[0] <= now][-1]
        refund = _sum([refund for _, refund in self.lines]) + self.shipping
        return {
            "return_id": self.return_id,
            "order_id": self.order.id,
            "return_type": self.return_type,
            "return_status": status,
            "arbitration_status": "",  # [INF] arbitration is not modelled
            "role": "BUYER",
            "return_reason": self.reason[0],
            "return_reason_text": self.reason[1],
            "create_time": self.create_time,
            "update_time": update_time,
            "refund_amount": refund.render(currency),
            # [INF] the fact sheet names these two lists without their element structure: left empty.
            "discount_amount": [],
            "shipping_fee_amount": [],
            "return_line_items": [
                {
                    "return_line_item_id": str(int(line.id) + RETURN_ID_OFFSET),
                    "order_line_item_id": line.id,
                    "sku_id": line.sku_id,
                    "seller_sku": line.seller_sku or "",
                    "product_name": line.product_name,
                    "sku_name": line.sku_name,
                    "refund_amount": line_refund.render(currency),
                }
                for line, line_refund in self.lines
            ],
        }


def plan_return(seed: int, rate: float, order: Order) -> ReturnPlan | None:
    """The order's return request, if its buyer opens one; decided by (seed, order id) alone.

    Status flows follow the fact sheet's status list; the transitions between them are [INF]:
    REFUND: PENDING → (AWAITING_BUYER_RESPONSE for a seller's partial offer) → SUCCESS → COMPLETE;
    RETURN_AND_REFUND: PENDING → AWAITING_BUYER_SHIP → BUYER_SHIPPED_ITEM → SUCCESS → COMPLETE
    (or REJECT_RECEIVE_PACKAGE); either may be rejected while pending or cancelled by the buyer.
    [INF] Refunds are not netted out of the order's statement transaction or unsettled estimate (the docs say an
    order settles with "no return/refund ongoing", but not how refunds then appear in statements)."""
    if order.delivery_time is None or order.cancel_time is not None or not order.lines:
        return None
    rng = random.Random(f"{seed}:return:{order.id}")
    if rng.random() >= rate:
        return None
    refund_only = rng.random() < 0.45
    picked = set(rng.sample(range(len(order.lines)), rng.randint(1, len(order.lines))))
    chosen = [line for index, line in enumerate(order.lines) if index in picked]
    partial = refund_only and rng.random() < 0.3
    percent = rng.choice([20, 30, 50]) if partial else 100
    shipping = Refund()
    if not partial and len(chosen) == len(order.lines) and rng.random() < 0.5:
        # [INF] a whole-order refund may give back the shipping fee and its tax; the retail delivery fee stays.
        paid = _shipping_paid(order)
        shipping = Refund(shipping_fee=paid.shipping_fee, tax=paid.tax)
    instant = order.delivery_time + rng.randint(2 * 3600, 12 * DAY)
    events = [(instant, PENDING)]

    def step(low: int, high: int, status: str) -> None:
        nonlocal instant
        instant += rng.randint(low, high)
        events.append((instant, status))

    outcome = rng.random()
    if outcome < 0.1:
        step(3600, 2 * DAY, REJECTED)
    elif outcome < 0.18:
        step(600, DAY, CANCELLED)
    elif refund_only:
        if partial:
            step(3600, DAY, AWAITING_BUYER_RESPONSE)
        step(600, 2 * DAY, SUCCESS)
        step(3600, 3 * DAY, COMPLETE)
    else:
        step(600, 2 * DAY, AWAITING_BUYER_SHIP)
        if outcome < 0.25:
            step(DAY, 5 * DAY, CANCELLED)  # the buyer never ships the item back
        else:
            step(3600, 5 * DAY, BUYER_SHIPPED)
            if outcome < 0.3:
                step(2 * DAY, 7 * DAY, REJECT_PACKAGE)
            else:
                step(2 * DAY, 7 * DAY, SUCCESS)
                step(3600, 2 * DAY, COMPLETE)
    return ReturnPlan(
        return_id=str(int(order.id) + RETURN_ID_OFFSET),
        order=order,
        return_type="REFUND" if refund_only else "RETURN_AND_REFUND",
        reason=rng.choice(_REASONS),
        events=events,
        lines=[(line, _line_refund(line, percent)) for line in chosen],
        shipping=shipping,
    )


def render_cancellation(order: Order, currency: str) -> dict[str, Any]:
    """A cancelled order's cancellation record. [INF] Only completed cancellations are modelled (created and updated
    at the order's cancel_time), so the list covers exactly the CANCELLED orders; a paid order gets everything back."""
    cancel_time = order.cancel_time if order.cancel_time is not None else 0
    paid = happened(order, order.paid_time, cancel_time - 1)
    lines = [(line, _line_refund(line) if paid else Refund()) for line in order.lines]
    refund = _sum([refund for _, refund in lines]) + (_shipping_paid(order) if paid else Refund())
    return {
        "cancel_id": str(int(order.id) + CANCEL_ID_OFFSET),
        "order_id": order.id,
        # [INF] cancel_type BUYER_CANCEL for buyer requests, CANCEL for seller and system cancellations.
        "cancel_type": "BUYER_CANCEL" if order.cancellation_initiator == "BUYER" else "CANCEL",
        "cancel_status": "CANCELLATION_REQUEST_COMPLETE",
        "role": order.cancellation_initiator,
        "cancel_reason": order.cancel_reason,
        "cancel_reason_text": order.cancel_reason,
        "create_time": cancel_time,
        "update_time": cancel_time,
        "should_replenish_stock": True,
        "seller_next_action_response": [],
        "refund_amount": refund.render(currency),
        "cancel_line_items": [
            {
                "cancel_line_item_id": str(int(line.id) + CANCEL_ID_OFFSET),
                "order_line_item_id": line.id,
                "sku_id": line.sku_id,
                "seller_sku": line.seller_sku or "",
                "product_name": line.product_name,
                "sku_name": line.sku_name,
                "product_image": {"url": line.sku_image, "width": 200, "height": 200},
                "refund_amount": line_refund.render(currency),
            }
            for line, line_refund in lines
        ],
    }


def _id_filter(body: Mapping[str, Any], name: str, allowed: tuple[str, ...] | None = None) -> set[str] | None:
    values = body.get(name)
    if values is None:
        return None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise bad_request(f"{name} must be a list of strings.")
    if allowed is not None and not set(values) <= set(allowed):
        raise bad_request(f"{name} holds an unknown value.")
    return set(values)


def _search(
    records: list[dict[str, Any]],
    query: Mapping[str, str],
    body: Mapping[str, Any],
    list_key: str,
    id_key: str,
    sets: dict[str, set[str] | None],
) -> dict[str, Any]:
    """Filter, sort and page records: page_size 10–50 (default 10), sort create_time|update_time, default ASC [C2 for
    returns; INF: the same rules for cancellations]."""
    size = page_size_param(query, default=10, low=10, high=50)
    sort_field, sort_order = time_sort_params(query, "ASC")  # [INF] the default sort_field is not documented
    bounds = time_bounds(body)
    rows = [
        record
        for record in records
        if in_window(record["create_time"], record["update_time"], bounds)
        and all(wanted is None or record[key] in wanted for key, wanted in sets.items())
    ]
    descending = sort_order == "DESC"

    def key(record: dict[str, Any]) -> tuple[int, int]:
        return record[sort_field], int(record[id_key])

    rows.sort(key=key, reverse=descending)
    token = query.get("page_token") or ""
    page, next_token = keyset_page(rows, key, size, token, (sort_field, sort_order), descending)
    return {list_key: page, "total_count": len(rows), "next_page_token": next_token}


class ReturnDesk:
    """The return_refund endpoints over the store's orders at the current emulator clock."""

    def __init__(self, store: TikTokStore) -> None:
        self.store = store
        self._plans: dict[str, ReturnPlan | None] = {}
        # Rendered records per listing, for one (clock, generation): paging a large shop then costs a filter
        # per page instead of rendering every order again (which made the emulator, not the client, the limit).
        self._rendered: dict[str, tuple[tuple[int, int], list[dict[str, Any]]]] = {}

    def _records(self, kind: str, render: Callable[[int, str], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """Call with the store's lock held."""
        key = (self.store.now, self.store.generation)
        cached = self._rendered.get(kind)
        if cached is None or cached[0] != key:
            cached = (key, render(self.store.now, self.store.config.currency))
            self._rendered[kind] = cached
        return cached[1]

    def _render_returns(self, now: int, currency: str) -> list[dict[str, Any]]:
        plans = [self.plan(order) for order in self.store.orders]
        return [plan.render(now, currency) for plan in plans if plan is not None and plan.visible(now)]

    def _render_cancellations(self, now: int, currency: str) -> list[dict[str, Any]]:
        return [render_cancellation(order, currency) for order in self.store.orders if is_cancelled(order, now)]

    def plan(self, order: Order) -> ReturnPlan | None:
        if order.id not in self._plans:
            cfg = self.store.config
            self._plans[order.id] = plan_return(cfg.seed, cfg.return_rate, order)
        return self._plans[order.id]

    def search_returns(self, query: Mapping[str, str], body: Mapping[str, Any]) -> dict[str, Any]:
        sets = {
            "return_id": _id_filter(body, "return_ids"),
            "order_id": _id_filter(body, "order_ids"),
            "return_type": _id_filter(body, "return_types", RETURN_TYPES),
            "return_status": _id_filter(body, "return_status", RETURN_STATUSES),
        }
        with self.store.lock:
            records = self._records("returns", self._render_returns)
        return _search(records, query, body, "return_orders", "return_id", sets)

    def search_cancellations(self, query: Mapping[str, str], body: Mapping[str, Any]) -> dict[str, Any]:
        sets = {
            "cancel_id": _id_filter(body, "cancel_ids"),
            "order_id": _id_filter(body, "order_ids"),
            "cancel_type": _id_filter(body, "cancel_types", CANCEL_TYPES),
            "cancel_status": _id_filter(body, "cancel_status", CANCEL_STATUSES),
        }
        with self.store.lock:
            records = self._records("cancellations", self._render_cancellations)
        return _search(records, query, body, "cancellations", "cancel_id", sets)
