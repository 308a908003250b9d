"""Checks that the marts agree with core and with each other, to the cent; each belongs to one mart.

Every check is one SQL query returning (passed, details as JSON). They run after each refresh as Dagster
asset checks and can be run by hand (`run_checks`). The reconciliations follow docs/metrics.md:

    Σ daily net (either book) = Σ order net = Σ customer net + net of orders without a customer
                              = Σ product net − Σ refunds not allocated to lines
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from storepipe.marts.settings import get_metric_settings


@dataclass(frozen=True)
class MartCheck:
    name: str
    mart: str  # the mart (asset) the check is attached to
    description: str
    sql: str  # returns one row: passed boolean, details jsonb


@dataclass(frozen=True)
class CheckOutcome:
    check: MartCheck
    passed: bool
    details: dict[str, Any]


_COUNTED_CORE = """
    SELECT o.order_id FROM core.orders o
    WHERE o.shop_key = :shop AND NOT o.deleted AND o.status_group = ANY(CAST(:groups AS text[]))
      AND CASE WHEN :basis = 'paid' THEN o.paid_date ELSE o.created_date END IS NOT NULL
"""

# Up to ten keys of the rows a check found wrong (CTE `bad` with a column `key`), for the check's details.
EXAMPLES = "(SELECT coalesce(jsonb_agg(key), '[]') FROM (SELECT key FROM bad LIMIT 10) e)"

CHECKS: tuple[MartCheck, ...] = (
    MartCheck(
        "every_counted_order_present",
        "order_facts",
        "Every counted order of core is in the facts, counted, exactly once, and nothing else is counted.",
        f"""
        WITH core_counted AS ({_COUNTED_CORE}),
        facts AS (SELECT order_id FROM marts.order_facts WHERE shop_key = :shop AND counted),
        missing AS (SELECT order_id FROM core_counted EXCEPT SELECT order_id FROM facts),
        extra AS (SELECT order_id FROM facts EXCEPT SELECT order_id FROM core_counted)
        SELECT (SELECT count(*) FROM missing) = 0 AND (SELECT count(*) FROM extra) = 0,
               jsonb_build_object('core_counted', (SELECT count(*) FROM core_counted),
                                  'facts_counted', (SELECT count(*) FROM facts),
                                  'missing', (SELECT coalesce(jsonb_agg(order_id), '[]') FROM
                                              (SELECT order_id FROM missing LIMIT 10) m),
                                  'extra', (SELECT coalesce(jsonb_agg(order_id), '[]') FROM
                                            (SELECT order_id FROM extra LIMIT 10) e))
        """,
    ),
    MartCheck(
        "no_order_counted_twice",
        "daily_summary",
        "Orders per day add up to the counted orders in both books, and to the customers' orders plus those "
        "of orders without a customer.",
        """
        WITH f AS (SELECT count(*) AS orders, count(*) FILTER (WHERE customer_key IS NULL) AS anonymous
                   FROM marts.order_facts WHERE shop_key = :shop AND counted),
        d AS (SELECT book, sum(orders) AS orders FROM marts.daily_summary WHERE shop_key = :shop GROUP BY book),
        c AS (SELECT coalesce(sum(orders), 0) AS orders FROM marts.customer_metrics WHERE shop_key = :shop)
        SELECT coalesce((SELECT bool_and(d.orders = f.orders) FROM d), f.orders = 0)
               AND c.orders + f.anonymous = f.orders,
               jsonb_build_object('counted_orders', f.orders,
                                  'daily', (SELECT jsonb_object_agg(book, orders) FROM d),
                                  'customer_orders', c.orders, 'orders_without_customer', f.anonymous)
        FROM f, c
        """,
    ),
    MartCheck(
        "net_sales_reconcile",
        "daily_summary",
        "Σ daily net sales (either book) = Σ order net = Σ customer net + net of orders without a customer "
        "= Σ product net − refunds not allocated to lines, to the cent.",
        """
        WITH f AS (SELECT coalesce(sum(net_sales), 0) AS net,
                          coalesce(sum(net_sales) FILTER (WHERE customer_key IS NULL), 0) AS anonymous_net,
                          coalesce(sum(refunds_unallocated), 0) AS unallocated
                   FROM marts.order_facts WHERE shop_key = :shop AND counted),
        d AS (SELECT book, sum(net_sales) AS net FROM marts.daily_summary WHERE shop_key = :shop GROUP BY book),
        c AS (SELECT coalesce(sum(net_sales), 0) AS net FROM marts.customer_metrics WHERE shop_key = :shop),
        p AS (SELECT coalesce(sum(net_sales), 0) AS net FROM marts.product_sales WHERE shop_key = :shop)
        SELECT coalesce((SELECT bool_and(d.net = f.net) FROM d), f.net = 0)
               AND c.net + f.anonymous_net = f.net AND p.net - f.unallocated = f.net,
               jsonb_build_object('order_net', f.net, 'daily_net', (SELECT jsonb_object_agg(book, net) FROM d),
                                  'customer_net', c.net, 'net_without_customer', f.anonymous_net,
                                  'product_net', p.net, 'refunds_unallocated', f.unallocated)
        FROM f, c, p
        """,
    ),
    MartCheck(
        "refund_books_agree",
        "daily_summary",
        "The two books differ only in which day carries a refund: their totals of refunds, sales and "
        "orders are equal, and every refund of a counted order is in them.",
        """
        WITH b AS (SELECT book, sum(refunds) AS refunds, sum(total_sales) AS total FROM marts.daily_summary
                   WHERE shop_key = :shop GROUP BY book),
        r AS (SELECT coalesce(sum(amount), 0) AS refunds FROM marts.refund_facts WHERE shop_key = :shop)
        SELECT coalesce((SELECT bool_and(b.refunds = r.refunds) AND count(DISTINCT b.total) <= 1 FROM b),
                        r.refunds = 0),
               jsonb_build_object('refund_records', r.refunds,
                                  'books', (SELECT jsonb_object_agg(book, jsonb_build_object(
                                      'refunds', refunds, 'total_sales', total)) FROM b))
        FROM r
        """,
    ),
    MartCheck(
        "no_negative_units",
        "product_sales",
        "No product or variation sells negative units or refunds more units than it sold on that day.",
        f"""
        WITH bad AS (
            SELECT 'product:' || product_key || '@' || local_date AS key FROM marts.product_sales
            WHERE shop_key = :shop AND (units < 0 OR refunded_units < 0 OR refunded_units > units)
            UNION ALL
            SELECT 'variation:' || variation_key || '@' || local_date FROM marts.variation_sales
            WHERE shop_key = :shop AND (units < 0 OR refunded_units < 0 OR refunded_units > units)
        )
        SELECT count(*) = 0, jsonb_build_object('bad_rows', count(*), 'examples', {EXAMPLES})
        FROM bad
        """,
    ),
    MartCheck(
        "variations_within_products",
        "variation_sales",
        "Each product's variation units and net sales per day are at most the product's (variations are a "
        "part of their product's lines).",
        """
        WITH v AS (SELECT local_date, product_key, sum(units) AS units, sum(net_sales) AS net
                   FROM marts.variation_sales WHERE shop_key = :shop GROUP BY 1, 2),
        bad AS (SELECT v.* FROM v LEFT JOIN marts.product_sales p
                ON p.shop_key = :shop AND p.local_date = v.local_date AND p.product_key = v.product_key
                WHERE p.units IS NULL OR v.units > p.units)
        SELECT count(*) = 0, jsonb_build_object('bad_rows', count(*)) FROM bad
        """,
    ),
    MartCheck(
        "cohorts_cover_customers",
        "cohorts",
        "Month and week cohorts each hold every customer once: Σ cohort sizes at period 0 = customers, "
        "period-0 retention is 100 %, and cumulative net per cohort ends at its customers' net.",
        """
        WITH c AS (SELECT count(*) AS customers, coalesce(sum(net_sales), 0) AS net
                   FROM marts.customer_metrics WHERE shop_key = :shop),
        g AS (SELECT grain, sum(cohort_size) FILTER (WHERE period = 0) AS size,
                     bool_and(retention = 1) FILTER (WHERE period = 0) AS full_start,
                     sum(cumulative_net_sales) FILTER (WHERE (grain, cohort_start, period) IN (
                         SELECT grain, cohort_start, max(period) FROM marts.cohorts WHERE shop_key = :shop
                         GROUP BY grain, cohort_start)) AS net
              FROM marts.cohorts WHERE shop_key = :shop GROUP BY grain)
        SELECT coalesce((SELECT bool_and(g.size = c.customers AND g.full_start AND g.net = c.net)
                         AND count(*) = 2 FROM g), c.customers = 0),
               jsonb_build_object('customers', c.customers, 'customer_net', c.net,
                                  'grains', (SELECT jsonb_object_agg(grain, jsonb_build_object(
                                      'size', size, 'net', net)) FROM g))
        FROM c
        """,
    ),
    MartCheck(
        "customers_match_facts",
        "customer_metrics",
        "Each customer's orders, first order and returning flag agree with the order facts.",
        f"""
        WITH f AS (SELECT customer_key, count(*) AS orders FROM marts.order_facts
                   WHERE shop_key = :shop AND counted AND customer_key IS NOT NULL GROUP BY customer_key),
        bad AS (SELECT coalesce(f.customer_key, m.customer_key) AS key FROM f
                FULL JOIN (SELECT * FROM marts.customer_metrics WHERE shop_key = :shop) m
                  ON m.customer_key = f.customer_key
                WHERE m.orders IS DISTINCT FROM f.orders OR m.is_returning IS DISTINCT FROM (f.orders > 1))
        SELECT count(*) = 0, jsonb_build_object('bad_customers', count(*), 'examples', {EXAMPLES})
        FROM bad
        """,
    ),
    MartCheck(
        "sources_cover_orders",
        "source_attribution",
        "Source rows add up to the counted orders and net sales, and their new customers to the customers.",
        """
        WITH s AS (SELECT coalesce(sum(orders), 0) AS orders, coalesce(sum(net_sales), 0) AS net,
                          coalesce(sum(new_customers), 0) AS new_customers
                   FROM marts.source_attribution WHERE shop_key = :shop),
        f AS (SELECT count(*) AS orders, coalesce(sum(net_sales), 0) AS net FROM marts.order_facts
              WHERE shop_key = :shop AND counted),
        c AS (SELECT count(*) AS customers FROM marts.customer_metrics WHERE shop_key = :shop)
        SELECT s.orders = f.orders AND s.net = f.net AND s.new_customers = c.customers,
               jsonb_build_object('source_orders', s.orders, 'counted_orders', f.orders, 'source_net', s.net,
                                  'order_net', f.net, 'new_customers', s.new_customers, 'customers', c.customers)
        FROM s, f, c
        """,
    ),
    MartCheck(
        "coupons_match_redemptions",
        "coupon_performance",
        "Coupon orders and discounts add up to the coupon uses of counted orders in core.",
        """
        WITH p AS (SELECT coalesce(sum(orders), 0) AS orders, coalesce(sum(discount_total), 0) AS discount
                   FROM marts.coupon_performance WHERE shop_key = :shop),
        r AS (SELECT count(*) AS orders, coalesce(sum(cr.discount), 0) AS discount
              FROM core.coupon_redemptions cr
              JOIN marts.order_facts f ON f.shop_key = cr.shop_key AND f.order_id = cr.order_id AND f.counted
              WHERE cr.shop_key = :shop)
        SELECT p.orders = r.orders AND p.discount = r.discount,
               jsonb_build_object('coupon_orders', p.orders, 'redemptions', r.orders,
                                  'coupon_discount', p.discount, 'redeemed_discount', r.discount)
        FROM p, r
        """,
    ),
    MartCheck(
        "subscription_months_chain",
        "subscriptions",
        "Each month's active count at the end = at the start + new − churned, and equals the next month's start.",
        """
        WITH m AS (SELECT month, active_at_start, new_subscriptions, churned, active_at_end,
                          lead(active_at_start) OVER (ORDER BY month) AS next_start
                   FROM marts.subscriptions_monthly WHERE shop_key = :shop),
        bad AS (SELECT month FROM m WHERE active_at_end <> active_at_start + new_subscriptions - churned
                OR (next_start IS NOT NULL AND next_start <> active_at_end))
        SELECT count(*) = 0, jsonb_build_object('months', (SELECT count(*) FROM m), 'bad_months',
                                                coalesce(jsonb_agg(month), '[]'))
        FROM bad
        """,
    ),
)


def run_checks(engine: sa.Engine, shop_key: str, checks: tuple[MartCheck, ...] = CHECKS) -> list[CheckOutcome]:
    """Run the checks for one shop against the marts as they are now."""
    outcomes = []
    with engine.connect() as conn:
        settings = get_metric_settings(conn, shop_key)
        params = {"shop": shop_key, "groups": list(settings.counted_status_groups), "basis": settings.date_basis}
        for check in checks:
            passed, details = conn.execute(sa.text(check.sql), params).one()
            details = details if isinstance(details, dict) else json.loads(details)
            outcomes.append(CheckOutcome(check, bool(passed), details))
    return outcomes
