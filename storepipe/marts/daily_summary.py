"""daily_summary: per shop-local day, sales and customers in two books — refunds on the order's date or the refund's."""

from __future__ import annotations

from storepipe.marts.base import Mart

# Days run without gaps from the shop's first to its last sale or refund (zero rows on quiet days, as
# WooCommerce Analytics shows them): days that enter or leave that range are dirty too.
_BOUNDS = """
SELECT min(d) AS lo, max(d) AS hi FROM (
    SELECT min(order_date) AS d FROM marts.order_facts WHERE shop_key = :shop AND counted
    UNION ALL SELECT max(order_date) FROM marts.order_facts WHERE shop_key = :shop AND counted
    UNION ALL SELECT min(refund_date) FROM marts.refund_facts WHERE shop_key = :shop
    UNION ALL SELECT max(refund_date) FROM marts.refund_facts WHERE shop_key = :shop
) x
"""
_EDGES = (
    f"""
INSERT INTO dirty_days
SELECT d::date FROM ({_BOUNDS}) b, generate_series(b.lo, b.hi, interval '1 day') d
WHERE NOT EXISTS (SELECT 1 FROM marts.daily_summary s
                  WHERE s.shop_key = :shop AND s.book = 'order_date' AND s.local_date = d::date)
""",
    f"""
INSERT INTO dirty_days
SELECT s.local_date FROM marts.daily_summary s, ({_BOUNDS}) b
WHERE s.shop_key = :shop AND s.book = 'order_date' AND (b.lo IS NULL OR s.local_date NOT BETWEEN b.lo AND b.hi)
""",
)

DAILY_SUMMARY = Mart(
    name="daily_summary",
    table="daily_summary",
    description="Per shop-local day, in two books (book = order_date: refunds on the order's day; refund_date: "
    "on the refund's day): orders, items, gross, discounts, shipping, taxes, fees, refunds, net, total, "
    "new and returning customers, AOV.",
    in_scope="t.local_date IN (SELECT local_date FROM dirty_days)",
    before=(*_EDGES, "ANALYZE dirty_days"),
    insert=f"""
WITH days AS (
    SELECT DISTINCT dd.local_date AS d FROM dirty_days dd, ({_BOUNDS}) b WHERE dd.local_date BETWEEN b.lo AND b.hi
), sales AS (
    SELECT f.order_date AS d, count(*) AS orders, sum(f.items) AS items, sum(f.gross_sales) AS gross,
           sum(f.discounts) AS discounts, sum(f.shipping) AS shipping, sum(f.taxes) AS taxes, sum(f.fees) AS fees,
           sum(f.refunds) AS refunds,
           -- A customer's order number 1 is unique, so new customers need no DISTINCT; returning ones are the
           -- day's other customers (their first order was on an earlier day).
           count(*) FILTER (WHERE f.customer_order_seq = 1) AS new_customers,
           count(DISTINCT f.customer_key) - count(*) FILTER (WHERE f.customer_order_seq = 1) AS returning_customers
    FROM marts.order_facts f
    WHERE f.shop_key = :shop AND f.counted AND f.order_date IN (SELECT d FROM days)
    GROUP BY f.order_date
), refunded AS (
    SELECT r.refund_date AS d, sum(r.amount) AS refunds FROM marts.refund_facts r
    WHERE r.shop_key = :shop AND r.refund_date IN (SELECT d FROM days)
    GROUP BY r.refund_date
), rows AS (
    SELECT b.book, days.d, coalesce(s.orders, 0) AS orders, coalesce(s.items, 0) AS items,
           coalesce(s.gross, 0) AS gross, coalesce(s.discounts, 0) AS discounts,
           coalesce(s.shipping, 0) AS shipping, coalesce(s.taxes, 0) AS taxes, coalesce(s.fees, 0) AS fees,
           CASE b.book WHEN 'order_date' THEN coalesce(s.refunds, 0) ELSE coalesce(r.refunds, 0) END AS refunds,
           coalesce(s.new_customers, 0) AS new_customers, coalesce(s.returning_customers, 0) AS returning_customers
    FROM days
    CROSS JOIN (VALUES ('order_date'), ('refund_date')) b(book)
    LEFT JOIN sales s ON s.d = days.d
    LEFT JOIN refunded r ON r.d = days.d
)
INSERT INTO marts.daily_summary (shop_key, book, local_date, orders, items, gross_sales, discounts, shipping, taxes,
                                 fees, refunds, net_sales, total_sales, new_customers, returning_customers, aov)
SELECT :shop, book, d, orders, items, gross, discounts, shipping, taxes, fees, refunds,
       gross - discounts - refunds, gross - discounts - refunds + shipping + taxes + fees,
       new_customers, returning_customers,
       CASE WHEN orders > 0 THEN round((gross - discounts - refunds) / orders, 2) END
FROM rows
""",
)
