"""Fill the TikTok raw tables straight from an in-process emulator, as the importer would, without HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from storepipe.emulators.tiktok_shop.store import TikTokStore
from storepipe.warehouse.tables import tiktok_shop_raw
from storepipe.warehouse.upsert import bulk_upsert

COLUMNS = ("shop_key", "id", "parent_id", "modified_at", "payload", "fetched_at", "deleted_at")
Page = Callable[[dict[str, str]], dict[str, Any]]


def pages(read: Page, query: dict[str, str], list_key: str) -> Iterator[dict[str, Any]]:
    """Every record of a cursor-paged listing, following next_page_token until it is empty."""
    token = ""
    while True:
        data = read(dict(query, page_token=token) if token else dict(query))
        yield from data[list_key]
        token = data.get("next_page_token") or ""
        if not token:
            return


def _epoch(value: object) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if isinstance(value, int | str) and str(value).isdigit() else None


def write_raw(
    engine: sa.Engine,
    shop_key: str,
    entity: str,
    records: Iterable[dict[str, Any]],
    *,
    id_key: str = "id",
    parent_id: str | None = None,
    fetched_at: datetime | None = None,
) -> int:
    """Upsert payloads into raw.tiktok_shop_<entity>; modified_at = the record's update_time when it has one."""
    fetched = fetched_at or datetime.now(UTC)
    rows = [
        (shop_key, str(r[id_key]), parent_id, _epoch(r.get("update_time")), json.dumps(r), fetched, None)
        for r in records
    ]
    with engine.begin() as conn:
        result = bulk_upsert(
            conn, tiktok_shop_raw[entity], rows, columns=COLUMNS, key=("shop_key", "id"), version="modified_at"
        )
    return result.written


def load_store(
    engine: sa.Engine, shop_key: str, store: TikTokStore, *, fetched_at: datetime | None = None
) -> dict[str, int]:
    """Import everything the emulator serves at its current clock; returns the rows written per entity."""
    when = {"fetched_at": fetched_at}
    products = list(pages(lambda q: store.search_products(q, {}), {"page_size": "100"}, "products"))
    written = {"products": write_raw(engine, shop_key, "products", products, **when)}
    details = [store.get_product(p["id"]) for p in products]
    written["product_details"] = write_raw(engine, shop_key, "product_details", details, **when)
    orders = pages(lambda q: store.search_orders(q, {}), {"page_size": "100"}, "orders")
    written["orders"] = write_raw(engine, shop_key, "orders", orders, **when)
    statements = list(
        pages(store.ledger.statements, {"page_size": "100", "sort_field": "statement_time"}, "statements")
    )
    written["statements"] = write_raw(engine, shop_key, "statements", statements, **when)
    written["statement_transactions"] = 0
    for statement in statements:
        sid = statement["id"]
        transactions = pages(
            lambda q, sid=sid: store.ledger.statement_transactions(sid, q),
            {"page_size": "100", "sort_field": "order_create_time"},
            "statement_transactions",
        )
        written["statement_transactions"] += write_raw(
            engine, shop_key, "statement_transactions", transactions, parent_id=sid, **when
        )
    unsettled = pages(store.ledger.unsettled, {"page_size": "100", "sort_field": "order_create_time"}, "transactions")
    written["unsettled_transactions"] = write_raw(engine, shop_key, "unsettled_transactions", unsettled, **when)
    returns = pages(lambda q: store.returns.search_returns(q, {}), {"page_size": "50"}, "return_orders")
    written["returns"] = write_raw(engine, shop_key, "returns", returns, id_key="return_id", **when)
    cancellations = pages(lambda q: store.returns.search_cancellations(q, {}), {"page_size": "50"}, "cancellations")
    written["cancellations"] = write_raw(engine, shop_key, "cancellations", cancellations, id_key="cancel_id", **when)
    return written
