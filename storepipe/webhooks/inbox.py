"""ops.webhook_inbox: record verified deliveries, claim them for a run, mark them applied, report the backlog."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from storepipe.warehouse.tables import webhook_inbox as inbox

# A delivery that made this many runs fail is set aside as `failed` instead of being claimed again: one bad
# delivery must not block the shop's inbox forever (it stays visible, with its error, for an operator).
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Delivery:
    """One claimed inbox row, as a lane's apply_deliveries receives it."""

    id: int
    topic: str
    delivery_id: str
    resource_id: str | None
    payload: Any


@dataclass(frozen=True)
class Envelope:
    """What the inbox stores about a delivery besides its body; each lane's `describe` builds it."""

    topic: str
    delivery_id: str
    resource_id: str | None
    applies: bool  # False: stored for the record (a ping, a chat message), never applied


@dataclass(frozen=True)
class Backlog:
    """A shop's open deliveries: what the inbox sensor requests runs for and `storepipe status` shows."""

    shop_key: str
    platform: str
    pending: int
    claimed: int
    oldest_pending: datetime | None
    max_pending_id: int | None
    attempts: int  # the most attempts among its pending rows: part of the run key, so a retry is a new run


def record(
    conn: sa.Connection,
    *,
    shop_key: str,
    platform: str,
    topic: str,
    delivery_id: str,
    resource_id: str | None,
    body: str,
    status: str = "pending",
) -> int | None:
    """Insert one delivery (body: the JSON text as delivered); None when the shop already has this delivery id."""
    statement = (
        insert(inbox)
        .values(
            shop_key=shop_key,
            platform=platform,
            topic=topic,
            delivery_id=delivery_id,
            resource_id=resource_id,
            # PostgreSQL parses the text once; no Python round trip of the payload.
            payload=sa.cast(sa.literal(body, sa.Text), inbox.c.payload.type),
            status=status,
        )
        .on_conflict_do_nothing(constraint="webhook_inbox_one_per_delivery")
        .returning(inbox.c.id)
    )
    return conn.execute(statement).scalar_one_or_none()


def claim(engine: sa.Engine, shop_key: str, run_id: str, limit: int) -> list[Delivery]:
    """Take up to `limit` pending deliveries of the shop, oldest first, for `run_id`.

    FOR UPDATE SKIP LOCKED plus the status change makes the claim exclusive: two runs of one shop (the
    concurrency limit should prevent it, a manual launch might not) never get the same delivery."""
    chosen = (
        sa.select(inbox.c.id)
        .where(inbox.c.shop_key == shop_key, inbox.c.status == "pending")
        .order_by(inbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        sa.update(inbox)
        .where(inbox.c.id.in_(chosen))
        .values(status="claimed", run_id=run_id, claimed_at=sa.func.now())
        .returning(inbox.c.id, inbox.c.topic, inbox.c.delivery_id, inbox.c.resource_id, inbox.c.payload)
    )
    with engine.begin() as conn:
        rows = conn.execute(statement).all()
    return sorted((Delivery(*row) for row in rows), key=lambda d: d.id)


def mark_applied(engine: sa.Engine, ids: list[int], run_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.update(inbox)
            .where(inbox.c.id.in_(ids), inbox.c.run_id == run_id)
            .values(status="applied", applied_at=sa.func.now(), error=None)
        )


def release(engine: sa.Engine, ids: list[int], error: str) -> None:
    """Give claimed deliveries back after a failed run: pending again, or failed after MAX_ATTEMPTS."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(inbox)
            .where(inbox.c.id.in_(ids), inbox.c.status == "claimed")
            .values(
                attempts=inbox.c.attempts + 1,
                status=sa.case((inbox.c.attempts + 1 >= MAX_ATTEMPTS, "failed"), else_="pending"),
                error=error[:2000],
            )
        )


def claimed_runs(engine: sa.Engine) -> dict[str, list[int]]:
    """Run id -> the deliveries it holds claimed (to find claims of runs that died without releasing them)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(inbox.c.run_id, inbox.c.id).where(inbox.c.status == "claimed")).all()
    runs: dict[str, list[int]] = {}
    for run_id, row_id in rows:
        runs.setdefault(run_id or "", []).append(row_id)
    return runs


def backlog(engine: sa.Engine, shop_keys: list[str] | None = None, *, enabled_only: bool = False) -> list[Backlog]:
    """Per shop with open deliveries: pending and claimed counts, the oldest pending, the newest pending id."""
    from storepipe.warehouse.tables import shops

    pending = inbox.c.status == "pending"
    query = (
        sa.select(
            inbox.c.shop_key,
            inbox.c.platform,
            sa.func.count().filter(pending),
            sa.func.count().filter(inbox.c.status == "claimed"),
            sa.func.min(inbox.c.received_at).filter(pending),
            sa.func.max(inbox.c.id).filter(pending),
            sa.func.coalesce(sa.func.max(inbox.c.attempts).filter(pending), 0),
        )
        .join(shops, shops.c.shop_key == inbox.c.shop_key)
        .where(inbox.c.status.in_(("pending", "claimed")))
        .group_by(inbox.c.shop_key, inbox.c.platform)
        .order_by(inbox.c.shop_key)
    )
    if shop_keys is not None:
        query = query.where(inbox.c.shop_key.in_(shop_keys))
    if enabled_only:
        query = query.where(shops.c.enabled)
    with engine.connect() as conn:
        return [Backlog(*row) for row in conn.execute(query)]
