"""The fact tables every mart reads: one row per order, per counted order line and per counted refund.

Facts are rebuilt for the orders that changed in core (core.order_changes); the keys those orders had
before and have after (customers, days, products, coupons, sources) become the dirty sets the marts
refresh. The formulas live here once and are documented in docs/metrics.md:

    gross_sales  = Σ line subtotal (price × quantity before discounts, excluding tax)
    discounts    = Σ (line subtotal − line total)
    refunds      = Σ refund amounts of the order (money returned, including refunded tax and shipping)
    net_sales    = gross_sales − discounts − refunds
    total_sales  = net_sales + shipping + taxes + fees
    refunds_unallocated = refunds − the part refunded against order lines (tax, shipping, fees, or an
                          amount-only refund), so Σ line net_sales − Σ refunds_unallocated = Σ order net_sales
"""

from __future__ import annotations

import re

# Orders that identify nobody (no customer id, no email) are sales of no customer.
_CUSTOMER = "CASE WHEN o.customer_key IS NULL OR o.customer_key = 'email:' THEN NULL ELSE o.customer_key END"
_SOURCE_DIMS = ("source_type", "referrer", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
                "device_type")  # fmt: skip
# One text key per combination of attribution values; '' for orders without attribution.
_SOURCE_KEY = (
    "CASE WHEN at.order_id IS NULL THEN '' ELSE md5(concat_ws(chr(31), "
    + ", ".join(f"coalesce(at.{d}, chr(1))" for d in _SOURCE_DIMS)
    + ")) END"
)
# Sorting ids as numbers when they are numeric strings: '9' before '10'.
ORDER_ID_SORT = "length(order_id), order_id"



def _changed(alias: str) -> str:
    """A marker in a FROM clause: `scoped` turns it into a join with the changed orders, or drops it."""
    return f"/*changed {alias}*/"


def scoped(sql: str, *, full: bool) -> str:
    """The statement for an incremental refresh (joined to changed_orders, so PostgreSQL walks the indexes
    from the few changed orders) or for a rebuild (every order: plain scans, measured 2x faster than
    probing a million keys)."""
    return re.sub(
        r"/\*changed (\w+)\*/",
        lambda m: "" if full else f"JOIN changed_orders c_{m[1]} ON c_{m[1]}.order_id = {m[1]}.order_id",
        sql,
    )


CREATE_WORK_TABLES = """
CREATE TEMP TABLE changed_orders (order_id text PRIMARY KEY) ON COMMIT DROP;
CREATE TEMP TABLE dirty_customers (customer_key text) ON COMMIT DROP;
CREATE TEMP TABLE dirty_days (local_date date) ON COMMIT DROP;
CREATE TEMP TABLE dirty_product_days (product_key text, local_date date) ON COMMIT DROP;
CREATE TEMP TABLE dirty_variation_days (variation_key text, local_date date) ON COMMIT DROP;
CREATE TEMP TABLE dirty_coupons (coupon_key text) ON COMMIT DROP;
CREATE TEMP TABLE dirty_sources (source_key text) ON COMMIT DROP;
CREATE TEMP TABLE dirty_cohorts (grain text, cohort_start date) ON COMMIT DROP;
"""
WORK_TABLES = ("changed_orders", "dirty_customers", "dirty_days", "dirty_product_days", "dirty_variation_days",
               "dirty_coupons", "dirty_sources", "dirty_cohorts")  # fmt: skip

CHANGED_SINCE = """
INSERT INTO changed_orders
SELECT order_id FROM core.order_changes
WHERE shop_key = :shop AND change_id > :last_change AND change_id <= :high_change
"""

# A rebuild re-derives every order of the shop; changed_orders stays empty (see _changed).
COUNT_ALL = "SELECT count(*) FROM core.orders WHERE shop_key = :shop"

# The keys the changed orders have in the facts: run before the facts are replaced (the keys they had)
# and after (the keys they have now).
# One read of the changed orders' facts feeds every dirty set (data-modifying CTEs).
MARK_DIRTY = (
    f"""
    WITH f AS (
        SELECT f.customer_key, f.order_date, f.counted, f.coupon_keys, f.source_key
        FROM marts.order_facts f {_changed("f")} WHERE f.shop_key = :shop
    ), customers AS (
        INSERT INTO dirty_customers SELECT DISTINCT customer_key FROM f WHERE customer_key IS NOT NULL
    ), days AS (
        INSERT INTO dirty_days SELECT DISTINCT order_date FROM f WHERE counted
    ), coupons AS (
        INSERT INTO dirty_coupons SELECT DISTINCT unnest(coupon_keys) FROM f
    )
    INSERT INTO dirty_sources SELECT DISTINCT source_key FROM f WHERE counted
    """,
    f"""
    INSERT INTO dirty_days SELECT DISTINCT f.refund_date FROM marts.refund_facts f {_changed("f")}
    WHERE f.shop_key = :shop
    """,
    f"""
    WITH f AS (
        SELECT f.product_key, f.variation_key, f.order_date FROM marts.line_facts f {_changed("f")}
        WHERE f.shop_key = :shop
    ), products AS (
        INSERT INTO dirty_product_days SELECT DISTINCT product_key, order_date FROM f
    )
    INSERT INTO dirty_variation_days SELECT DISTINCT variation_key, order_date FROM f WHERE variation_key IS NOT NULL
    """,
)

# What the changed orders looked like before: the cohorts mart subtracts their old contribution.
KEEP_OLD_FACTS = """
CREATE TEMP TABLE old_facts ON COMMIT DROP AS
SELECT f.order_id, f.customer_key, f.order_date, f.net_sales FROM marts.order_facts f
JOIN changed_orders c ON c.order_id = f.order_id WHERE f.shop_key = :shop AND f.counted
"""

DELETE_CHANGED_FACTS = tuple(
    f"DELETE FROM marts.{table} f USING changed_orders c WHERE f.shop_key = :shop AND f.order_id = c.order_id"
    for table in ("line_facts", "refund_facts", "order_facts")
)

INSERT_ORDER_FACTS = f"""
WITH lines AS (
    SELECT l.order_id, sum(l.subtotal) AS gross, sum(l.total) AS after_discounts,
           -- the product of the first line: ids zero-padded sort like numbers; cheaper than array_agg(ORDER BY)
           NULLIF(substr(min(lpad(l.line_id, 32, '0') || coalesce(l.product_key, '')), 33), '') AS first_product_key
    FROM core.order_lines l {_changed("l")} WHERE l.shop_key = :shop GROUP BY l.order_id
), refunded AS (
    SELECT r.order_id, sum(r.amount) AS amount
    FROM core.refunds r {_changed("r")} WHERE r.shop_key = :shop GROUP BY r.order_id
), allocated AS (
    SELECT rl.order_id, sum(rl.amount) AS amount
    FROM core.refund_lines rl {_changed("rl")}
    JOIN core.order_lines l ON l.shop_key = rl.shop_key AND l.order_id = rl.order_id AND l.line_id = rl.order_line_id
    WHERE rl.shop_key = :shop GROUP BY rl.order_id
), coupons AS (
    SELECT cr.order_id, array_agg(cr.coupon_key ORDER BY cr.coupon_key) AS keys,
           array_agg(cr.discount ORDER BY cr.coupon_key) AS discounts
    FROM core.coupon_redemptions cr {_changed("cr")} WHERE cr.shop_key = :shop GROUP BY cr.order_id
), base AS (
    SELECT o.order_id, {_CUSTOMER} AS customer_key, o.status_group,
           CASE WHEN :basis = 'paid' THEN o.paid_at ELSE o.created_at END AS ordered_at,
           CASE WHEN :basis = 'paid' THEN o.paid_date ELSE o.created_date END AS order_date,
           o.item_count, coalesce(l.gross, 0) AS gross, coalesce(l.gross, 0) - coalesce(l.after_discounts, 0) AS disc,
           o.shipping_total, o.total_tax, o.fee_total, coalesce(r.amount, 0) AS refunds,
           coalesce(r.amount, 0) - coalesce(a.amount, 0) AS unallocated, o.total, coalesce(cp.keys, '{{}}') AS coupons,
           coalesce(cp.discounts, '{{}}') AS coupon_discounts, o.deleted,
           {_SOURCE_KEY} AS source_key, {", ".join(f"at.{d}" for d in _SOURCE_DIMS)}, l.first_product_key,
           NOT o.deleted AND o.status_group = ANY(CAST(:groups AS text[]))
               AND CASE WHEN :basis = 'paid' THEN o.paid_date ELSE o.created_date END IS NOT NULL AS counted
    FROM core.orders o {_changed("o")}
    LEFT JOIN lines l ON l.order_id = o.order_id
    LEFT JOIN refunded r ON r.order_id = o.order_id
    LEFT JOIN allocated a ON a.order_id = o.order_id
    LEFT JOIN coupons cp ON cp.order_id = o.order_id
    LEFT JOIN core.order_attribution at ON at.shop_key = o.shop_key AND at.order_id = o.order_id
    WHERE o.shop_key = :shop
), numbered AS (
    -- Numbered apart from the wide rows: sorting a million narrow rows stays in memory.
    SELECT order_id, row_number() OVER (PARTITION BY customer_key ORDER BY ordered_at, {ORDER_ID_SORT}) AS seq
    FROM base WHERE counted AND customer_key IS NOT NULL
)
INSERT INTO marts.order_facts (
    shop_key, order_id, customer_key, status_group, deleted, counted, ordered_at, order_date, customer_order_seq,
    items, gross_sales, discounts, shipping, taxes, fees, refunds, refunds_unallocated, net_sales, total_sales,
    order_total, coupon_keys, coupon_discounts, source_key, {", ".join(_SOURCE_DIMS)}, first_product_key)
SELECT :shop, b.order_id, customer_key, status_group, deleted, counted, ordered_at, order_date,
       n.seq,  -- exact when all the customer's orders changed (a rebuild); else SEQUENCE renumbers
       item_count, gross, disc, shipping_total, total_tax, fee_total, refunds, unallocated,
       gross - disc - refunds, gross - disc - refunds + shipping_total + total_tax + fee_total, total, coupons,
       coupon_discounts, source_key, {", ".join(_SOURCE_DIMS)}, first_product_key
FROM base b LEFT JOIN numbered n ON n.order_id = b.order_id
"""

INSERT_LINE_FACTS = f"""
INSERT INTO marts.line_facts (shop_key, order_id, line_id, order_date, customer_key, product_key, variation_key,
                              quantity, gross_sales, discounts, refunded_quantity, refunded_amount, net_sales)
SELECT :shop, l.order_id, l.line_id, f.order_date, f.customer_key, coalesce(l.product_key, ''), l.variation_key,
       l.quantity, l.subtotal, l.subtotal - l.total, coalesce(rl.quantity, 0), coalesce(rl.amount, 0),
       l.total - coalesce(rl.amount, 0)
FROM core.order_lines l {_changed("l")}
JOIN marts.order_facts f ON f.shop_key = l.shop_key AND f.order_id = l.order_id AND f.counted
LEFT JOIN (
    SELECT rl.order_id, rl.order_line_id, sum(rl.quantity) AS quantity, sum(rl.amount) AS amount
    FROM core.refund_lines rl {_changed("rl")} WHERE rl.shop_key = :shop GROUP BY rl.order_id, rl.order_line_id
) rl ON rl.order_id = l.order_id AND rl.order_line_id = l.line_id
WHERE l.shop_key = :shop
"""

INSERT_REFUND_FACTS = f"""
INSERT INTO marts.refund_facts (shop_key, refund_id, order_id, refund_date, amount)
SELECT :shop, r.refund_id, r.order_id, r.created_date, r.amount
FROM core.refunds r {_changed("r")}
JOIN marts.order_facts f ON f.shop_key = r.shop_key AND f.order_id = r.order_id AND f.counted
WHERE r.shop_key = :shop
"""

# New or returning is a property of the customer's whole history: renumber the counted orders of every
# dirty customer, and mark the days, coupons and sources of orders whose number changed.
SEQUENCE = f"""
WITH ranked AS (
    SELECT f.order_id, row_number() OVER (PARTITION BY f.customer_key ORDER BY f.ordered_at, {ORDER_ID_SORT}) AS seq
    FROM marts.order_facts f
    WHERE f.shop_key = :shop AND f.counted AND f.customer_key IN (SELECT customer_key FROM dirty_customers)
), renumbered AS (
    UPDATE marts.order_facts f SET customer_order_seq = r.seq
    FROM ranked r
    WHERE f.shop_key = :shop AND f.order_id = r.order_id AND f.customer_order_seq IS DISTINCT FROM r.seq
    RETURNING f.order_date, f.coupon_keys, f.source_key
), days AS (
    INSERT INTO dirty_days SELECT DISTINCT order_date FROM renumbered
), coupons AS (
    INSERT INTO dirty_coupons SELECT DISTINCT unnest(coupon_keys) FROM renumbered
)
INSERT INTO dirty_sources SELECT DISTINCT source_key FROM renumbered
"""
