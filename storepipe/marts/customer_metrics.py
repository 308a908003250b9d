"""customer_metrics: one row per customer with their lifetime figures, first order and cohort."""

from __future__ import annotations

from storepipe.marts.base import Mart

# Cohorts are keyed by the first order: note a customer's cohorts before and after their row changes.
_NOTE_COHORTS = """
INSERT INTO dirty_cohorts
SELECT g.grain, CASE g.grain WHEN 'month' THEN m.cohort_month ELSE m.cohort_week END
FROM marts.customer_metrics m, (VALUES ('month'), ('week')) g(grain)
WHERE m.shop_key = :shop AND m.customer_key IN (SELECT customer_key FROM dirty_customers)
"""

# The dirty customers' cohorts before the refresh: the cohorts mart subtracts what they contributed there.
_KEEP_OLD_MEMBERS = """
CREATE TEMP TABLE old_members ON COMMIT DROP AS
SELECT m.customer_key, m.cohort_month, m.cohort_week FROM marts.customer_metrics m
WHERE m.shop_key = :shop AND m.customer_key IN (SELECT customer_key FROM dirty_customers)
"""

CUSTOMER_METRICS = Mart(
    name="customer_metrics",
    table="customer_metrics",
    description="Per customer (registered by id, guests by normalized email): first and last order, orders, "
    "items, gross, discounts, refunds, net, AOV, days between orders, returning, first source, coupon, product.",
    in_scope="t.customer_key IN (SELECT customer_key FROM dirty_customers)",
    before=(_NOTE_COHORTS, _KEEP_OLD_MEMBERS),
    insert="""
INSERT INTO marts.customer_metrics (
    shop_key, customer_key, email, registered, first_order_id, first_order_at, first_order_date, last_order_at,
    last_order_date, orders, items, gross_sales, discounts, refunds, net_sales, total_sales, aov,
    avg_days_between_orders, is_returning, first_source_type, first_source_key, first_coupon, first_product_key,
    cohort_month, cohort_week)
SELECT :shop, a.customer_key, cu.email, coalesce(cu.registered, false), fo.order_id, fo.ordered_at, fo.order_date,
       a.last_at, a.last_date, a.orders, a.items, a.gross, a.discounts, a.refunds, a.net, a.total,
       round(a.net / a.orders, 2),
       CASE WHEN a.orders > 1
            THEN round(CAST(extract(epoch FROM a.last_at - fo.ordered_at) AS numeric) / 86400 / (a.orders - 1), 2)
       END,
       a.orders > 1, fo.source_type, fo.source_key, fo.coupon_keys[1], fo.first_product_key,
       date_trunc('month', fo.order_date)::date, date_trunc('week', fo.order_date)::date
FROM (
    SELECT f.customer_key, count(*) AS orders, sum(f.items) AS items, sum(f.gross_sales) AS gross,
           sum(f.discounts) AS discounts, sum(f.refunds) AS refunds, sum(f.net_sales) AS net,
           sum(f.total_sales) AS total, max(f.ordered_at) AS last_at, max(f.order_date) AS last_date
    FROM marts.order_facts f
    WHERE f.shop_key = :shop AND f.counted AND f.customer_key IN (SELECT customer_key FROM dirty_customers)
    GROUP BY f.customer_key
) a
JOIN marts.order_facts fo ON fo.shop_key = :shop AND fo.customer_key = a.customer_key AND fo.customer_order_seq = 1
LEFT JOIN core.customers cu ON cu.shop_key = :shop AND cu.customer_key = a.customer_key
""",
    after=(_NOTE_COHORTS,),
)
