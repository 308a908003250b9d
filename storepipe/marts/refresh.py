"""Refresh one shop's marts in one transaction: from the orders core says changed, or from scratch."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from storepipe.marts import facts
from storepipe.marts.base import Mart
from storepipe.marts.cohorts import COHORTS
from storepipe.marts.coupon_performance import COUPON_PERFORMANCE
from storepipe.marts.customer_metrics import CUSTOMER_METRICS
from storepipe.marts.daily_summary import DAILY_SUMMARY
from storepipe.marts.product_sales import PRODUCT_SALES, VARIATION_SALES
from storepipe.marts.settings import get_metric_settings
from storepipe.marts.source_attribution import SOURCE_ATTRIBUTION
from storepipe.marts.subscriptions import SUBSCRIPTIONS
from storepipe.shops import Shop

log = logging.getLogger(__name__)

# In dependency order: customer_metrics feeds cohorts and the daily returning count.
MARTS: tuple[Mart, ...] = (
    CUSTOMER_METRICS,
    COHORTS,
    PRODUCT_SALES,
    VARIATION_SALES,
    COUPON_PERFORMANCE,
    SOURCE_ATTRIBUTION,
    DAILY_SUMMARY,
    SUBSCRIPTIONS,
)
FACT_TABLES = ("order_facts", "line_facts", "refund_facts")


@dataclass
class RefreshResult:
    """What one refresh did: whether it rebuilt, how many orders it re-derived, rows written per table."""

    full: bool
    reason: str
    changed_orders: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    dirty: dict[str, int] = field(default_factory=dict)


def _state(conn: sa.Connection, shop_key: str) -> tuple[int, str] | None:
    row = conn.execute(
        sa.text("SELECT last_change_id, settings_fingerprint FROM ops.mart_state WHERE shop_key = :shop"),
        {"shop": shop_key},
    ).first()
    return (row[0], row[1]) if row else None


def _fact_rows(conn: sa.Connection) -> int:
    """The planner's idea of how many order facts there are, all shops (reltuples: free, no count)."""
    sql = "SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'marts.order_facts'::regclass"
    return int(conn.execute(sa.text(sql)).scalar_one())


def _facts_lost(conn: sa.Connection, shop_key: str) -> bool:
    """The shop has orders in core but no facts: crash recovery truncated the unlogged fact tables."""
    sql = (
        "SELECT NOT EXISTS (SELECT 1 FROM marts.order_facts WHERE shop_key = :shop) "
        "AND EXISTS (SELECT 1 FROM core.orders WHERE shop_key = :shop)"
    )
    return bool(conn.execute(sa.text(sql), {"shop": shop_key}).scalar_one())


def refresh_shop(
    engine: sa.Engine,
    shop: Shop,
    *,
    full: bool = False,
    report: Callable[[str], None] | None = None,
    extra: tuple[Mart, ...] = (),
) -> RefreshResult:
    """Bring the shop's facts and marts in line with core.

    Incremental unless `full`, the shop has never been refreshed, or its metric settings changed since.
    One transaction: readers see the marts before or after, never half-refreshed and never disagreeing
    with each other (the asset checks compare marts against each other). `extra` are the lane's own marts
    (the TikTok P&L), refreshed after the shared ones; a lane must always pass the same ones, since the
    order changes a refresh consumes are gone for the next.
    """
    say = report or log.info
    marts = MARTS + extra
    with engine.begin() as conn:
        # One refresh per shop at a time (a run and a webhook-triggered run could overlap).
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('storepipe.marts:' || :shop))"), {"shop": shop.key})
        # Sorts and hashes over a million facts spill to disk at the default 4 MB (measured: ~2x slower);
        # 128 MB per sort or hash keeps the backend well under the 1 GB the benchmark allows.
        conn.execute(sa.text("SET LOCAL work_mem = '128MB'"))
        settings = get_metric_settings(conn, shop.key)
        state = _state(conn, shop.key)
        reason = "requested" if full else ""
        if not full and state is None:
            full, reason = True, "first refresh"
        elif not full and state and state[1] != settings.fingerprint():
            full, reason = True, "metric settings changed"
        elif not full and _facts_lost(conn, shop.key):
            full, reason = True, "facts lost in a crash (unlogged tables are emptied by recovery)"
        high = conn.execute(
            sa.text("SELECT coalesce(max(change_id), 0) FROM core.order_changes WHERE shop_key = :shop"),
            {"shop": shop.key},
        ).scalar_one()
        params = {
            "shop": shop.key,
            "tz": shop.timezone,
            "groups": list(settings.counted_status_groups),
            "basis": settings.date_basis,
            "last_change": state[0] if state and not full else 0,
            "high_change": high,
        }
        result = RefreshResult(full=full, reason=reason or "changes since the last refresh", changed_orders=0)

        def run(label: str, sql: str) -> int:
            started = time.perf_counter()
            count = 0
            for statement in sql.split(";\n"):
                if statement.strip():
                    began = time.perf_counter()
                    count += conn.execute(sa.text(statement), params).rowcount
                    log.debug("%s %.2f s: %s", label, time.perf_counter() - began, " ".join(statement.split())[:90])
            result.seconds[label] = result.seconds.get(label, 0.0) + time.perf_counter() - started
            return count

        run("prepare", facts.CREATE_WORK_TABLES)
        if full:
            for table in (*(m.table for m in marts), *FACT_TABLES):
                run("prepare", f"DELETE FROM marts.{table} WHERE shop_key = :shop")
            result.changed_orders = conn.execute(sa.text(facts.COUNT_ALL), params).scalar_one()
        else:
            result.changed_orders = run("prepare", facts.CHANGED_SINCE)
            run("prepare", "ANALYZE changed_orders")
            for sql in facts.MARK_DIRTY:
                run("facts", facts.scoped(sql, full=False))
            run("facts", facts.KEEP_OLD_FACTS)
            for sql in facts.DELETE_CHANGED_FACTS:
                run("facts", sql)
        # Statistics of tables that just received most of their rows are stale: the planner would take the
        # facts for empty and pick nested loops over a million rows (measured: minutes instead of seconds).
        big_change = full or result.changed_orders > 0.2 * max(_fact_rows(conn), 1)

        def insert_facts(table: str, sql: str) -> None:
            result.rows[table] = run("facts", facts.scoped(sql, full=full))
            if big_change:
                run("facts", f"ANALYZE marts.{table}")

        insert_facts("order_facts", facts.INSERT_ORDER_FACTS)
        insert_facts("line_facts", facts.INSERT_LINE_FACTS)
        insert_facts("refund_facts", facts.INSERT_REFUND_FACTS)
        for sql in facts.MARK_DIRTY:
            run("facts", facts.scoped(sql, full=full))
        run("facts", "ANALYZE dirty_customers")
        if not full:  # a rebuild numbered every customer's orders as it inserted them
            run("facts", facts.SEQUENCE)
        for table in facts.WORK_TABLES:
            run("prepare", f"ANALYZE {table}")
        result.dirty = {
            table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in facts.WORK_TABLES
            if table.startswith("dirty_")
        }
        for mart in marts:
            for sql in mart.before:
                run(mart.name, facts.scoped(sql, full=full))
            if mart.incremental and not full:
                result.rows[mart.name] = sum(run(mart.name, facts.scoped(sql, full=False)) for sql in mart.incremental)
            else:
                run(mart.name, mart.delete)
                result.rows[mart.name] = run(mart.name, facts.scoped(mart.insert, full=full))
            for sql in mart.after:
                run(mart.name, facts.scoped(sql, full=full))
            if big_change:
                run(mart.name, f"ANALYZE marts.{mart.table}")
        conn.execute(
            sa.text(
                "INSERT INTO ops.mart_state (shop_key, last_change_id, settings_fingerprint) "
                "VALUES (:shop, :high, :fp) ON CONFLICT (shop_key) DO UPDATE SET "
                "last_change_id = EXCLUDED.last_change_id, settings_fingerprint = EXCLUDED.settings_fingerprint, "
                "refreshed_at = now()"
            ),
            {"shop": shop.key, "high": high, "fp": settings.fingerprint()},
        )
    say(
        f"shop {shop.key!r}: marts {'rebuilt' if full else 'refreshed'} ({result.reason}) from "
        f"{result.changed_orders:,} orders in {sum(result.seconds.values()):.1f} s"
    )
    return result
