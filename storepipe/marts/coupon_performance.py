"""coupon_performance: per coupon code, its uses, the counted orders and revenue it touched, customers it won."""

from __future__ import annotations

from storepipe.marts.base import Mart

COUPON_PERFORMANCE = Mart(
    name="coupon_performance",
    table="coupon_performance",
    description="Per coupon: uses (orders of any status but deleted), counted orders, their net and total "
    "sales, discount given on them, customers, new customers (first counted order used it), first/last use.",
    in_scope="t.coupon_key IN (SELECT coupon_key FROM dirty_coupons)",
    # One pass over the facts of orders with coupons; codes and their discounts are unnested side by side.
    insert="""
WITH used AS (
    SELECT k.coupon_key, count(*) FILTER (WHERE NOT f.deleted) AS uses, count(*) FILTER (WHERE f.counted) AS orders,
           sum(f.net_sales) FILTER (WHERE f.counted) AS net_sales,
           sum(f.total_sales) FILTER (WHERE f.counted) AS total_sales,
           sum(k.discount) FILTER (WHERE f.counted) AS discount_total,
           count(DISTINCT f.customer_key) FILTER (WHERE f.counted) AS customers,
           count(*) FILTER (WHERE f.counted AND f.customer_order_seq = 1) AS new_customers,
           min(f.order_date) FILTER (WHERE f.counted) AS first_used,
           max(f.order_date) FILTER (WHERE f.counted) AS last_used
    FROM marts.order_facts f, unnest(f.coupon_keys, f.coupon_discounts) AS k(coupon_key, discount)
    WHERE f.shop_key = :shop AND f.coupon_keys <> '{}'
      AND k.coupon_key IN (SELECT coupon_key FROM dirty_coupons)
    GROUP BY k.coupon_key
)
INSERT INTO marts.coupon_performance (shop_key, coupon_key, code, uses, orders, net_sales, total_sales,
                                      discount_total, customers, new_customers, first_used_date, last_used_date)
SELECT :shop, u.coupon_key, coalesce(cp.code, u.coupon_key), u.uses, u.orders, coalesce(u.net_sales, 0),
       coalesce(u.total_sales, 0), coalesce(u.discount_total, 0), u.customers, u.new_customers, u.first_used,
       u.last_used
FROM used u
LEFT JOIN core.coupons cp ON cp.shop_key = :shop AND cp.coupon_key = u.coupon_key
WHERE u.uses > 0
""",
)
