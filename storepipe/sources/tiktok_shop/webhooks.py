"""TikTok Shop webhooks: what a notification is about, and applying notifications by refetching what changed.

Notifications are thin (`{type, tts_notification_id, shop_id, timestamp, data}` with ids and a status [C2]), so
applying one means asking the API for the current record: orders by id (<= 50 a call), the returns and
cancellations of those orders, product details one by one. The answers go into raw exactly as an import
writes them (same row builder, monotonic on update_time), so a late or repeated notification changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa

from storepipe.shops import Shop
from storepipe.sources.tiktok_shop.client import TikTokClient
from storepipe.sources.tiktok_shop.streams import CANCELLATIONS, ORDERS, PRODUCT_DETAILS, RETURNS, Listing, field_at
from storepipe.sources.tiktok_shop.sync import _raw_row
from storepipe.warehouse.tables import tiktok_shop_raw
from storepipe.webhooks.apply import write_raw
from storepipe.webhooks.inbox import Delivery, Envelope

# Event type codes [C2: LD EventType.php; 1–7, 12 also EP].
TYPES = {
    1: "ORDER_STATUS_CHANGE", 2: "REVERSE_STATUS_UPDATE", 3: "RECIPIENT_ADDRESS_UPDATE", 4: "PACKAGE_UPDATE",
    5: "PRODUCT_STATUS_CHANGE", 6: "SELLER_DEAUTHORIZATION", 7: "UPCOMING_AUTHORIZATION_EXPIRATION",
    11: "CANCELLATION_STATUS_CHANGE", 12: "RETURN_STATUS_CHANGE", 13: "NEW_CONVERSATION", 14: "NEW_MESSAGE",
    15: "PRODUCT_INFORMATION_CHANGE", 16: "PRODUCT_CREATION", 21: "INBOUND_FBT_ORDER_STATUS_CHANGE",
}  # fmt: skip
ORDER_TYPES = frozenset({1, 2, 3, 4, 11, 12})  # data names an order (4: order_id_list)
PRODUCT_TYPES = frozenset({5, 15, 16})
ORDER_DETAIL_PATH = "/order/202309/orders"
ORDERS_PER_CALL = 50  # GET /order/202309/orders?ids= takes at most 50 ids [C2]
SEARCH_PAGE = 50  # returns and cancellations search: page_size 10–50 [C2]


def describe(payload: Any) -> Envelope | str:
    """The notification's envelope, or why the body is not a TikTok notification."""
    if not isinstance(payload, dict):
        return "body is not a JSON object"
    notification, kind = payload.get("tts_notification_id"), payload.get("type")
    if not isinstance(notification, str | int) or isinstance(notification, bool) or str(notification) == "":
        return "no tts_notification_id"
    if not isinstance(kind, int) or isinstance(kind, bool):
        return "no integer type"
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    resource = next((data[k] for k in ("order_id", "product_id", "return_id", "package_id") if data.get(k)), None)
    applies = kind in ORDER_TYPES or kind in PRODUCT_TYPES
    return Envelope(
        TYPES.get(kind, f"TYPE_{kind}"), str(notification)[:200], str(resource) if resource else None, applies
    )


def _ids(deliveries: list[Delivery]) -> tuple[set[str], set[str], set[str], set[str]]:
    """Order ids, orders with a return event, orders with a cancellation event, product ids."""
    orders: set[str] = set()
    returns: set[str] = set()
    cancellations: set[str] = set()
    products: set[str] = set()
    for delivery in deliveries:
        body = delivery.payload if isinstance(delivery.payload, dict) else {}
        kind, data = body.get("type"), body.get("data") if isinstance(body.get("data"), dict) else {}
        if kind in ORDER_TYPES:
            named = [data.get("order_id"), *(data.get("order_id_list") or [])]
            found = {str(i) for i in named if isinstance(i, str | int) and str(i)}
            orders |= found
            if kind in (2, 12):
                returns |= found
            if kind == 11:
                cancellations |= found
        elif kind in PRODUCT_TYPES and data.get("product_id"):
            products.add(str(data["product_id"]))
    return orders, returns, cancellations, products


def _chunks(ids: set[str], size: int) -> Iterator[list[str]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def _search(client: TikTokClient, listing: Listing, order_ids: list[str]) -> list[dict[str, Any]]:
    """Every record of a search listing (returns, cancellations) for these orders, page by page."""
    records: list[dict[str, Any]] = []
    token = ""
    while True:
        query: dict[str, Any] = {**dict(listing.sort), "page_size": SEARCH_PAGE, "page_token": token}
        data = client.call(listing.method, listing.path, query, {"order_ids": order_ids}, api=listing.api)
        records += field_at(data, listing.list_key or "") or []
        token = str(data.get("next_page_token") or "")
        if not token:
            return records


def refetch(client: TikTokClient, deliveries: list[Delivery]) -> dict[str, list[dict[str, Any]]]:
    """The current records behind the notifications, per raw entity."""
    orders, returns, cancellations, products = _ids(deliveries)
    fetched: dict[str, list[dict[str, Any]]] = {ORDERS.name: [], RETURNS.name: [], CANCELLATIONS.name: []}
    for chunk in _chunks(orders, ORDERS_PER_CALL):
        data = client.call("GET", ORDER_DETAIL_PATH, {"ids": ",".join(chunk)}, api=ORDER_DETAIL_PATH)
        fetched[ORDERS.name] += data.get("orders") or []
    for listing, wanted in ((RETURNS, returns), (CANCELLATIONS, cancellations)):
        for chunk in _chunks(wanted, SEARCH_PAGE):
            fetched[listing.name] += _search(client, listing, chunk)
    fetched[PRODUCT_DETAILS.name] = [
        client.call("GET", PRODUCT_DETAILS.path.format(id=pid), api=PRODUCT_DETAILS.api) for pid in sorted(products)
    ]
    return fetched


def apply_deliveries(
    engine: sa.Engine, shop: Shop, deliveries: list[Delivery], run_id: str | None = None
) -> dict[str, int]:
    """Refetch what the notifications name and upsert it into raw; figures for the model's metadata."""
    client = TikTokClient(shop)
    try:
        fetched = refetch(client, deliveries)
        requests = client.requests_sent
    finally:
        client.close()
    listings = {listing.name: listing for listing in (ORDERS, RETURNS, CANCELLATIONS, PRODUCT_DETAILS)}
    written = 0
    with engine.begin() as conn:
        for name, records in fetched.items():
            listing = listings[name]
            rows, bad = [], []
            for record in records:
                row = _raw_row(shop, listing, record, None) if isinstance(record, dict) else "not an object"
                if isinstance(row, str):
                    source = listing.record_id(record) if isinstance(record, dict) else None
                    bad.append((record, row, source or "?"))
                else:
                    rows.append(row)
            table = tiktok_shop_raw[name]
            written += write_raw(conn, shop, name, table, rows, bad, version="modified_at", run_id=run_id).written
    return {
        "webhook_records_written": written,
        "webhook_orders_refetched": len(fetched[ORDERS.name]),
        "webhook_products_refetched": len(fetched[PRODUCT_DETAILS.name]),
        "webhook_api_requests": requests,
    }


def apply_inbox_run(
    engine: sa.Engine, shop: Shop, *, run_id: str, report: Callable[[str], None]
) -> dict[str, int | float | str | None]:
    """The model step of a tiktok_shop_webhook_apply run."""
    from storepipe.sources.tiktok_shop.model import map_shop
    from storepipe.webhooks.apply import apply_inbox

    return apply_inbox(engine, shop, map_shop, apply_deliveries, run_id=run_id, report=report)
