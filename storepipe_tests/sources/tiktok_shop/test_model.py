"""The TikTok raw-to-core mapping against the emulator's own data: orders, lines, auctions, refunds, finance."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from storepipe.emulators.tiktok_shop.config import DAY
from storepipe.emulators.tiktok_shop.render import is_cancelled, payment, render_order
from storepipe.emulators.tiktok_shop.returns import render_cancellation
from storepipe.emulators.tiktok_shop.store import TikTokStore
from storepipe.shops import Shop
from storepipe.sources.tiktok_shop.model import RETURN_COMPLETE, map_shop
from storepipe_tests.sources.tiktok_shop.model_fixtures import SHOP_KEY, store, tt_shop
from storepipe_tests.sources.tiktok_shop.raw_loader import load_store, pages, write_raw

__all__ = ["store", "tt_shop"]

# Every core table the model writes, with its key (a snapshot sorts by it); mapped_at is when, not what.
CORE_TABLES = {
    "orders": "order_id", "order_lines": "order_id, line_id", "customers": "customer_key",
    "products": "product_key", "variations": "variation_key", "refunds": "refund_id",
    "refund_lines": "refund_id, line_id", "statements": "statement_id", "settlements": "transaction_id",
    "order_fees": "order_id, fee_type, state",
}  # fmt: skip


def q(engine: sa.Engine, sql: str, **params: object) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def snapshot(engine: sa.Engine) -> dict[str, list[tuple]]:
    out = {}
    for table, key in CORE_TABLES.items():
        rows = q(
            engine,
            f"SELECT to_jsonb(t) - 'mapped_at' FROM core.{table} t WHERE shop_key = :s ORDER BY {key}",
            s=SHOP_KEY,
        )
        out[table] = [json.dumps(r[0], sort_keys=True) for r in rows]
    return out


def imported(engine: sa.Engine, shop: Shop, store: TikTokStore) -> None:
    load_store(engine, shop.key, store)
    result = map_shop(engine, shop, None)
    assert result.quarantined == 0


def test_orders_and_lines_equal_the_emulator(engine: sa.Engine, tt_shop: Shop, store: TikTokStore) -> None:
    imported(engine, tt_shop, store)
    payments = {o.id: payment(o, "USD") for o in store.orders}
    ((orders, total, subtotal, discounts, platform),) = q(
        engine,
        "SELECT count(*), sum(total), sum(subtotal), sum(discount_total), sum(platform_discount) FROM core.orders",
    )
    assert orders == len(store.orders)
    assert total == sum(Decimal(p["total_amount"]) for p in payments.values())
    assert subtotal == sum(Decimal(p["original_total_product_price"]) for p in payments.values())
    assert discounts == sum(Decimal(p["seller_discount"]) + Decimal(p["platform_discount"]) for p in payments.values())
    assert platform == sum(Decimal(p["platform_discount"]) for p in payments.values())
    # TikTok's identity holds for every order: sub_total + shipping + tax + retail delivery fee = total.
    assert q(
        engine,
        "SELECT count(*) FROM core.orders "
        "WHERE total <> subtotal - discount_total + shipping_total + total_tax + fee_total",
    ) == [(0,)]
    # One line per (order, sku) with the unit count as quantity; lines add up to the order's product amounts.
    units = Counter((o.id, line.sku_id) for o in store.orders for line in o.lines)
    lines = {(r[0], r[1]): r[2] for r in q(engine, "SELECT order_id, line_id, quantity FROM core.order_lines")}
    assert lines == units
    assert q(
        engine,
        """SELECT count(*) FROM core.orders o JOIN (
               SELECT order_id, sum(subtotal) AS subtotal, sum(total) AS total, sum(total_tax) AS tax,
                      sum(quantity) AS q FROM core.order_lines GROUP BY order_id) l USING (order_id)
           WHERE l.subtotal <> o.subtotal OR l.total <> o.subtotal - o.discount_total OR l.tax <> o.cart_tax
              OR l.q <> o.item_count""",
    ) == [(0,)]
    statuses = Counter(render_order(o, store.now, store.config)["status"] for o in store.orders)
    groups = dict(q(engine, "SELECT status, count(*) FROM core.orders GROUP BY status"))
    assert groups == dict(statuses)
    assert q(engine, "SELECT count(*) FROM core.orders WHERE status = 'CANCELLED' AND status_group <> 'cancelled'") == [
        (0,)
    ]
    # Dates are shop-local: an order created at 03:00 UTC was placed the evening before in Los Angeles.
    assert q(
        engine,
        "SELECT count(*) FROM core.orders WHERE created_date <> (created_at AT TIME ZONE 'America/Los_Angeles')::date",
    ) == [(0,)]
    customers = {o.user_id for o in store.orders}
    assert q(engine, "SELECT count(*) FROM core.customers WHERE registered") == [(len(customers),)]


def test_refunds_equal_the_emulator(engine: sa.Engine, tt_shop: Shop, store: TikTokStore) -> None:
    imported(engine, tt_shop, store)
    expected: dict[str, Decimal] = {}
    for order in store.orders:
        plan = store.returns.plan(order)
        if plan is not None and plan.visible(store.now):
            record = plan.render(store.now, "USD")
            if record["return_status"] == RETURN_COMPLETE:
                expected[record["return_id"]] = Decimal(record["refund_amount"]["refund_total"])
        if is_cancelled(order, store.now):
            record = render_cancellation(order, "USD")
            if Decimal(record["refund_amount"]["refund_total"]) > 0:  # cancelled after payment
                expected[record["cancel_id"]] = Decimal(record["refund_amount"]["refund_total"])
    assert expected, "the fixture shop should have refunds"
    assert dict(q(engine, "SELECT refund_id, amount FROM core.refunds")) == expected
    # Refund lines point at the order line of their sku, and refunded totals land on the orders.
    assert q(
        engine,
        """SELECT count(*) FROM core.refund_lines rl LEFT JOIN core.order_lines l
             ON l.shop_key = rl.shop_key AND l.order_id = rl.order_id AND l.line_id = rl.order_line_id
           WHERE l.line_id IS NULL""",
    ) == [(0,)]
    assert q(
        engine,
        """SELECT count(*) FROM core.orders o
           LEFT JOIN (SELECT order_id, sum(amount) AS amount FROM core.refunds GROUP BY order_id) r USING (order_id)
           WHERE o.refunded_total <> coalesce(r.amount, 0)""",
    ) == [(0,)]
    # Fully refunded paid orders are `refunded`; partially refunded ones stay `paid`.
    refunded = q(
        engine,
        """SELECT o.status_group, count(*) FROM core.orders o
           JOIN (SELECT order_id, sum(amount) AS products FROM core.refund_lines GROUP BY order_id) r USING (order_id)
           WHERE o.status <> 'CANCELLED'
           GROUP BY o.status_group, r.products >= o.subtotal - o.discount_total ORDER BY 1""",
    )
    assert {group for group, _ in refunded} <= {"paid", "refunded"}
    assert q(
        engine,
        """SELECT count(*) FROM core.orders o
           WHERE status_group = 'refunded' AND (SELECT sum(amount) FROM core.refund_lines rl
                                                WHERE rl.order_id = o.order_id) < o.subtotal - o.discount_total""",
    ) == [(0,)]
    assert q(engine, "SELECT count(*) FROM core.orders WHERE status_group = 'refunded'")[0][0] > 0


def test_auction_items_are_one_product_per_name(engine: sa.Engine, tt_shop: Shop, store: TikTokStore) -> None:
    imported(engine, tt_shop, store)
    listings: dict[str, set[str]] = defaultdict(set)  # item name without lot number -> temporary product ids
    units: Counter[str] = Counter()
    for order in store.orders:
        for line in order.lines:
            if line.temporary:
                name = " ".join(re.sub(r"#\s*\d+", " ", line.product_name).split())
                listings[name].add(line.product_id)
                units[name] += 1
    repeated = [name for name, ids in listings.items() if len(ids) > 1]
    assert repeated, "the fixture shop should auction some item more than once"
    products = dict(
        q(engine, "SELECT name, product_key FROM core.products WHERE product_key LIKE 'auction:%' AND NOT in_catalog")
    )
    assert set(products) == set(listings)
    sold = dict(
        q(
            engine,
            "SELECT product_key, sum(quantity) FROM core.order_lines WHERE product_key LIKE 'auction:%' GROUP BY 1",
        )
    )
    assert {name: sold[products[name]] for name in listings} == units
    # Temporary listings never become catalog products or variations of their own.
    temporary = {pid for ids in listings.values() for pid in ids}
    assert not q(engine, "SELECT product_key FROM core.products WHERE product_key = ANY(:ids)", ids=list(temporary))
    assert q(
        engine, "SELECT count(*) FROM core.order_lines WHERE product_key LIKE 'auction:%' AND variation_key IS NOT NULL"
    ) == [(0,)]
    assert q(engine, "SELECT count(*) FROM core.products WHERE in_catalog") == [(len(store.products),)]


def statement_transactions(store: TikTokStore) -> tuple[list[dict], list[dict]]:
    """The emulator's statements and all their transactions, read through its API methods."""
    statements = list(
        pages(store.ledger.statements, {"page_size": "100", "sort_field": "statement_time"}, "statements")
    )
    transactions = [
        t
        for st in statements
        for t in pages(
            lambda q, sid=st["id"]: store.ledger.statement_transactions(sid, q),
            {"page_size": "100", "sort_field": "order_create_time"},
            "statement_transactions",
        )
    ]
    return statements, transactions


def test_finance_equals_the_statements(engine: sa.Engine, tt_shop: Shop, store: TikTokStore) -> None:
    imported(engine, tt_shop, store)
    statements, transactions = statement_transactions(store)
    assert q(engine, "SELECT count(*), sum(settlement_amount) FROM core.statements") == [
        (len(statements), sum(Decimal(s["settlement_amount"]) for s in statements))
    ]
    assert q(engine, "SELECT count(*), sum(settlement_amount) FROM core.settlements") == [
        (len(transactions), sum(Decimal(t["settlement_amount"]) for t in transactions))
    ]
    assert q(engine, "SELECT count(*) FROM core.settlements WHERE order_id IS NULL") == [
        (sum(1 for t in transactions if not t["order_id"]),)
    ]
    # The settled rows of an order add up to its settlement, and carry each non-zero fee component.
    settled = {t["order_id"]: t for t in transactions if t["order_id"]}
    by_order: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for order_id, fee_type, amount in q(
        engine, "SELECT order_id, fee_type, amount FROM core.order_fees WHERE state = 'settled'"
    ):
        by_order[order_id][fee_type] = amount
    assert set(by_order) == set(settled)
    for order_id, t in settled.items():
        fees = by_order[order_id]
        assert sum(fees.values()) == Decimal(t["settlement_amount"])
        assert fees["revenue"] == Decimal(t["revenue_amount"])
        for component in ("referral_fee", "affiliate_commission", "shipping_cost", "transaction_fee", "sales_tax"):
            assert fees.get(component, Decimal(0)) == Decimal(t[f"{component}_amount"])
    assert "other_fees" not in {f for fees in by_order.values() for f in fees}  # every emulated fee is named
    # Estimates: one per order still unsettled, summing to its estimated settlement.
    unsettled = list(
        pages(store.ledger.unsettled, {"sort_field": "order_create_time", "page_size": "100"}, "transactions")
    )
    assert unsettled
    estimated = dict(
        q(engine, "SELECT order_id, sum(amount) FROM core.order_fees WHERE state = 'estimated' GROUP BY 1")
    )
    assert estimated == {t["order_id"]: Decimal(t["est_settlement_amount"]) for t in unsettled}


def test_remapping_changes_nothing(engine: sa.Engine, tt_shop: Shop, store: TikTokStore) -> None:
    imported(engine, tt_shop, store)
    before = snapshot(engine)
    map_shop(engine, tt_shop, None)
    assert snapshot(engine) == before
    map_shop(engine, tt_shop, datetime.now(UTC) - timedelta(hours=1))
    assert snapshot(engine) == before


def test_incremental_history_equals_a_rebuild(engine: sa.Engine, tt_shop: Shop, store: TikTokStore) -> None:
    imported(engine, tt_shop, store)
    for step in range(4):  # new orders ship, deliver, settle; returns complete; estimates turn into statements
        for _ in range(8):
            store.create_order()
        store.advance_time(days=9)
        since = datetime.now(UTC) + timedelta(days=step + 1)  # later than any earlier fetch
        written = load_store(engine, tt_shop.key, store, fetched_at=since)
        assert written["orders"] >= 8
        map_shop(engine, tt_shop, since)
    incremental = snapshot(engine)
    with engine.begin() as conn:
        for table in CORE_TABLES:
            conn.execute(sa.text(f"DELETE FROM core.{table} WHERE shop_key = :s"), {"s": SHOP_KEY})
    map_shop(engine, tt_shop, None)
    assert snapshot(engine) == incremental
    # The estimates of orders that settled meanwhile are kept next to their settled rows.
    assert q(
        engine,
        """SELECT count(DISTINCT e.order_id) > 0 FROM core.order_fees e JOIN core.order_fees s
             ON s.shop_key = e.shop_key AND s.order_id = e.order_id AND s.state = 'settled'
           WHERE e.state = 'estimated'""",
    ) == [(True,)]


def test_malformed_records_are_quarantined(engine: sa.Engine, tt_shop: Shop, store: TikTokStore) -> None:
    load_store(engine, tt_shop.key, store)
    good = render_order(store.orders[-1], store.now, store.config)
    bad_time = {**good, "id": "900000000000000001", "create_time": "yesterday"}
    bad_money = {**good, "id": "900000000000000002", "payment": {**good["payment"], "total_amount": "12,50"}}
    no_id = {**good, "id": "", "update_time": good["update_time"]}
    write_raw(engine, tt_shop.key, "orders", [bad_time, bad_money])
    write_raw(engine, tt_shop.key, "orders", [{**no_id, "raw_id": "900000000000000003"}], id_key="raw_id")
    transaction = q(engine, "SELECT payload, parent_id FROM raw.tiktok_shop_statement_transactions LIMIT 1")[0]
    broken = {**transaction[0], "id": "900000000000000004", "fee_amount": "n/a"}
    write_raw(engine, tt_shop.key, "statement_transactions", [broken], parent_id=transaction[1])
    result = map_shop(engine, tt_shop, None)
    assert result.quarantined == 4
    assert result.orders == len(store.orders)
    reasons = dict(q(engine, "SELECT source_id, reason FROM ops.discrepancies WHERE resolved_at IS NULL"))
    assert reasons == {
        "900000000000000001": "create_time is not a unix time: yesterday",
        "900000000000000002": "payment.total_amount is missing or not a number: 12,50",
        "900000000000000003": "id is missing",
        "900000000000000004": "a transaction amount is not a number",
    }
    assert q(engine, "SELECT count(*) FROM core.orders WHERE order_id LIKE '9000000000000000%'") == [(0,)]
    # A corrected version resolves the discrepancy and maps.
    write_raw(engine, tt_shop.key, "orders", [{**bad_time, "create_time": good["create_time"]}])
    map_shop(engine, tt_shop, None)
    assert q(engine, "SELECT count(*) FROM core.orders WHERE order_id = '900000000000000001'") == [(1,)]
    assert q(
        engine, "SELECT resolved_at IS NOT NULL FROM ops.discrepancies WHERE source_id = '900000000000000001'"
    ) == [(True,)]


def test_an_order_settles_days_after_delivery(engine: sa.Engine, tt_shop: Shop, store: TikTokStore) -> None:
    """The statement-lag rule of the emulator, as core sees it: settled orders were delivered ≥ 3 days before."""
    imported(engine, tt_shop, store)
    lag = q(
        engine,
        """SELECT min(f.settled_at + interval '1 day' - o.completed_at) FROM core.order_fees f
           JOIN core.orders o ON o.shop_key = f.shop_key AND o.order_id = f.order_id
           WHERE f.state = 'settled' AND f.fee_type = 'revenue'""",
    )[0][0]
    assert lag >= timedelta(seconds=3 * DAY)
