"""Hand-computed mart values for the fixture shop (fixture_shop.py), checks on broken data, and the Dagster wiring."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import dagster as dg
import pytest
import sqlalchemy as sa

from storepipe.marts.checks import run_checks
from storepipe.marts.cohorts import cohort_matrix
from storepipe.marts.refresh import refresh_shop
from storepipe.marts.settings import MetricSettings, set_metric_settings
from storepipe.resources import WarehouseResource
from storepipe.settings import Settings
from storepipe.shops import Shop, ShopConfigError
from storepipe.sources.woocommerce.assets import marts as woocommerce_marts
from storepipe.sources.woocommerce.model import map_shop
from storepipe_tests.marts.fixture_shop import SHOP_KEY, register_fixture_shop


@pytest.fixture
def shop(engine: sa.Engine, instance: dg.DagsterInstance) -> Shop:
    shop = register_fixture_shop(engine, instance)
    map_shop(engine, shop, None)
    return shop


def rows(engine: sa.Engine, sql: str, **params: object) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), {"s": SHOP_KEY, **params})]


def by_key(engine: sa.Engine, table: str, key: str, columns: str, where: str = "true") -> dict:
    return {
        r[0]: r[1:]
        for r in rows(engine, f"SELECT {key}, {columns} FROM marts.{table} WHERE shop_key = :s AND {where} ORDER BY 1")
    }


def test_order_facts(engine: sa.Engine, shop: Shop) -> None:
    refresh_shop(engine, shop)
    facts = by_key(
        engine, "order_facts", "order_id",
        "counted, order_date, customer_key, customer_order_seq, items, gross_sales, discounts, shipping, taxes, "
        "fees, refunds, refunds_unallocated, net_sales, total_sales",
    )  # fmt: skip
    assert facts == {
        "1001": (True, date(2026, 1, 10), "id:7", 1, 3, D("50.00"), D("5.00"), D("5.00"), D("0.00"), 0, D("9.00"),
                 0, D("36.00"), D("41.00")),
        # 23:30 in New York on January 31 is February 1 in UTC: the local date decides.
        "1002": (True, date(2026, 1, 31), "id:7", 2, 1, D("30.00"), 0, 0, D("2.40"), 0, D("10.00"), D("10.00"),
                 D("20.00"), D("22.40")),
        "1003": (True, date(2026, 2, 1), "email:bob@example.com", 1, 3, D("15.00"), 0, D("4.00"), 0, D("2.00"), 0,
                 0, D("15.00"), D("21.00")),
        "1004": (False, date(2026, 2, 10), "id:8", None, 1, D("10.00"), D("1.00"), 0, 0, 0, 0, 0, D("9.00"),
                 D("9.00")),
        "1005": (False, date(2026, 2, 11), "id:8", None, 1, D("10.00"), 0, 0, 0, 0, 0, 0, D("10.00"), D("10.00")),
        "1006": (True, date(2026, 2, 15), "id:8", 1, 1, D("10.00"), D("1.00"), 0, 0, 0, 0, 0, D("9.00"), D("9.00")),
        "1007": (True, date(2026, 3, 2), "email:bob@example.com", 2, 1, D("10.00"), 0, 0, 0, 0, D("10.00"), 0, 0, 0),
    }  # fmt: skip


def test_customer_metrics(engine: sa.Engine, shop: Shop) -> None:
    refresh_shop(engine, shop)
    customers = by_key(
        engine, "customer_metrics", "customer_key",
        "email, registered, first_order_id, first_order_date, last_order_date, orders, items, gross_sales, discounts, "
        "refunds, net_sales, total_sales, aov, avg_days_between_orders, is_returning, first_source_type, "
        "first_coupon, first_product_key, cohort_month, cohort_week",
    )  # fmt: skip
    assert customers == {
        # The guest order 1002 (" ANN@example.com") belongs to registered customer 7: one person.
        "id:7": ("ann@example.com", True, "1001", date(2026, 1, 10), date(2026, 1, 31), 2, 4, D("80.00"), D("5.00"),
                 D("19.00"), D("56.00"), D("63.40"), D("28.00"), D("21.56"), True, "organic", "save10", "100",
                 date(2026, 1, 1), date(2026, 1, 5)),
        "email:bob@example.com": ("bob@example.com", False, "1003", date(2026, 2, 1), date(2026, 3, 2), 2, 4,
                                  D("25.00"), 0, D("10.00"), D("15.00"), D("21.00"), D("7.50"), D("29.35"), True,
                                  "typein", None, "300", date(2026, 2, 1), date(2026, 1, 26)),
        "id:8": ("cy@example.com", True, "1006", date(2026, 2, 15), date(2026, 2, 15), 1, 1, D("10.00"), D("1.00"),
                 0, D("9.00"), D("9.00"), D("9.00"), None, False, "utm", "save10", "100", date(2026, 2, 1),
                 date(2026, 2, 9)),
    }  # fmt: skip


def test_daily_summary_in_two_books(engine: sa.Engine, shop: Shop) -> None:
    refresh_shop(engine, shop)
    columns = "orders, items, gross_sales, discounts, shipping, taxes, fees, refunds, net_sales, total_sales, " \
              "new_customers, returning_customers, aov"  # fmt: skip
    order_book = by_key(engine, "daily_summary", "local_date", columns, "book = 'order_date' AND orders + refunds > 0")
    assert order_book == {
        date(2026, 1, 10): (1, 3, D("50.00"), D("5.00"), D("5.00"), 0, 0, D("9.00"), D("36.00"), D("41.00"), 1, 0,
                            D("36.00")),
        date(2026, 1, 31): (1, 1, D("30.00"), 0, 0, D("2.40"), 0, D("10.00"), D("20.00"), D("22.40"), 0, 1,
                            D("20.00")),
        date(2026, 2, 1): (1, 3, D("15.00"), 0, D("4.00"), 0, D("2.00"), 0, D("15.00"), D("21.00"), 1, 0, D("15.00")),
        date(2026, 2, 15): (1, 1, D("10.00"), D("1.00"), 0, 0, 0, 0, D("9.00"), D("9.00"), 1, 0, D("9.00")),
        date(2026, 3, 2): (1, 1, D("10.00"), 0, 0, 0, 0, D("10.00"), 0, 0, 0, 1, D("0.00")),
    }  # fmt: skip
    refund_book = by_key(engine, "daily_summary", "local_date", "refunds, net_sales, total_sales",
                         "book = 'refund_date' AND (orders > 0 OR refunds > 0)")  # fmt: skip
    assert refund_book == {
        date(2026, 1, 10): (0, D("45.00"), D("50.00")),
        date(2026, 1, 12): (D("9.00"), D("-9.00"), D("-9.00")),
        date(2026, 1, 31): (0, D("30.00"), D("32.40")),
        date(2026, 2, 1): (0, D("15.00"), D("21.00")),
        date(2026, 2, 15): (0, D("9.00"), D("9.00")),
        date(2026, 3, 2): (0, D("10.00"), D("10.00")),
        date(2026, 3, 3): (D("10.00"), D("-10.00"), D("-10.00")),
        date(2026, 3, 5): (D("10.00"), D("-10.00"), D("-10.00")),
    }
    # Every day from the first sale to the last refund, quiet days as zero rows, in both books.
    assert rows(engine, "SELECT book, count(*), min(local_date), max(local_date), sum(net_sales) "
                        "FROM marts.daily_summary WHERE shop_key = :s GROUP BY book ORDER BY book") == [
        ("order_date", 55, date(2026, 1, 10), date(2026, 3, 5), D("80.00")),
        ("refund_date", 55, date(2026, 1, 10), date(2026, 3, 5), D("80.00")),
    ]  # fmt: skip


def test_product_and_variation_sales(engine: sa.Engine, shop: Shop) -> None:
    refresh_shop(engine, shop)
    products = rows(
        engine,
        "SELECT product_key, local_date, product_name, units, gross_sales, discounts, refunded_units, refunded_amount, "
        "net_sales, orders, customers FROM marts.product_sales WHERE shop_key = :s ORDER BY 1, 2",
    )
    assert products == [
        ("100", date(2026, 1, 10), "Mug", 2, D("20.00"), D("2.00"), 1, D("9.00"), D("9.00"), 1, 1),
        ("100", date(2026, 2, 15), "Mug", 1, D("10.00"), D("1.00"), 0, 0, D("9.00"), 1, 1),
        ("100", date(2026, 3, 2), "Mug", 1, D("10.00"), D("0.00"), 1, D("10.00"), D("0.00"), 1, 1),
        ("200", date(2026, 1, 10), "Shirt", 1, D("30.00"), D("3.00"), 0, 0, D("27.00"), 1, 1),
        ("200", date(2026, 1, 31), "Shirt", 1, D("30.00"), D("0.00"), 0, 0, D("30.00"), 1, 1),
        # Deleted from the catalog: still sold, named by its order line.
        ("300", date(2026, 2, 1), "Old Poster", 3, D("15.00"), D("0.00"), 0, 0, D("15.00"), 1, 1),
    ]  # fmt: skip
    assert rows(engine, "SELECT variation_key, local_date, product_key, units, net_sales FROM marts.variation_sales "
                        "WHERE shop_key = :s ORDER BY 1") == [
        ("201", date(2026, 1, 10), "200", 1, D("27.00")),
        ("202", date(2026, 1, 31), "200", 1, D("30.00")),
    ]  # fmt: skip


def test_coupons_and_sources(engine: sa.Engine, shop: Shop) -> None:
    refresh_shop(engine, shop)
    assert by_key(
        engine, "coupon_performance", "coupon_key",
        "code, uses, orders, net_sales, total_sales, discount_total, customers, new_customers, first_used_date, "
        "last_used_date",
    ) == {
        # Used three times (the cancelled 1004 too), on two counted orders, each a customer's first.
        "save10": ("SAVE10", 3, 2, D("45.00"), D("50.00"), D("6.00"), 2, 2, date(2026, 1, 10), date(2026, 2, 15)),
    }  # fmt: skip
    assert rows(
        engine,
        "SELECT source_type, utm_source, device_type, orders, net_sales, new_customers "
        "FROM marts.source_attribution WHERE shop_key = :s ORDER BY source_type NULLS FIRST",
    ) == [
        (None, None, None, 2, D("20.00"), 0),  # 1002 and 1007 carry no attribution
        ("organic", None, "Desktop", 1, D("36.00"), 1),
        ("typein", None, "Mobile", 1, D("15.00"), 1),
        ("utm", "google", "Mobile", 1, D("9.00"), 1),
    ]  # fmt: skip


def test_cohorts_by_month_and_week(engine: sa.Engine, shop: Shop) -> None:
    refresh_shop(engine, shop)
    months = rows(
        engine,
        "SELECT cohort_start, period, cohort_size, active_customers, retention, orders, net_sales, ltv, aov, "
        "cumulative_orders_per_customer FROM marts.cohorts WHERE shop_key = :s AND grain = 'month' ORDER BY 1, 2",
    )
    assert months == [
        # Customer 7's second order (January 31, 23:30 local) stays in January: period 0.
        (date(2026, 1, 1), 0, 1, 1, D("1.0000"), 2, D("56.00"), D("56.00"), D("28.00"), D("2.0000")),
        (date(2026, 1, 1), 1, 1, 0, D("0.0000"), 0, 0, D("56.00"), None, D("2.0000")),
        (date(2026, 1, 1), 2, 1, 0, D("0.0000"), 0, 0, D("56.00"), None, D("2.0000")),
        (date(2026, 2, 1), 0, 2, 2, D("1.0000"), 2, D("24.00"), D("12.00"), D("12.00"), D("1.0000")),
        (date(2026, 2, 1), 1, 2, 1, D("0.5000"), 1, D("0.00"), D("12.00"), D("0.00"), D("1.5000")),
    ]  # fmt: skip
    weeks = rows(engine, "SELECT cohort_start, count(*), sum(active_customers), sum(orders) FROM marts.cohorts "
                         "WHERE shop_key = :s AND grain = 'week' GROUP BY 1 ORDER BY 1")  # fmt: skip
    assert weeks == [(date(2026, 1, 5), 9, 2, 2), (date(2026, 1, 26), 6, 2, 2), (date(2026, 2, 9), 4, 1, 1)]
    matrix = cohort_matrix(engine, SHOP_KEY, grain="month", value="retention")
    assert matrix.shape == (2, 3)
    assert matrix.loc[(date(2026, 2, 1), 2), 1] == D("0.5000")
    assert matrix.isna().sum().sum() == 1  # the February cohort has no third month yet


def test_subscriptions_by_month(engine: sa.Engine, shop: Shop) -> None:
    refresh_shop(engine, shop)
    assert rows(
        engine,
        "SELECT month, active_at_start, new_subscriptions, churned, active_at_end, mrr, churn_rate "
        "FROM marts.subscriptions_monthly WHERE shop_key = :s AND month < '2026-05-01' ORDER BY 1",
    ) == [
        (date(2026, 1, 1), 0, 1, 0, 1, D("20.00"), None),
        (date(2026, 2, 1), 1, 1, 0, 2, D("30.00"), D("0.0000")),  # the yearly 120.00 is 10.00 a month
        (date(2026, 3, 1), 2, 0, 1, 1, D("20.00"), D("0.5000")),
        (date(2026, 4, 1), 1, 0, 0, 1, D("20.00"), D("0.0000")),
    ]  # fmt: skip


def test_paid_date_basis_moves_orders_to_their_payment_day(engine: sa.Engine, shop: Shop) -> None:
    set_metric_settings(engine, SHOP_KEY, MetricSettings(("paid", "refunded"), "paid"))
    refresh_shop(engine, shop)
    # 1002 was paid at 00:00 on February 1 (local): on the paid basis it is a February sale.
    assert by_key(engine, "order_facts", "order_id", "order_date", "order_id = '1002'") == {"1002": (date(2026, 2, 1),)}
    assert rows(engine, "SELECT period, active_customers FROM marts.cohorts WHERE shop_key = :s AND grain = 'month' "
                        "AND cohort_start = '2026-01-01' ORDER BY 1") == [(0, 1), (1, 1), (2, 0)]  # fmt: skip
    assert [o.check.name for o in run_checks(engine, SHOP_KEY) if not o.passed] == []


def test_settings_are_validated_with_a_clear_error() -> None:
    with pytest.raises(ShopConfigError, match=r"counted_status_groups.*choose from"):
        MetricSettings(("paid", "shipped"))
    with pytest.raises(ShopConfigError, match="date_basis"):
        MetricSettings(date_basis="completed")


def test_every_check_passes_on_the_fixture(engine: sa.Engine, shop: Shop) -> None:
    refresh_shop(engine, shop)
    outcomes = run_checks(engine, SHOP_KEY)
    assert len(outcomes) >= 10
    assert {o.check.name: o.passed for o in outcomes} == {o.check.name: True for o in outcomes}


@pytest.mark.parametrize(
    ("breakage", "failing"),
    [
        ("UPDATE marts.daily_summary SET net_sales = net_sales + 0.01 WHERE book = 'order_date' "
         "AND local_date = '2026-01-10'", {"net_sales_reconcile"}),
        ("UPDATE marts.product_sales SET units = -1 WHERE product_key = '300'", {"no_negative_units"}),
        # A counted order lost from the facts: missing from core's view, and every total that includes it disagrees.
        ("UPDATE marts.order_facts SET counted = false WHERE order_id = '1003'",
         {"every_counted_order_present", "no_order_counted_twice", "net_sales_reconcile", "customers_match_facts",
          "sources_cover_orders"}),
        ("UPDATE marts.daily_summary SET orders = orders + 1 WHERE local_date = '2026-02-01'",
         {"no_order_counted_twice"}),
        ("UPDATE marts.daily_summary SET refunds = 0, net_sales = net_sales + 10 WHERE book = 'refund_date' "
         "AND local_date = '2026-03-05'", {"refund_books_agree", "net_sales_reconcile"}),
        ("DELETE FROM marts.cohorts WHERE grain = 'week' AND cohort_start = '2026-02-09'", {"cohorts_cover_customers"}),
        ("UPDATE marts.customer_metrics SET orders = 3 WHERE customer_key = 'id:8'",
         {"customers_match_facts", "no_order_counted_twice"}),
        ("UPDATE marts.source_attribution SET new_customers = 0 WHERE source_type = 'utm'", {"sources_cover_orders"}),
        ("UPDATE marts.coupon_performance SET discount_total = 5", {"coupons_match_redemptions"}),
        ("UPDATE marts.subscriptions_monthly SET churned = 0 WHERE month = '2026-03-01'",
         {"subscription_months_chain"}),
        ("UPDATE marts.variation_sales SET units = 5 WHERE variation_key = '201'",
         {"variations_within_products"}),
    ],
)  # fmt: skip
def test_checks_fail_on_broken_marts(engine: sa.Engine, shop: Shop, breakage: str, failing: set[str]) -> None:
    refresh_shop(engine, shop)
    with engine.begin() as conn:
        conn.execute(sa.text(breakage))
    assert {o.check.name for o in run_checks(engine, SHOP_KEY) if not o.passed} == failing


def test_marts_materialize_in_dagster_with_their_checks(
    engine: sa.Engine, shop: Shop, settings: Settings, instance: dg.DagsterInstance
) -> None:
    result = dg.materialize(
        [woocommerce_marts],
        partition_key=SHOP_KEY,
        instance=instance,
        resources={"warehouse": WarehouseResource(database_url=settings.database_url)},
    )
    assert result.success
    materialized = {e.asset_key.to_user_string(): e for e in result.get_asset_materialization_events()}
    assert set(materialized) == {f"woocommerce/marts/{n}" for n in (
        "order_facts", "customer_metrics", "cohorts", "product_sales", "variation_sales", "coupon_performance",
        "source_attribution", "daily_summary", "subscriptions")}  # fmt: skip
    metadata = materialized["woocommerce/marts/customer_metrics"].materialization.metadata
    assert metadata["dagster/row_count"].value == 3
    assert metadata["refresh"].value == "full rebuild"
    checks = result.get_asset_check_evaluations()
    assert len(checks) >= 10 and all(c.passed for c in checks)
    # A second run with nothing changed is incremental and rewrites nothing.
    again = dg.materialize(
        [woocommerce_marts], partition_key=SHOP_KEY, instance=instance,
        resources={"warehouse": WarehouseResource(database_url=settings.database_url)},
    )  # fmt: skip
    facts = next(
        e for e in again.get_asset_materialization_events() if e.asset_key.path[-1] == "order_facts"
    ).materialization.metadata
    assert facts["refresh"].value == "incremental" and facts["changed_orders"].value == 0


def test_status_shows_when_marts_were_refreshed(engine: sa.Engine, shop: Shop) -> None:
    from storepipe.status import marts_lines

    assert marts_lines(engine, [SHOP_KEY]) == []
    refresh_shop(engine, shop)
    (line,) = marts_lines(engine, [SHOP_KEY])
    assert line.startswith("fixture: marts refreshed 20") and line.endswith(
        "UTC, counting paid, refunded orders by their created date"
    )


def test_incremental_refresh_equals_rebuild_when_customers_leave_move_and_the_last_day_moves(
    engine: sa.Engine, shop: Shop
) -> None:
    from datetime import UTC, datetime

    from storepipe_tests.marts.fixture_shop import ORDERS, write_raw
    from storepipe_tests.marts.test_incremental import snapshot

    def change(order_id: int, **fields: object) -> None:
        since = datetime.now(UTC)
        order = next(o for o in ORDERS if o["id"] == order_id)
        with engine.begin() as conn:
            write_raw(conn, "orders", [{**order, **fields}])
        map_shop(engine, shop, since)
        incremental = refresh_shop(engine, shop)
        assert not incremental.full
        after = snapshot(engine, SHOP_KEY)
        assert refresh_shop(engine, shop, full=True).full
        assert snapshot(engine, SHOP_KEY) == after, f"order {order_id}: {fields}"
        assert [o.check.name for o in run_checks(engine, SHOP_KEY) if not o.passed] == []

    refresh_shop(engine, shop)
    change(1006, status="cancelled")  # customer 8 leaves: the 2026-02 cohort shrinks, week 2026-02-09 goes
    change(1007, status="cancelled")  # the latest sale goes: cohorts lose their last period
    change(1005, status="completed", date_paid_gmt="2026-01-05T12:00:00")  # customer 8 is back, in January
    change(1003, date_created_gmt="2026-01-20T12:00:00", date_paid_gmt="2026-01-20T12:00:00")  # bob moves too
    assert by_key(engine, "customer_metrics", "customer_key", "cohort_month") == {
        "email:bob@example.com": (date(2026, 1, 1),),
        "id:7": (date(2026, 1, 1),),
        "id:8": (date(2026, 2, 1),),  # 1005 was created on 2026-02-11: the created date decides
    }


def test_full_rebuild_is_run_config(
    engine: sa.Engine, shop: Shop, settings: Settings, instance: dg.DagsterInstance
) -> None:
    resources = {"warehouse": WarehouseResource(database_url=settings.database_url)}
    dg.materialize([woocommerce_marts], partition_key=SHOP_KEY, instance=instance, resources=resources)
    rebuilt = dg.materialize(
        [woocommerce_marts], partition_key=SHOP_KEY, instance=instance, resources=resources,
        run_config={"ops": {"woocommerce_marts": {"config": {"full_rebuild": True}}}},
    )  # fmt: skip
    facts = next(e for e in rebuilt.get_asset_materialization_events() if e.asset_key.path[-1] == "order_facts")
    assert facts.materialization.metadata["refresh"].value == "full rebuild"
    assert facts.materialization.metadata["reason"].value == "requested"
