"""The cheap late-statement check: one statements call over 35 days, compared with raw.tiktok_shop_statements."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from storepipe.http import RetryPolicy
from storepipe.shops import Shop
from storepipe.sources.tiktok_shop.client import TikTokClient
from storepipe.sources.tiktok_shop.streams import STATEMENTS
from storepipe.warehouse.tables import tiktok_shop_raw

DAY = 86400
WINDOW_DAYS = STATEMENTS.lookback_days or 35  # what every incremental sync re-reads (statements are daily)
# What a late settlement or a payout changes in a statement. Ids, times and currency never change.
FINGERPRINT = (
    "payment_status",
    "payment_id",
    "settlement_amount",
    "revenue_amount",
    "fee_amount",
    "adjustment_amount",
    "shipping_cost_amount",
    "net_sales_amount",
)
# A check is a convenience, not a sync: give up quickly and try again at the next tick.
CHECK_RETRY = RetryPolicy(max_attempts=2, base_delay=0.5, max_delay=5.0, deadline=20.0)


@dataclass(frozen=True)
class StatementChanges:
    """Statements the API has and the warehouse does not (new) or holds in another version (changed)."""

    new: list[str]
    changed: list[str]

    def __bool__(self) -> bool:
        return bool(self.new or self.changed)

    @property
    def digest(self) -> str:
        """Names this set of differences: the same differences seen twice are one run request (its run key)."""
        return hashlib.sha256(orjson.dumps([self.new, self.changed])).hexdigest()[:16]


def fingerprint(statement: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps([str(statement.get(f) or "") for f in FINGERPRINT])).hexdigest()


def api_statements(client: TikTokClient, *, days: int = WINDOW_DAYS) -> tuple[int, dict[str, str]]:
    """The window's start (server time) and id -> fingerprint of its statements; one page holds them all (<= 36)."""
    client.authorized_shop()  # the shop cipher, and the server's clock from the answer's Date header
    now = int(client.clock.now())
    start = now - now % DAY - (days - 1) * DAY  # statements are issued at 00:00 UTC, one a day
    query: dict[str, Any] = dict(STATEMENTS.sort) | {
        "statement_time_ge": start,
        "statement_time_lt": now + 1,
        "page_size": 100,
    }
    found: dict[str, str] = {}
    while True:  # one page in practice; follow the cursor anyway rather than miss a statement
        data = client.call("GET", STATEMENTS.path, query, api=STATEMENTS.api)
        for statement in data.get(STATEMENTS.list_key or "") or []:
            found[str(statement["id"])] = fingerprint(statement)
        token = data.get("next_page_token")
        if not token:
            return start, found
        query["page_token"] = token


def stored_statements(engine: sa.Engine, shop_key: str, start: int) -> dict[str, str]:
    table = tiktok_shop_raw["statements"]
    statement_time = table.c.payload["statement_time"].as_integer()
    query = sa.select(table.c.id, table.c.payload).where(
        table.c.shop_key == shop_key, table.c.deleted_at.is_(None), statement_time >= start
    )
    with engine.connect() as conn:
        return {row.id: fingerprint(row.payload) for row in conn.execute(query)}


def statement_changes(engine: sa.Engine, shop: Shop, *, client: TikTokClient | None = None) -> StatementChanges:
    """Compare the API's statements of the last 35 days with the warehouse's (two requests, one query)."""
    own = client is None
    client = client or TikTokClient(shop, concurrency=1, retry=CHECK_RETRY)
    try:
        start, served = api_statements(client)
    finally:
        if own:
            client.close()
    stored = stored_statements(engine, shop.key, start)
    return StatementChanges(
        new=sorted(set(served) - set(stored)),
        changed=sorted(k for k in served.keys() & stored.keys() if served[k] != stored[k]),
    )
