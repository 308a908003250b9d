"""coupon_performance: per coupon code, its uses, the counted orders and revenue it touched, customers it won."""

from __future__ import annotations

from storepipe.marts.base import Mart

COUPON_PERFORMANCE = Mart(
    name="coupon_performance",
    table="coupon_performance",
    description="Per coupon: uses (orders of any status but deleted), counted orders, their net and total "
    "sales, discount given on them, customers, new customers (first counted order used it), first/last use.",
    in_scope="t.coupon_key IN (SELECT coupon_key FROM dirty_coupons)",
    insert="""
WITH dirty AS (
    SELECT DISTINCT coupon_key FROM dirty_coupons
), uses AS (
    SELECT cr.coupon_key, count(*) AS uses,
           sum(cr.discount) FILTER (WHERE f.counted) AS discount_total
    FROM core.coupon_redemptions cr
    JOIN core.orders o ON o.shop_key = cr.shop_key AND o.order_id = cr.order_id AND NOT o.deleted
    JOIN marts.order_facts f ON f.shop_key = cr.shop_key AND f.order_id = cr.order_id
    WHERE cr.shop_key = :shop AND cr.coupon_key IN (SELECT coupon_key FROM dirty)
    GROUP BY cr.coupon_key
), counted AS (
    SELECT k.coupon_key, count(*) AS orders, sum(f.net_sales) AS net_sales, sum(f.total_sales) AS total_sales,
           count(DISTINCT f.customer_key) AS customers,
           count(DISTINCT f.customer_key) FILTER (WHERE f.customer_order_seq = 1) AS new_customers,
           min(f.order_date) AS first_used, max(f.order_date) AS last_used
    FROM marts.order_facts f, unnest(f.coupon_keys) AS k(coupon_key)
    WHERE f.shop_key = :shop AND f.counted AND k.coupon_key IN (SELECT coupon_key FROM dirty)
    GROUP BY k.coupon_key
)
INSERT INTO marts.coupon_performance (shop_key, coupon_key, code, uses, orders, net_sales, total_sales,
                                      discount_total, customers, new_customers, first_used_date, last_used_date)
SELECT :shop, u.coupon_key, coalesce(cp.code, u.coupon_key), u.uses, coalesce(c.orders, 0),
       coalesce(c.net_sales, 0), coalesce(c.total_sales, 0), coalesce(u.discount_total, 0),
       coalesce(c.customers, 0), coalesce(c.new_customers, 0), c.first_used, c.last_used
FROM uses u
LEFT JOIN counted c ON c.coupon_key = u.coupon_key
LEFT JOIN core.coupons cp ON cp.shop_key = :shop AND cp.coupon_key = u.coupon_key
""",
)
