"""Incremental syncs after random changes give the spend and tiers a full recalculation gives, and a ledger that one
reconcile makes exact; syncs touch only the customers whose orders changed."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import dagster as dg
import sqlalchemy as sa

from storepipe.loyalty.checks import run_checks
from storepipe.loyalty.sync import SyncOptions, recalculate_tiers, sync_shop
from storepipe_tests.loyalty.shop import AS_OF, load, order, refund, register, rows

METRICS = (
    "SELECT customer_key, orders, gross_spend, refunded, lifetime_spend, period_spend FROM loyalty.customer_spend",
    "SELECT customer_key, tier, period_spend, since, next_review FROM loyalty.tier_placements",
    "SELECT customer_key, change_date, from_tier, to_tier, period_spend, reason FROM loyalty.tier_changes",
)
CUSTOMERS: list[int | str] = [1, 2, 3, 4, 5, "g1@example.com", "g2@example.com"]
STATUSES = ["completed", "completed", "completed", "processing", "refunded", "pending", "cancelled"]


def snapshot(engine: sa.Engine) -> list[list[tuple]]:
    return [sorted(rows(engine, query)) for query in METRICS]


def random_order(rng: random.Random, order_id: int) -> dict:
    day = AS_OF - timedelta(days=rng.randint(0, 500))
    amounts = [f"{rng.randint(100, 30000) / 100:.2f}" for _ in range(rng.randint(1, 3))]
    status = rng.choice(STATUSES)
    return order(order_id, rng.choice(CUSTOMERS), f"{day} {rng.randint(0, 23):02d}:30", amounts, status=status,
                 paid=status not in ("pending",))  # fmt: skip


def test_incremental_syncs_match_a_recalculation_and_reconcile_settles_the_ledger(
    engine: sa.Engine, instance: dg.DagsterInstance
) -> None:
    rng = random.Random(7)
    shop = register(engine, instance)
    orders = {i: random_order(rng, i) for i in range(1, 61)}
    load(engine, shop, list(orders.values()))
    sync_shop(engine, shop, as_of=AS_OF)
    next_refund = 900
    for _ in range(4):
        changed, refunds = [], []
        for order_id in rng.sample(sorted(orders), 8):
            what = rng.random()
            if what < 0.4:  # a new version of the order: other lines, status, customer or date
                orders[order_id] = random_order(rng, order_id)
                changed.append(orders[order_id])
            else:  # a refund of part of the order's first line
                line = orders[order_id]["line_items"][0]
                amount = (Decimal(line["total"]) * Decimal(rng.randint(10, 100)) / 100).quantize(Decimal("0.01"))
                paid = orders[order_id]["date_paid_gmt"] or orders[order_id]["date_created_gmt"]
                local = f"{(AS_OF - timedelta(days=rng.randint(0, 30)))} 12:00" if rng.random() < 0.5 else None
                refunds.append(refund(next_refund, order_id, local or paid.replace("T", " ")[:16], f"{amount}",
                                      line=(line["id"], line["product_id"])))  # fmt: skip
                next_refund += 1
        orders[1000 + next_refund] = random_order(rng, 1000 + next_refund)  # and one new order
        load(engine, shop, [*changed, orders[1000 + next_refund]], refunds)
        result = sync_shop(engine, shop, as_of=AS_OF)
        touched = {r[0] for r in rows(engine, "SELECT DISTINCT customer_key FROM loyalty.orders")}
        assert result.customers_updated <= len(touched)
        incremental = snapshot(engine)
        recalculate_tiers(engine, shop, as_of=AS_OF)
        assert snapshot(engine) == incremental
        failing = {o.check.name for o in run_checks(engine, shop) if not o.passed}
        assert failing <= {"ledger_matches_orders"}  # order edits wait for a reconcile

    settled = sync_shop(engine, shop, SyncOptions(reconcile_ledger=True), as_of=AS_OF)
    assert all(o.passed for o in run_checks(engine, shop)), settled.summary()
    assert sync_shop(engine, shop, SyncOptions(reconcile_ledger=True), as_of=AS_OF).entries_written == 0
    # The books close: every customer's balance is what their synced orders imply.
    implied = rows(engine, """
        SELECT customer_key, sum(round(basis * cashback_percent / 100, 2)
               - round(round(basis * cashback_percent / 100, 2) * refunded_basis / nullif(basis, 0), 2))
        FROM loyalty.orders GROUP BY 1 ORDER BY 1""")  # fmt: skip
    balances = rows(engine, "SELECT customer_key, balance FROM loyalty.balances ORDER BY 1")
    assert [(c, a or 0) for c, a in implied if a] == [(c, b) for c, b in balances if b]


def test_a_sync_touches_only_customers_whose_orders_changed(engine: sa.Engine, instance: dg.DagsterInstance) -> None:
    shop = register(engine, instance)
    load(engine, shop, [order(i, i % 5 + 1, f"{AS_OF - timedelta(days=i)} 12:00", ["50.00"]) for i in range(1, 21)])
    assert sync_shop(engine, shop, as_of=AS_OF).customers_updated == 5
    load(engine, shop, [order(3, 4, f"{AS_OF - timedelta(days=3)} 12:00", ["80.00"])])
    result = sync_shop(engine, shop, as_of=AS_OF)
    assert (result.full, result.orders_synced, result.customers_updated) == (False, 1, 1)
    assert rows(engine, "SELECT basis FROM loyalty.orders WHERE order_id = '3'") == [(Decimal("80.00"),)]
