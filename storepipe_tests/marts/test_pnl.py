"""The TikTok P&L marts against the emulator's statements: reconciliation, estimate then settlement, checks, wiring."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import dagster as dg
import sqlalchemy as sa

from storepipe.emulators.tiktok_shop.config import DAY
from storepipe.emulators.tiktok_shop.render import payment, render_order
from storepipe.emulators.tiktok_shop.store import TikTokStore
from storepipe.marts.checks import CHECKS, run_checks
from storepipe.marts.factory import mart_assets
from storepipe.marts.pnl import PNL_CHECKS, PNL_MARTS
from storepipe.marts.refresh import MARTS, refresh_shop
from storepipe.shops import PLATFORMS, Shop
from storepipe.sources.tiktok_shop.model import map_shop
from storepipe_tests.sources.tiktok_shop.model_fixtures import SHOP_KEY, store, tt_shop
from storepipe_tests.sources.tiktok_shop.raw_loader import load_store, pages, write_raw
from storepipe_tests.sources.tiktok_shop.test_model import q, statement_transactions

__all__ = ["store", "tt_shop"]

PNL_TABLES = {"order_pnl": "order_id", "statement_reconciliation": "statement_id", "fee_breakdown": "month, fee_type"}


def failures(engine: sa.Engine) -> dict[str, dict]:
    return {o.check.name: o.details for o in run_checks(engine, SHOP_KEY, CHECKS + PNL_CHECKS) if not o.passed}


def marts_snapshot(engine: sa.Engine) -> dict[str, list[str]]:
    return {
        table: [
            json.dumps(r[0], sort_keys=True)
            for r in q(
                engine, f"SELECT to_jsonb(t) FROM marts.{table} t WHERE shop_key = :s ORDER BY {key}", s=SHOP_KEY
            )
        ]
        for table, key in PNL_TABLES.items()
    }


def refreshed(engine: sa.Engine, shop: Shop, store: TikTokStore, *, since: datetime | None = None) -> None:
    load_store(engine, shop.key, store, fetched_at=since)
    assert map_shop(engine, shop, since).quarantined == 0
    refresh_shop(engine, shop, extra=PNL_MARTS)


def test_settled_orders_reconcile_to_their_statement_transactions(
    engine: sa.Engine, tt_shop: Shop, store: TikTokStore
) -> None:
    refreshed(engine, tt_shop, store)
    assert failures(engine) == {}  # the shared marts' checks hold for a TikTok shop too
    statements, transactions = statement_transactions(store)
    pnl = {
        r[0]: r[1:]
        for r in q(
            engine,
            "SELECT order_id, settlement_state, revenue, shipping_cost + fees, adjustments, settlement "
            "FROM marts.order_pnl",
        )
    }
    orders = [t for t in transactions if t["order_id"]]
    assert orders
    for t in orders:
        assert pnl[t["order_id"]] == (
            "settled",
            Decimal(t["revenue_amount"]),
            Decimal(t["fee_amount"]),
            Decimal(t["adjustment_amount"]),
            Decimal(t["settlement_amount"]),
        )
    estimated = {k for k, v in pnl.items() if v[0] == "estimated"}
    unsettled = pages(store.ledger.unsettled, {"sort_field": "order_create_time", "page_size": "100"}, "transactions")
    assert estimated == {t["order_id"] for t in unsettled}
    # Statement totals = Σ transactions, with their order-less adjustments; nothing left over.
    rows = {
        r[0]: r[1:]
        for r in q(
            engine,
            "SELECT statement_id, settlement_amount, transactions_settlement, difference, order_less_adjustments, "
            "transactions FROM marts.statement_reconciliation",
        )
    }
    assert len(rows) == len(statements)
    for st in statements:
        amount = Decimal(st["settlement_amount"])
        settlement, tx_settlement, difference, _, _ = rows[st["id"]]
        assert (settlement, tx_settlement, difference) == (amount, amount, 0)
    assert sum(r[3] for r in rows.values()) == sum(
        Decimal(t["settlement_amount"]) for t in transactions if not t["order_id"]
    )
    assert sum(r[4] for r in rows.values()) == len(transactions)
    # The fee breakdown: settled amounts add up to the statements; every fee type sits in its group.
    groups = dict(q(engine, "SELECT fee_type, min(fee_group) FROM marts.fee_breakdown GROUP BY 1"))
    assert groups["revenue"] == "revenue" and groups["referral_fee"] == "fee_tax" and groups["fee_tax"] == "fee_tax"
    assert q(engine, "SELECT sum(settled_amount) FROM marts.fee_breakdown") == [
        (sum(Decimal(s["settlement_amount"]) for s in statements),)
    ]


def test_an_estimated_order_settles_with_its_difference(engine: sa.Engine, tt_shop: Shop, store: TikTokStore) -> None:
    unsettled = list(
        pages(store.ledger.unsettled, {"sort_field": "order_create_time", "page_size": "100"}, "transactions")
    )
    estimate = min(unsettled, key=lambda t: int(t["estimated_settlement"]))
    order_id = estimate["order_id"]
    # The platform's estimate is a little off: it expected a dollar more of fees than the statement will take.
    off = {
        **estimate,
        "est_fee_tax_amount": str(Decimal(estimate["est_fee_tax_amount"]) - 1),
        "est_settlement_amount": str(Decimal(estimate["est_settlement_amount"]) - 1),
    }
    load_store(engine, tt_shop.key, store)
    write_raw(engine, tt_shop.key, "unsettled_transactions", [off])
    map_shop(engine, tt_shop, None)
    refresh_shop(engine, tt_shop, extra=PNL_MARTS)
    before = q(
        engine,
        "SELECT settlement_state, settlement, estimated_settlement, difference_vs_estimate, statement_id "
        "FROM marts.order_pnl WHERE order_id = :o",
        o=order_id,
    )
    expected = Decimal(estimate["est_settlement_amount"]) - 1
    assert before == [("estimated", expected, expected, None, None)]

    # Time passes until the order's statement is issued; the next sync brings it in.
    store.advance_time(seconds=int(estimate["estimated_settlement"]) + 2 * DAY - store.now)
    refreshed(engine, tt_shop, store, since=datetime.now(UTC) + timedelta(days=1))
    ((state, settlement, estimated, difference, statement_id),) = q(
        engine,
        "SELECT settlement_state, settlement, estimated_settlement, difference_vs_estimate, statement_id "
        "FROM marts.order_pnl WHERE order_id = :o",
        o=order_id,
    )
    assert (state, settlement, estimated, difference) == ("settled", expected + 1, expected, Decimal(1))
    assert statement_id is not None
    assert q(
        engine,
        "SELECT estimated_orders >= 1, settled_vs_estimate FROM marts.statement_reconciliation WHERE statement_id = :s",
        s=statement_id,
    ) == [(True, Decimal(1))]
    assert failures(engine) == {}
    # The incremental refresh gave what a rebuild gives.
    incremental = marts_snapshot(engine)
    refresh_shop(engine, tt_shop, full=True, extra=PNL_MARTS)
    assert marts_snapshot(engine) == incremental


def test_checks_catch_a_broken_statement_and_order(engine: sa.Engine, tt_shop: Shop, store: TikTokStore) -> None:
    refreshed(engine, tt_shop, store)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE core.statements SET settlement_amount = settlement_amount + 0.01 WHERE statement_id = "
                "(SELECT min(statement_id) FROM core.statements)"
            )
        )
        conn.execute(
            sa.text(
                "UPDATE marts.order_pnl SET fees = fees - 0.01 WHERE order_id = "
                "(SELECT min(order_id) FROM marts.order_pnl WHERE settlement_state = 'settled')"
            )
        )
    failed = failures(engine)
    # The statement's total no longer matches its transactions, nor the fee breakdown that adds them up.
    assert set(failed) == {
        "statement_totals_match_transactions",
        "settled_orders_reconcile",
        "fee_breakdown_matches_statements",
    }
    assert failed["statement_totals_match_transactions"]["bad_statements"] == 1
    assert failed["settled_orders_reconcile"]["bad_orders"] == 1


def test_only_the_tiktok_lane_gets_the_pnl_marts() -> None:
    partitions = PLATFORMS["tiktok_shop"].partitions
    model = dg.AssetKey(["tiktok_shop", "model"])
    tiktok = mart_assets("tiktok_shop", partitions, model, extra_marts=PNL_MARTS, extra_checks=PNL_CHECKS)
    plain = mart_assets("other", partitions, model)
    names = {key.path[-1] for key in tiktok.keys}
    assert {"order_pnl", "statement_reconciliation", "fee_breakdown"} <= names
    assert {key.path[-1] for key in plain.keys} == names - {m.name for m in PNL_MARTS}
    assert len(plain.keys) == len(MARTS) + 1  # the shared marts and the facts
    checks = {key.name for key in tiktok.check_keys}
    assert {c.name for c in PNL_CHECKS} <= checks
    assert not {c.name for c in PNL_CHECKS} & {key.name for key in plain.check_keys}


def test_shared_marts_read_tiktok_orders(engine: sa.Engine, tt_shop: Shop, store: TikTokStore) -> None:
    """Net sales of the shared marts are what buyers paid for products (both discounts off) less refunds."""
    refreshed(engine, tt_shop, store)
    counted = {
        o.id: Decimal(payment(o, "USD")["sub_total"])
        for o in store.orders
        if render_order(o, store.now, store.config)["status"] not in ("UNPAID", "CANCELLED")
    }
    refunds = dict(q(engine, "SELECT order_id, sum(amount) FROM core.refunds GROUP BY 1"))
    expected = sum(counted.values()) - sum(v for k, v in refunds.items() if k in counted)
    assert q(engine, "SELECT sum(orders), sum(net_sales) FROM marts.daily_summary WHERE book = 'order_date'") == [
        (len(counted), expected)
    ]
    # An item auctioned in several sessions sells as one product.
    units = q(
        engine,
        "SELECT p.name, sum(s.units) FROM marts.product_sales s JOIN core.products p USING (shop_key, product_key) "
        "WHERE p.type = 'auction' GROUP BY p.name ORDER BY 2 DESC LIMIT 1",
    )
    assert units and units[0][1] > 1
