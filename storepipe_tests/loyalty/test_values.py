"""Hand-computed loyalty values: tier placement, the annual period in shop time, cashback, clawbacks, reconcile."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import dagster as dg
import pytest
import sqlalchemy as sa

from storepipe.loyalty.checks import run_checks
from storepipe.loyalty.program import LoyaltyProgram, set_program
from storepipe.loyalty.sync import SyncOptions, SyncWindow, recalculate_tiers, sync_shop
from storepipe.shops import Shop
from storepipe_tests.loyalty.shop import AS_OF, PROGRAM, ledger, load, order, placements, refund, register, rows


@pytest.fixture
def shop(engine: sa.Engine, instance: dg.DagsterInstance) -> Shop:
    return register(engine, instance)


def sync(engine: sa.Engine, shop: Shop, *, as_of: date = AS_OF, **options: object):
    return sync_shop(engine, shop, SyncOptions(**options), as_of=as_of)  # type: ignore[arg-type]


def failed_checks(engine: sa.Engine, shop: Shop) -> dict[str, dict]:
    return {o.check.name: o.details for o in run_checks(engine, shop) if not o.passed}


def changes(engine: sa.Engine, customer: str) -> list[tuple]:
    return rows(engine, "SELECT change_date, from_tier, to_tier, period_spend, reason FROM loyalty.tier_changes "
                        "WHERE shop_key = :s AND customer_key = :c ORDER BY change_date", c=customer)  # fmt: skip


def test_placement_at_exact_thresholds(engine: sa.Engine, shop: Shop) -> None:
    load(engine, shop, [
        order(1, 1, "2026-06-01 12:00", ["100.00"]),
        order(2, 2, "2026-06-01 12:00", ["99.99"]),
        order(3, 3, "2026-06-01 12:00", ["300.00"]),
        order(4, 3, "2026-06-02 12:00", ["120.00", "80.00"]),
        order(5, 4, "2026-06-01 12:00", ["499.99"]),
    ])  # fmt: skip
    result = sync(engine, shop)
    assert (result.orders_synced, result.customers_updated, result.entries) == (5, 4, {"earn": 5})
    assert placements(engine) == {
        "id:1": ("Silver", D("100.00"), date(2027, 6, 2)),  # exactly the threshold: in
        "id:2": ("Bronze", D("99.99"), date(2027, 6, 2)),
        "id:3": ("Gold", D("500.00"), date(2027, 6, 2)),
        "id:4": ("Silver", D("499.99"), date(2027, 6, 2)),
    }
    # Order 4 was paid the day after order 3 lifted customer 3 to Silver: 5 % of 200.00.
    assert ledger(engine) == [
        ("earn:1", "id:1", "earn", D("2.00")),
        ("earn:2", "id:2", "earn", D("2.00")),  # 1.9998 rounds half up to the cent
        ("earn:3", "id:3", "earn", D("6.00")),
        ("earn:4", "id:3", "earn", D("10.00")),
        ("earn:5", "id:4", "earn", D("10.00")),
    ]
    assert changes(engine, "id:3") == [
        (date(2026, 6, 1), "Bronze", "Silver", D("300.00"), "order paid"),
        (date(2026, 6, 2), "Silver", "Gold", D("500.00"), "order paid"),
    ]
    assert rows(engine, "SELECT customer_key, orders, gross_spend, refunded, lifetime_spend, period_spend "
                        "FROM loyalty.customer_spend WHERE customer_key = 'id:3'") == [
        ("id:3", 2, D("500.00"), D("0"), D("500.00"), D("500.00"))
    ]  # fmt: skip
    assert failed_checks(engine, shop) == {}


def _anniversary_orders(engine: sa.Engine, shop: Shop) -> None:
    # 2025-06-30 00:30 in New York is 365 days before 2026-06-30; 2025-06-29 23:30 there is 366 days before,
    # although in UTC (2025-06-30 03:30) it is the same date as the first.
    load(engine, shop, [
        order(1, 5, "2025-06-30 00:30", ["100.00"]),
        order(2, 6, "2025-06-29 23:30", ["100.00"]),
    ])  # fmt: skip


def test_annual_period_counts_365_days_in_the_shop_timezone(engine: sa.Engine, shop: Shop) -> None:
    _anniversary_orders(engine, shop)
    sync(engine, shop)
    assert placements(engine) == {
        "id:5": ("Silver", D("100.00"), date(2026, 7, 1)),  # 365 days old: still counts, drops tomorrow
        "id:6": ("Bronze", D("0.00"), None),  # 366 days old: out
    }
    assert changes(engine, "id:6") == [
        (date(2025, 6, 29), "Bronze", "Silver", D("100.00"), "order paid"),
        (date(2026, 6, 30), "Silver", "Bronze", D("0.00"), "left the evaluation period"),
    ]
    # The next day only the customer due for review is re-derived; no order changed.
    result = sync(engine, shop, as_of=AS_OF + timedelta(days=1))
    assert (result.customers_updated, result.orders_synced, result.entries_written) == (1, 0, 0)
    assert placements(engine)["id:5"] == ("Bronze", D("0.00"), None)
    assert failed_checks(engine, shop) == {}


def test_lifetime_keeps_every_order(engine: sa.Engine, instance: dg.DagsterInstance) -> None:
    shop = register(engine, instance, evaluation_period="LIFETIME")
    _anniversary_orders(engine, shop)
    sync(engine, shop)
    assert placements(engine) == {"id:5": ("Silver", D("100.00"), None), "id:6": ("Silver", D("100.00"), None)}
    assert changes(engine, "id:6") == [(date(2025, 6, 29), "Bronze", "Silver", D("100.00"), "order paid")]


def test_full_and_partial_refunds_claw_back_pro_rata(engine: sa.Engine, shop: Shop) -> None:
    load(
        engine, shop,
        [
            # basis 100.00 (shipping and tax excluded): earns 2.00
            order(10, 7, "2026-06-01 12:00", ["60.00", "40.00"], shipping="10.00", tax="8.00"),
            # basis 50.00: earns 1.00; refunded in full, shipping included, and marked refunded
            order(11, 8, "2026-06-02 12:00", ["50.00"], shipping="5.00", status="refunded"),
            # basis 33.33: earns 0.67 (0.6666); two refunds without lines
            order(12, 9, "2026-06-03 12:00", ["33.33"]),
        ],
        [
            refund(101, 10, "2026-06-05 10:00", "40.00", line=(101, 101)),  # the 40.00 line: 40 % of the basis
            refund(111, 11, "2026-06-06 10:00", "55.00"),
            refund(121, 12, "2026-06-04 10:00", "10.00"),
            refund(122, 12, "2026-06-05 10:00", "23.33"),
        ],
    )  # fmt: skip
    sync(engine, shop)
    assert ledger(engine) == [
        ("earn:10", "id:7", "earn", D("2.00")),
        ("earn:11", "id:8", "earn", D("1.00")),
        ("earn:12", "id:9", "earn", D("0.67")),
        ("clawback:101", "id:7", "clawback", D("-0.80")),  # 2.00 × 40 / 100
        ("clawback:111", "id:8", "clawback", D("-1.00")),  # a full refund gives back exactly the earn
        # cumulative: round(0.67 × 10 / 33.33) = 0.20, then round(0.67 × 33.33 / 33.33) − 0.20 = 0.47
        ("clawback:121", "id:9", "clawback", D("-0.20")),
        ("clawback:122", "id:9", "clawback", D("-0.47")),
    ]
    assert rows(engine, "SELECT customer_key, balance FROM loyalty.balances ORDER BY 1") == [
        ("id:7", D("1.20")), ("id:8", D("0.00")), ("id:9", D("0.00")),
    ]  # fmt: skip
    assert placements(engine) == {
        "id:7": ("Bronze", D("60.00"), date(2027, 6, 2)),
        "id:8": ("Bronze", D("0.00"), date(2027, 6, 3)),
        "id:9": ("Bronze", D("0.00"), date(2027, 6, 4)),
    }
    assert failed_checks(engine, shop) == {}


def test_a_resync_without_reconcile_changes_nothing(engine: sa.Engine, shop: Shop) -> None:
    orders = [order(1, 7, "2026-06-01 12:00", ["150.00"]), order(2, 8, "2026-06-02 12:00", ["20.00"])]
    refunds = [refund(21, 2, "2026-06-03 12:00", "5.00")]
    load(engine, shop, orders, refunds)
    sync(engine, shop)
    before = ledger(engine), placements(engine)
    again = sync(engine, shop)
    assert (again.full, again.orders_synced, again.customers_updated, again.entries_written) == (False, 0, 0, 0)
    load(engine, shop, orders, refunds)  # the same records imported again: core notes them as changed
    third = sync(engine, shop)
    assert (third.orders_synced, third.customers_updated, third.entries_written) == (2, 0, 0)
    assert (ledger(engine), placements(engine)) == before


def test_a_lost_order_imported_later_is_fixed_by_one_reconcile_entry(engine: sa.Engine, shop: Shop) -> None:
    load(engine, shop, [order(20, 7, "2026-06-20 12:00", ["100.00"])])
    first = sync(engine, shop, window=SyncWindow.last_30_days)
    assert first.warnings == [
        "sync window last_30_days is shorter than the ANNUAL evaluation period (365 days): orders paid before it "
        "are not synced, so tiers may be too low; sync at least last_year"
    ]
    # An order of March that the import had missed arrives now; the 30-day sync leaves it out.
    load(engine, shop, [order(21, 7, "2026-03-01 12:00", ["50.00"])])
    late = sync(engine, shop, window=SyncWindow.last_30_days)
    assert (late.orders_outside_window, late.entries_written) == (1, 0)
    # A wider re-sync without reconcile looks only at what changed since: nothing.
    assert sync(engine, shop, window=SyncWindow.last_year).entries_written == 0
    fixed = sync(engine, shop, window=SyncWindow.last_year, reconcile_ledger=True)
    assert (fixed.entries, fixed.orders_synced, fixed.warnings) == ({"earn": 1}, 2, [])
    recovered = rows(engine, "SELECT entry_key, kind, amount, source, entry_date FROM loyalty.cashback_ledger "
                             "WHERE source = 'reconcile'")  # fmt: skip
    assert recovered == [("earn:21", "earn", D("1.00"), "reconcile", date(2026, 3, 1))]
    assert placements(engine) == {"id:7": ("Silver", D("150.00"), date(2027, 3, 2))}
    twice = sync(engine, shop, window=SyncWindow.last_year, reconcile_ledger=True)
    assert twice.entries_written == 0
    assert len(ledger(engine)) == 2
    assert failed_checks(engine, shop) == {}


def test_an_order_edited_after_earning_gets_one_correction(engine: sa.Engine, shop: Shop) -> None:
    load(engine, shop, [order(30, 7, "2026-06-01 12:00", ["100.00"])])
    sync(engine, shop)
    load(engine, shop, [order(30, 7, "2026-06-01 12:00", ["80.00"])])
    plain = sync(engine, shop)
    assert plain.entries_written == 0  # the earn exists; only reconcile changes amounts
    assert failed_checks(engine, shop) == {
        "ledger_matches_orders": {"differences": 1, "net_difference": -0.4, "examples": ["30 id:7"]}
    }
    assert sync(engine, shop, reconcile_ledger=True).entries == {"correction": 1}
    assert ledger(engine)[-1] == ("correction:30:id:7:1", "id:7", "correction", D("-0.40"))
    assert sync(engine, shop, reconcile_ledger=True).entries_written == 0
    assert failed_checks(engine, shop) == {}


def test_unpaid_orders_never_earn(engine: sa.Engine, shop: Shop) -> None:
    load(engine, shop, [
        order(40, 7, "2026-06-01 12:00", ["100.00"], status="pending", paid=False),
        order(41, 7, "2026-06-01 12:00", ["100.00"], status="on-hold", paid=False),
        order(42, 7, "2026-06-01 12:00", ["100.00"], status="failed", paid=False),
        order(43, 7, "2026-06-01 12:00", ["100.00"], status="cancelled"),  # paid once, cancelled: not Paid
        order(44, 7, "2026-06-01 12:00", ["100.00"], status="processing", paid=False),  # no date_paid
        order(45, "", "2026-06-01 12:00", ["100.00"]),  # paid, but nobody to credit
    ])  # fmt: skip
    result = sync(engine, shop)
    assert (result.orders_synced, result.orders_not_paid, result.entries_written) == (0, 5, 0)
    assert result.discrepancies == {"loyalty_orders": 1}
    assert rows(engine, "SELECT source_id, reason FROM loyalty.discrepancies WHERE resolved_at IS NULL") == [
        ("45", "paid order without a customer (no customer id and no email): not eligible for cashback")
    ]
    assert ledger(engine) == [] and placements(engine) == {}
    # Paid later: it earns at the next sync.
    load(engine, shop, [order(44, 7, "2026-06-01 12:00", ["100.00"], status="processing")])
    assert sync(engine, shop).entries == {"earn": 1}


def test_the_rate_is_the_tier_held_when_the_paid_day_began(engine: sa.Engine, shop: Shop) -> None:
    load(engine, shop, [
        order(50, 7, "2026-06-01 09:00", ["100.00"]),
        order(51, 7, "2026-06-01 18:00", ["100.00"]),  # same day: still Bronze
        order(52, 7, "2026-06-02 09:00", ["100.00"]),  # Silver since the end of June 1
    ])  # fmt: skip
    sync(engine, shop)
    assert [r[3] for r in ledger(engine)] == [D("2.00"), D("2.00"), D("5.00")]
    assert rows(engine, "SELECT order_id, tier, cashback_percent FROM loyalty.orders ORDER BY 1") == [
        ("50", "Bronze", D("2")), ("51", "Bronze", D("2")), ("52", "Silver", D("5")),
    ]  # fmt: skip
    # A new program does not re-price orders already taken in (the rate is frozen), but re-tiers everyone.
    set_program(engine, shop.key, LoyaltyProgram.from_dict(PROGRAM | {"tiers": [
        {"name": "Bronze", "min_spend": "0", "cashback_percent": "2"},
        {"name": "Silver", "min_spend": "100", "cashback_percent": "5"},
        {"name": "Gold", "min_spend": "300", "cashback_percent": "10"},
    ]}))  # fmt: skip
    changed = sync(engine, shop)
    assert (changed.reason, changed.entries_written, changed.customers_updated) == ("loyalty program changed", 0, 1)
    assert placements(engine) == {"id:7": ("Gold", D("300.00"), date(2027, 6, 2))}


def test_without_customer_metrics_tiers_wait_for_the_next_sync(engine: sa.Engine, shop: Shop) -> None:
    load(engine, shop, [order(60, 7, "2026-06-01 12:00", ["100.00"]), order(61, 8, "2026-06-01 12:00", ["10.00"])])
    result = sync(engine, shop, update_customer_metrics=False)
    assert (result.entries, result.customers_updated) == ({"earn": 2}, 0)
    assert placements(engine) == {}
    assert rows(engine, "SELECT customer_key FROM loyalty.pending_customers ORDER BY 1") == [("id:7",), ("id:8",)]
    assert failed_checks(engine, shop) == {}
    assert sync(engine, shop).customers_updated == 2
    assert placements(engine) == {
        "id:7": ("Silver", D("100.00"), date(2027, 6, 2)),
        "id:8": ("Bronze", D("10.00"), date(2027, 6, 2)),
    }
    assert rows(engine, "SELECT count(*) FROM loyalty.pending_customers") == [(0,)]


def test_recalculate_tiers_rederives_every_customer_without_touching_the_ledger(engine: sa.Engine, shop: Shop) -> None:
    load(engine, shop, [order(70, 7, "2026-06-01 12:00", ["100.00"]), order(71, 8, "2026-06-01 12:00", ["10.00"])])
    sync(engine, shop)
    with engine.begin() as conn:  # tiers damaged by hand
        conn.execute(sa.text("UPDATE loyalty.tier_placements SET tier = 'Gold', tier_rank = 3"))
    assert set(failed_checks(engine, shop)) == {"tiers_match_spend"}
    result = recalculate_tiers(engine, shop, as_of=AS_OF)
    assert (result.mode, result.customers_updated, result.entries_written) == ("recalculate_tiers", 2, 0)
    assert placements(engine)["id:7"][0] == "Silver"
    assert failed_checks(engine, shop) == {}


def test_the_ledger_is_append_only(engine: sa.Engine, shop: Shop) -> None:
    load(engine, shop, [order(80, 7, "2026-06-01 12:00", ["100.00"])])
    sync(engine, shop)
    for statement in ("UPDATE loyalty.cashback_ledger SET amount = 5", "DELETE FROM loyalty.cashback_ledger",
                      "TRUNCATE loyalty.cashback_ledger"):  # fmt: skip
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text(statement))
    assert ledger(engine) == [("earn:80", "id:7", "earn", D("2.00"))]


def test_a_shop_without_a_program_is_left_alone(engine: sa.Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM ops.loyalty_programs"))
    load(engine, shop, [order(90, 7, "2026-06-01 12:00", ["100.00"])])
    result = sync(engine, shop)
    assert (result.program, result.entries_written) == (False, 0)
    assert rows(engine, "SELECT count(*) FROM loyalty.sync_runs") == [(0,)]
    assert all(o.passed for o in run_checks(engine, shop))


def test_an_order_that_leaves_core_is_reversed_by_reconcile(engine: sa.Engine, shop: Shop) -> None:
    load(engine, shop, [order(95, 7, "2026-06-01 12:00", ["100.00"]), order(96, 7, "2026-06-02 12:00", ["10.00"])])
    sync(engine, shop)
    broken = order(95, 7, "2026-06-01 12:00", ["100.00"]) | {"total": "n/a"}  # the model quarantines it
    load(engine, shop, [broken])
    result = sync(engine, shop)
    assert (result.orders_left, result.entries_written) == (1, 0)
    assert result.discrepancies == {"loyalty_orders": 1, "orders": 1}
    assert rows(engine, "SELECT entity, source_id, reason FROM loyalty.discrepancies WHERE resolved_at IS NULL "
                        "ORDER BY 1") == [
        ("loyalty_orders", "95", "order earned cashback but is no longer paid: run a sync with reconcile_ledger"),
        ("orders", "95", "total is missing or not a number: n/a"),
    ]  # fmt: skip
    assert placements(engine)["id:7"][1] == D("10.00")
    fixed = sync(engine, shop, reconcile_ledger=True)
    assert (fixed.entries, fixed.discrepancies) == ({"correction": 1}, {"orders": 1})
    assert ledger(engine)[-1] == ("correction:95:id:7:1", "id:7", "correction", D("-2.00"))
    assert rows(engine, "SELECT balance FROM loyalty.balances") == [(D("0.50"),)]  # order 96: Silver, 5 % of 10.00


def test_excluded_products_and_shipping_in_the_basis(engine: sa.Engine, instance: dg.DagsterInstance) -> None:
    shop = register(engine, instance, excluded_products=["101"], include_shipping=True)
    load(
        engine, shop,
        # basis = the Mug line 60.00 + shipping 10.00 = 70.00 (the excluded 40.00 line and the tax are out): 1.40
        [order(97, 7, "2026-06-01 12:00", ["60.00", "40.00"], shipping="10.00", tax="8.00")],
        [
            refund(971, 97, "2026-06-03 12:00", "40.00", line=(971, 101)),  # the excluded line: nothing back
            refund(972, 97, "2026-06-04 12:00", "30.00", line=(970, 100)),  # 30 of 70: 1.40 × 30 / 70 = 0.60
        ],
    )  # fmt: skip
    sync(engine, shop)
    assert ledger(engine) == [("earn:97", "id:7", "earn", D("1.40")), ("clawback:972", "id:7", "clawback", D("-0.60"))]
    assert rows(engine, "SELECT basis, refunded_basis FROM loyalty.orders") == [(D("70.00"), D("30.00"))]
    assert placements(engine)["id:7"][:2] == ("Bronze", D("40.00"))


def test_checks_catch_a_ledger_written_around_the_sync(engine: sa.Engine, shop: Shop) -> None:
    load(engine, shop, [order(98, 7, "2026-06-01 12:00", ["100.00"])])
    sync(engine, shop)
    bogus = """
        INSERT INTO loyalty.cashback_ledger (shop_key, entry_key, customer_key, kind, order_id, refund_id, amount,
                                             entry_date, source)
        VALUES (:s, 'clawback:x', 'id:7', 'clawback', '98', 'x', -5.00, '2026-06-02', 'manual')
    """
    with engine.begin() as conn:  # a clawback bigger than the earn, booked by hand and not in the balance
        conn.execute(sa.text(bogus), {"s": shop.key})
    failed = failed_checks(engine, shop)
    assert set(failed) == {"balance_is_sum_of_entries", "clawbacks_within_earn", "ledger_matches_orders"}
    assert failed["clawbacks_within_earn"]["examples"] == ["98"]
    assert failed["balance_is_sum_of_entries"]["examples"] == ["id:7"]
