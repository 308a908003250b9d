"""Map WooCommerce raw records to the canonical core tables, in set-based SQL, without calling the API.

`map_shop(engine, shop, since)` re-maps the records fetched since `since` (None: everything, the
rebuild). Records that cannot be mapped — a date that is not a date, a missing total, a negative
quantity — are quarantined in ops.discrepancies with their reason and payload, and left out of core;
a later good version of the record resolves its discrepancy.

Rules decided once here:
- customer_key: 'id:<customer_id>' for registered customers; a guest order (customer_id 0) takes the
  key of the registered customer with the same normalized email (lower(trim(email))) when there is
  one, else 'email:<normalized email>'. So one person is one customer, however they checked out.
- status_group: completed/processing -> paid; pending/on-hold/checkout-draft -> pending; cancelled,
  failed, refunded as such; a trashed order keeps the group of its pre-trash status (meta
  _wp_trash_meta_status) and is flagged deleted; anything else -> other.
- refunds are positive amounts on their own date; an order's refunded_total is the sum of the refunds
  listed on the order (its refunds[] summary), which a refund that did not bump date_modified still
  updates once the order is re-read by the rolling re-sweep.
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa

from storepipe.shops import Shop
from storepipe.sources.mapping import ModelResult, excluded, quarantine, sql_runner
from storepipe.sources.mapping import changed as _changed
from storepipe.sources.mapping import money as _money

log = logging.getLogger(__name__)

_ORDER_PROBLEM = """
    CASE
        WHEN core.try_utc(date_created_gmt) IS NULL
            THEN 'date_created_gmt is not a date: ' || coalesce(date_created_gmt, 'missing')
        WHEN core.try_numeric(total) IS NULL
            THEN 'total is missing or not a number: ' || coalesce(total, 'missing')
        WHEN jsonb_typeof(coalesce(line_items, '[]'::jsonb)) <> 'array'
            THEN 'line_items is not a list'
        WHEN EXISTS (
            SELECT 1 FROM jsonb_array_elements(line_items) li
            WHERE core.try_numeric(li->>'quantity') IS NULL OR core.try_numeric(li->>'quantity') < 0
               OR core.try_numeric(li->>'total') IS NULL OR core.try_numeric(li->>'subtotal') IS NULL
        ) THEN 'a line item has a missing or negative quantity or amount'
    END
"""

_STATUS_GROUP = """
    CASE coalesce(NULLIF(status_before_trash, ''), status)
        WHEN 'completed' THEN 'paid' WHEN 'processing' THEN 'paid'
        WHEN 'pending' THEN 'pending' WHEN 'on-hold' THEN 'pending' WHEN 'checkout-draft' THEN 'pending'
        WHEN 'cancelled' THEN 'cancelled' WHEN 'failed' THEN 'failed' WHEN 'refunded' THEN 'refunded'
        ELSE 'other'
    END
"""


# Registered customers, from raw customers.
_CUSTOMERS = f"""
INSERT INTO core.customers AS c (shop_key, customer_key, customer_id, email, first_name, last_name, registered,
                                 created_at, modified_at, deleted)
SELECT r.shop_key, 'id:' || r.id, r.id::text, lower(btrim(r.payload->>'email')),
       NULLIF(r.payload->>'first_name', ''), NULLIF(r.payload->>'last_name', ''), true,
       core.try_utc(r.payload->>'date_created_gmt'), core.try_utc(r.payload->>'date_modified_gmt'),
       r.deleted_at IS NOT NULL
FROM {_changed("woocommerce_customers")}
ON CONFLICT (shop_key, customer_key) DO UPDATE SET
    email = EXCLUDED.email, first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
    registered = true, created_at = EXCLUDED.created_at, modified_at = EXCLUDED.modified_at,
    deleted = EXCLUDED.deleted
"""

# jsonb_to_record reads each payload once: every p->>'field' would decompress the whole (TOASTed) payload
# again, which made mapping ~8x slower (measured on 25K orders).
_ORDER_FIELDS = """
    number text, status text, currency text, customer_id text, parent_id text, date_created_gmt text,
    date_paid_gmt text, date_completed_gmt text, date_modified_gmt text, discount_total text, discount_tax text,
    shipping_total text, shipping_tax text, cart_tax text, total_tax text, total text, payment_method text,
    created_via text, billing jsonb, line_items jsonb, fee_lines jsonb, coupon_lines jsonb, refunds jsonb,
    meta_data jsonb
"""

_CHECK_ORDERS = f"""
CREATE TEMP TABLE woo_orders_checked ON COMMIT DROP AS
SELECT s.*, {_ORDER_PROBLEM} AS problem
FROM (
    SELECT r.id, r.payload AS p, r.deleted_at, x.*
    FROM raw.woocommerce_orders r, jsonb_to_record(r.payload) AS x({_ORDER_FIELDS})
    WHERE r.shop_key = :shop AND (CAST(:since AS timestamptz) IS NULL OR r.fetched_at >= :since)
) s
"""

# Orders that now fail the checks leave core (their previous good version would be stale).
_DROP_BAD_ORDERS = """
DELETE FROM core.orders o USING woo_orders_checked c
WHERE o.shop_key = :shop AND o.order_id = c.id::text AND c.problem IS NOT NULL
"""

_ORDERS_UPDATED = (
    "number", "status", "status_group", "currency", "customer_key", "customer_id", "email", "created_at",
    "created_date", "paid_at", "paid_date", "completed_at", "modified_at", "subtotal", "discount_total",
    "discount_tax", "shipping_total", "shipping_tax", "fee_total", "fee_tax", "cart_tax", "total_tax", "total",
    "refunded_total", "item_count", "payment_method", "created_via", "parent_order_id", "subscription_id",
    "deleted", "mapped_at",
)  # fmt: skip
_ORDERS = f"""
INSERT INTO core.orders AS o (
    shop_key, order_id, platform, number, status, status_group, currency, customer_key, customer_id, email,
    created_at, created_date, paid_at, paid_date, completed_at, modified_at,
    subtotal, discount_total, discount_tax, shipping_total, shipping_tax, fee_total, fee_tax, cart_tax,
    total_tax, total, refunded_total, item_count, payment_method, created_via, parent_order_id,
    subscription_id, deleted, mapped_at)
SELECT :shop, x.id::text, 'woocommerce', number, status, {_STATUS_GROUP}, currency,
    CASE WHEN core.try_numeric(customer_id) > 0 THEN 'id:' || customer_id
         ELSE coalesce(reg.customer_key, 'email:' || x.email) END,
    NULLIF(NULLIF(customer_id, '0'), ''),
    x.email,
    core.try_utc(date_created_gmt),
    (core.try_utc(date_created_gmt) AT TIME ZONE :tz)::date,
    core.try_utc(date_paid_gmt),
    (core.try_utc(date_paid_gmt) AT TIME ZONE :tz)::date,
    core.try_utc(date_completed_gmt),
    core.try_utc(date_modified_gmt),
    (SELECT coalesce(sum(core.try_numeric(li->>'subtotal')), 0) FROM jsonb_array_elements(line_items) li),
    {_money("discount_total")}, {_money("discount_tax")},
    {_money("shipping_total")}, {_money("shipping_tax")},
    (SELECT coalesce(sum(core.try_numeric(f->>'total')), 0)
       FROM jsonb_array_elements(coalesce(fee_lines, '[]'::jsonb)) f),
    (SELECT coalesce(sum(core.try_numeric(f->>'total_tax')), 0)
       FROM jsonb_array_elements(coalesce(fee_lines, '[]'::jsonb)) f),
    {_money("cart_tax")}, {_money("total_tax")}, core.try_numeric(total),
    (SELECT coalesce(-sum(core.try_numeric(rf->>'total')), 0)
       FROM jsonb_array_elements(coalesce(refunds, '[]'::jsonb)) rf),
    (SELECT coalesce(sum(core.try_numeric(li->>'quantity')), 0) FROM jsonb_array_elements(line_items) li),
    NULLIF(payment_method, ''), NULLIF(created_via, ''),
    NULLIF(NULLIF(parent_id, '0'), ''),
    (SELECT m->>'value' FROM jsonb_array_elements(coalesce(meta_data, '[]'::jsonb)) m
      WHERE m->>'key' = '_subscription_renewal' LIMIT 1),
    x.deleted_at IS NOT NULL OR coalesce(status, '') = 'trash',
    now()
FROM (
    SELECT c.*, lower(btrim(c.billing->>'email')) AS email,
           (SELECT m->>'value' FROM jsonb_array_elements(coalesce(c.meta_data, '[]'::jsonb)) m
             WHERE m->>'key' = '_wp_trash_meta_status' LIMIT 1) AS status_before_trash
    FROM woo_orders_checked c WHERE c.problem IS NULL
) x
LEFT JOIN LATERAL (
    SELECT cu.customer_key FROM core.customers cu
    WHERE cu.shop_key = :shop AND cu.registered AND cu.email = x.email AND x.email <> ''
    ORDER BY cu.customer_key LIMIT 1
) reg ON true
ON CONFLICT (shop_key, order_id) DO UPDATE SET
    {excluded(*_ORDERS_UPDATED)}
"""

_MAPPED_ORDERS = (
    "SELECT id::text AS order_id, line_items, coupon_lines, meta_data FROM woo_orders_checked WHERE problem IS NULL"
)



# "`order_id` is one of this run's orders" (IN_MAPPED_RUN: mapped, without problems), filled in per run by
# _run_scope. A run of a few orders passes them as constant arrays, so each table's (shop_key, order_id, …) key
# is probed per order (a join with woo_orders_checked had the planner hash or sort the shop's whole table:
# 150 ms against 3 ms for 1,250 changed orders of 100K). A large run (a first import) is matched by a hashed
# semi-join instead, which keeps a quarter million ids out of Python's memory. Never `= ANY(ARRAY(SELECT …))`:
# PostgreSQL searches such an array linearly per row.
_IN_RUN, _IN_MAPPED_RUN = "{in_run}", "{in_mapped_run}"

# Child rows of re-mapped orders are replaced whole: a line removed at the source disappears here too.
_REPLACE_CHILDREN = f"""
DELETE FROM core.{{table}} t WHERE t.shop_key = :shop AND t.order_id {_IN_RUN}
"""

_LINES = f"""
INSERT INTO core.order_lines (shop_key, order_id, line_id, product_key, variation_key, sku, name, quantity,
                              subtotal, subtotal_tax, total, total_tax)
SELECT :shop, o.order_id, li->>'id',
       NULLIF(NULLIF(li->>'product_id', '0'), ''), NULLIF(NULLIF(li->>'variation_id', '0'), ''),
       NULLIF(li->>'sku', ''), li->>'name', core.try_numeric(li->>'quantity'),
       core.try_numeric(li->>'subtotal'), {_money("li->>'subtotal_tax'")},
       core.try_numeric(li->>'total'), {_money("li->>'total_tax'")}
FROM ({_MAPPED_ORDERS}) o, jsonb_array_elements(o.line_items) li
"""

_COUPON_REDEMPTIONS = f"""
INSERT INTO core.coupon_redemptions (shop_key, order_id, coupon_key, discount, discount_tax)
SELECT :shop, o.order_id, lower(btrim(cl->>'code')), sum({_money("cl->>'discount'")}),
       sum({_money("cl->>'discount_tax'")})
FROM ({_MAPPED_ORDERS}) o, jsonb_array_elements(coalesce(o.coupon_lines, '[]'::jsonb)) cl
WHERE coalesce(btrim(cl->>'code'), '') <> ''
GROUP BY o.order_id, lower(btrim(cl->>'code'))
"""

_ATTRIBUTION_FIELDS = (
    "source_type", "referrer", "utm_campaign", "utm_source", "utm_medium", "utm_content", "utm_term", "utm_id",
    "session_entry", "session_pages", "session_count", "device_type", "user_agent",
)  # fmt: skip
_ATTRIBUTION = f"""
INSERT INTO core.order_attribution (shop_key, order_id, {", ".join(_ATTRIBUTION_FIELDS)})
SELECT :shop, a.order_id, {
    ", ".join(
        f"core.try_numeric(a.m->>'{f}')::integer"
        if f.startswith("session_") and f != "session_entry"
        else f"NULLIF(a.m->>'{f}', '')"
        for f in _ATTRIBUTION_FIELDS
    )
}
FROM (
    SELECT o.order_id, jsonb_object_agg(substr(m->>'key', length('_wc_order_attribution_') + 1), m->'value') AS m
    FROM ({_MAPPED_ORDERS}) o, jsonb_array_elements(coalesce(o.meta_data, '[]'::jsonb)) m
    WHERE m->>'key' LIKE '\\_wc\\_order\\_attribution\\_%'
    GROUP BY o.order_id
) a
"""

# Guests: people known only from orders. A guest whose email belongs to a registered customer is that
# customer (see the module docstring), so only emails without a registered match become guests.
_GUESTS = """
INSERT INTO core.customers AS c (shop_key, customer_key, customer_id, email, first_name, last_name, registered,
                                 created_at, modified_at, deleted)
SELECT DISTINCT ON (o.customer_key) :shop, o.customer_key, NULL, o.email,
       NULLIF(ch.billing->>'first_name', ''), NULLIF(ch.billing->>'last_name', ''),
       false, o.created_at, o.modified_at, false
FROM woo_orders_checked ch
JOIN core.orders o ON o.shop_key = :shop AND o.order_id = ch.id::text
WHERE ch.problem IS NULL AND o.customer_key LIKE 'email:%'
ORDER BY o.customer_key, o.created_at
ON CONFLICT (shop_key, customer_key) DO UPDATE SET
    created_at = least(c.created_at, EXCLUDED.created_at)
"""

# Guests whose orders this run may take away: the guest keys of the run's orders before they are mapped
# again (an order can leave a guest by a new email or by being dropped) and, in _REKEY_GUEST_ORDERS, the guests
# of customers who registered. Only these can become orphans in an incremental run.
_TOUCHED_GUESTS = f"""
CREATE TEMP TABLE woo_touched_guests ON COMMIT DROP AS
SELECT DISTINCT o.customer_key FROM core.orders o
WHERE o.shop_key = :shop AND o.order_id {_IN_RUN} AND o.customer_key LIKE 'email:%'
"""

# Guest orders (mapped before their customer registered) move to the registered customer with their email. Only
# customers mapped in this run can newly match: orders mapped in this run found theirs in _ORDERS already.
_REKEY_GUEST_ORDERS = """
WITH registered AS (
    SELECT cu.customer_key, 'email:' || cu.email AS guest_key FROM core.customers cu
    WHERE cu.shop_key = :shop AND cu.registered AND cu.email <> '' AND CAST(:since AS timestamptz) IS NULL
    UNION ALL
    -- Driven from raw's fetched_at index, then core's key: a few changed customers never scan them all.
    SELECT cu.customer_key, 'email:' || cu.email
    FROM raw.woocommerce_customers r
    JOIN core.customers cu ON cu.shop_key = :shop AND cu.customer_key = 'id:' || r.id
    WHERE r.shop_key = :shop AND r.fetched_at >= :since AND cu.registered AND cu.email <> ''
), touched AS (
    INSERT INTO woo_touched_guests SELECT guest_key FROM registered
)
UPDATE core.orders o SET customer_key = reg.customer_key
FROM registered reg
WHERE o.shop_key = :shop AND o.customer_key = reg.guest_key AND o.customer_id IS NULL
"""

_NO_ORDERS = """NOT c.registered
  AND NOT EXISTS (SELECT 1 FROM core.orders o WHERE o.shop_key = :shop AND o.customer_key = c.customer_key)"""
# A rebuild checks every guest; an incremental run only those it touched, by key.
_ORPHAN_GUESTS = f"""
DELETE FROM core.customers c WHERE c.shop_key = :shop AND {_NO_ORDERS}
"""
_ORPHAN_TOUCHED_GUESTS = f"""
DELETE FROM core.customers c USING (SELECT DISTINCT customer_key FROM woo_touched_guests) g
WHERE c.shop_key = :shop AND c.customer_key = g.customer_key AND {_NO_ORDERS}
"""

_REFUND_PROBLEM = """
    CASE
        WHEN coalesce(parent, core.try_numeric(p->>'parent_id')) IS NULL THEN 'refund has no order id'
        WHEN core.try_utc(p->>'date_created_gmt') IS NULL
            THEN 'date_created_gmt is not a date: ' || coalesce(p->>'date_created_gmt', 'missing')
        WHEN core.try_numeric(p->>'amount') IS NULL THEN 'amount is missing or not a number'
    END
"""

_CHECK_REFUNDS = f"""
CREATE TEMP TABLE woo_refunds_checked ON COMMIT DROP AS
SELECT s.id, s.p, s.parent, {_REFUND_PROBLEM} AS problem
FROM (SELECT r.id, r.payload AS p, r.parent_id AS parent FROM {_changed("woocommerce_refunds")}) s
"""

_REFUNDS_UPDATED = (
    "order_id", "created_at", "created_date", "amount", "reason",
)  # fmt: skip
_REFUNDS = f"""
INSERT INTO core.refunds AS t (shop_key, refund_id, order_id, created_at, created_date, amount, reason)
SELECT :shop, c.id::text, coalesce(c.parent::text, c.p->>'parent_id'), core.try_utc(c.p->>'date_created_gmt'),
       (core.try_utc(c.p->>'date_created_gmt') AT TIME ZONE :tz)::date, abs(core.try_numeric(c.p->>'amount')),
       NULLIF(c.p->>'reason', '')
FROM woo_refunds_checked c WHERE c.problem IS NULL
ON CONFLICT (shop_key, refund_id) DO UPDATE SET
    {excluded(*_REFUNDS_UPDATED)}
"""

_REFUND_LINES = f"""
INSERT INTO core.refund_lines (shop_key, refund_id, line_id, order_id, order_line_id, product_key, variation_key,
                               quantity, amount, tax)
SELECT :shop, c.id::text, li->>'id', coalesce(c.parent::text, c.p->>'parent_id'),
       (SELECT m->>'value' FROM jsonb_array_elements(coalesce(li->'meta_data', '[]'::jsonb)) m
         WHERE m->>'key' = '_refunded_item_id' LIMIT 1),
       NULLIF(NULLIF(li->>'product_id', '0'), ''), NULLIF(NULLIF(li->>'variation_id', '0'), ''),
       abs({_money("li->>'quantity'")}), abs({_money("li->>'total'")}), abs({_money("li->>'total_tax'")})
FROM woo_refunds_checked c, jsonb_array_elements(coalesce(c.p->'line_items', '[]'::jsonb)) li
WHERE c.problem IS NULL
"""

# A refund that did not bump its order's date_modified reaches raw through /refunds before the order is
# re-read: take the order's refunded total from its refund records when they say more than its summary.
_REFUNDED_TOTALS = """
UPDATE core.orders o SET refunded_total = r.amount
FROM (
    SELECT rf.order_id, sum(rf.amount) AS amount FROM core.refunds rf
    WHERE rf.shop_key = :shop
      AND rf.order_id IN (SELECT coalesce(parent::text, p->>'parent_id') FROM woo_refunds_checked)
    GROUP BY rf.order_id
) r
WHERE o.shop_key = :shop AND o.order_id = r.order_id AND r.amount > o.refunded_total
"""

_PRODUCTS = f"""
INSERT INTO core.products AS t (shop_key, product_key, product_id, name, sku, type, status, price, regular_price,
                                created_at, modified_at, in_catalog, deleted)
SELECT :shop, r.id::text, r.id::text, r.payload->>'name', NULLIF(r.payload->>'sku', ''), r.payload->>'type',
       r.payload->>'status', core.try_numeric(r.payload->>'price'), core.try_numeric(r.payload->>'regular_price'),
       core.try_utc(r.payload->>'date_created_gmt'), core.try_utc(r.payload->>'date_modified_gmt'), true,
       r.deleted_at IS NOT NULL OR coalesce(r.payload->>'status', '') = 'trash'
FROM {_changed("woocommerce_products")}
ON CONFLICT (shop_key, product_key) DO UPDATE SET
    name = EXCLUDED.name, sku = EXCLUDED.sku, type = EXCLUDED.type, status = EXCLUDED.status,
    price = EXCLUDED.price, regular_price = EXCLUDED.regular_price, created_at = EXCLUDED.created_at,
    modified_at = EXCLUDED.modified_at, in_catalog = true, deleted = EXCLUDED.deleted
"""

_VARIATIONS = f"""
INSERT INTO core.variations AS t (shop_key, variation_key, product_key, variation_id, sku, attributes, price,
                                  regular_price, in_catalog, deleted)
SELECT :shop, r.id::text, coalesce(r.parent_id::text, r.payload->>'parent_id'), r.id::text,
       NULLIF(r.payload->>'sku', ''), r.payload->'attributes', core.try_numeric(r.payload->>'price'),
       core.try_numeric(r.payload->>'regular_price'), true, r.deleted_at IS NOT NULL
FROM {_changed("woocommerce_variations")}
ON CONFLICT (shop_key, variation_key) DO UPDATE SET
    product_key = EXCLUDED.product_key, sku = EXCLUDED.sku, attributes = EXCLUDED.attributes,
    price = EXCLUDED.price, regular_price = EXCLUDED.regular_price, in_catalog = true, deleted = EXCLUDED.deleted
"""

# Products and variations that order lines mention but the catalog does not (deleted since): marts
# still need a name for them, so they are kept as in_catalog = false with the name the line carried.
# Only the lines mapped in this run can bring new ones (a rebuild maps every order).
_MAPPED_LINES = f"core.order_lines l WHERE l.shop_key = :shop AND l.order_id {_IN_MAPPED_RUN}"
_LINE_ONLY_PRODUCTS = f"""
INSERT INTO core.products (shop_key, product_key, product_id, name, sku, in_catalog, deleted)
SELECT DISTINCT ON (l.product_key) :shop, l.product_key, l.product_key, l.name, l.sku, false, true
FROM {_MAPPED_LINES} AND l.product_key IS NOT NULL
ORDER BY l.product_key, l.order_id DESC
ON CONFLICT (shop_key, product_key) DO NOTHING
"""

_LINE_ONLY_VARIATIONS = f"""
INSERT INTO core.variations (shop_key, variation_key, product_key, variation_id, sku, in_catalog, deleted)
SELECT DISTINCT ON (l.variation_key) :shop, l.variation_key, l.product_key, l.variation_key, l.sku, false, true
FROM {_MAPPED_LINES} AND l.variation_key IS NOT NULL
ORDER BY l.variation_key, l.order_id DESC
ON CONFLICT (shop_key, variation_key) DO NOTHING
"""

_COUPONS = f"""
INSERT INTO core.coupons AS t (shop_key, coupon_key, coupon_id, code, discount_type, amount, created_at, expires_at,
                               usage_count, in_catalog, deleted)
SELECT DISTINCT ON (lower(btrim(r.payload->>'code'))) :shop, lower(btrim(r.payload->>'code')), r.id::text,
       r.payload->>'code', r.payload->>'discount_type', core.try_numeric(r.payload->>'amount'),
       core.try_utc(r.payload->>'date_created_gmt'), core.try_utc(r.payload->>'date_expires_gmt'),
       core.try_numeric(r.payload->>'usage_count')::integer, true,
       r.deleted_at IS NOT NULL OR coalesce(r.payload->>'status', '') = 'trash'
FROM {_changed("woocommerce_coupons")} AND coalesce(btrim(r.payload->>'code'), '') <> ''
ORDER BY lower(btrim(r.payload->>'code')), r.deleted_at NULLS FIRST, r.id DESC
ON CONFLICT (shop_key, coupon_key) DO UPDATE SET
    coupon_id = EXCLUDED.coupon_id, code = EXCLUDED.code, discount_type = EXCLUDED.discount_type,
    amount = EXCLUDED.amount, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at,
    usage_count = EXCLUDED.usage_count, in_catalog = true, deleted = EXCLUDED.deleted
"""

_LINE_ONLY_COUPONS = f"""
INSERT INTO core.coupons (shop_key, coupon_key, code, in_catalog, deleted)
SELECT DISTINCT :shop, cr.coupon_key, cr.coupon_key, false, true
FROM core.coupon_redemptions cr WHERE cr.shop_key = :shop AND cr.order_id {_IN_MAPPED_RUN}
ON CONFLICT (shop_key, coupon_key) DO NOTHING
"""

_SUBSCRIPTIONS = f"""
INSERT INTO core.subscriptions AS t (shop_key, subscription_id, customer_key, status, billing_period,
    billing_interval, recurring_total, currency, created_at, start_at, trial_end_at, next_payment_at, end_at,
    cancelled_at, parent_order_id, deleted)
SELECT :shop, r.id::text,
       CASE WHEN core.try_numeric(r.payload->>'customer_id') > 0 THEN 'id:' || (r.payload->>'customer_id')
            ELSE 'email:' || lower(btrim(r.payload->'billing'->>'email')) END,
       r.payload->>'status', r.payload->>'billing_period', core.try_numeric(r.payload->>'billing_interval')::integer,
       core.try_numeric(r.payload->>'total'), r.payload->>'currency',
       core.try_utc(r.payload->>'date_created_gmt'), core.try_utc(r.payload->>'start_date_gmt'),
       core.try_utc(r.payload->>'trial_end_date_gmt'), core.try_utc(r.payload->>'next_payment_date_gmt'),
       core.try_utc(r.payload->>'end_date_gmt'), core.try_utc(r.payload->>'cancelled_date_gmt'),
       NULLIF(NULLIF(r.payload->>'parent_id', '0'), ''),
       r.deleted_at IS NOT NULL OR coalesce(r.payload->>'status', '') = 'trash'
FROM {_changed("woocommerce_subscriptions")}
ON CONFLICT (shop_key, subscription_id) DO UPDATE SET
    customer_key = EXCLUDED.customer_key, status = EXCLUDED.status, billing_period = EXCLUDED.billing_period,
    billing_interval = EXCLUDED.billing_interval, recurring_total = EXCLUDED.recurring_total,
    currency = EXCLUDED.currency, created_at = EXCLUDED.created_at, start_at = EXCLUDED.start_at,
    trial_end_at = EXCLUDED.trial_end_at, next_payment_at = EXCLUDED.next_payment_at, end_at = EXCLUDED.end_at,
    cancelled_at = EXCLUDED.cancelled_at, parent_order_id = EXCLUDED.parent_order_id, deleted = EXCLUDED.deleted
"""


# A run of this many orders is large: core's statistics are refreshed inside it (ANALYZE samples a fixed number
# of rows: ~0.3 s at 250K orders, noise next to such a run) and its orders are matched by a semi-join.
_ANALYZE_AFTER = 10_000


def _run_scope(conn: sa.Connection, params: dict[str, object], *, large: bool) -> dict[str, str]:
    """The SQL for {in_run} and {in_mapped_run} (see _IN_RUN); for a small run, the arrays go into `params`."""
    if large:
        ids = "SELECT id::text FROM woo_orders_checked"
        return {"in_run": f"IN ({ids})", "in_mapped_run": f"IN ({ids} WHERE problem IS NULL)"}
    checked = conn.execute(sa.text("SELECT id::text, problem IS NULL FROM woo_orders_checked")).all()
    params["run_orders"] = [order_id for order_id, _ in checked]
    params["run_mapped_orders"] = [order_id for order_id, mapped in checked if mapped]
    return {
        "in_run": "= ANY(CAST(:run_orders AS text[]))",
        "in_mapped_run": "= ANY(CAST(:run_mapped_orders AS text[]))",
    }


def map_shop(engine: sa.Engine, shop: Shop, since: datetime | None, *, run_id: str | None = None) -> ModelResult:
    """Map the shop's raw records fetched since `since` (None: all of them) into core, in one transaction."""
    params = {"shop": shop.key, "since": since, "tz": shop.timezone, "run_id": run_id}

    with engine.begin() as conn:
        run = sql_runner(conn, params, log)
        customers = run(_CUSTOMERS)
        products = run(_PRODUCTS)
        run(_VARIATIONS)
        run(_COUPONS)
        checked = run(_CHECK_ORDERS)
        run("ANALYZE woo_orders_checked")  # a temp table has no statistics until analysed: plans go wrong
        scope = _run_scope(conn, params, large=checked >= _ANALYZE_AFTER)
        quarantined = quarantine(run, "woo_orders_checked", "orders")
        run(_TOUCHED_GUESTS.format(**scope))
        run(_DROP_BAD_ORDERS)
        orders = run(_ORDERS)
        for table in ("order_lines", "coupon_redemptions", "order_attribution"):
            run(_REPLACE_CHILDREN.format(table=table, **scope))
        lines = run(_LINES)
        run(_COUPON_REDEMPTIONS)
        run(_ATTRIBUTION)
        customers += run(_GUESTS)
        if checked >= _ANALYZE_AFTER:
            # Statistics taken before this run (a first import: empty tables) would have the planner loop over
            # "a few" orders that are now a quarter million: re-keying guests took 181 s of a 250K first import.
            run("ANALYZE core.orders")
            run("ANALYZE core.customers")
        run(_REKEY_GUEST_ORDERS)
        run("ANALYZE woo_touched_guests")
        run(_ORPHAN_GUESTS if since is None else _ORPHAN_TOUCHED_GUESTS)
        for statement in (_LINE_ONLY_PRODUCTS, _LINE_ONLY_VARIATIONS, _LINE_ONLY_COUPONS):
            run(statement.format(**scope))
        run(_CHECK_REFUNDS)
        run("ANALYZE woo_refunds_checked")
        quarantined += quarantine(run, "woo_refunds_checked", "refunds")
        run(
            "DELETE FROM core.refund_lines t USING woo_refunds_checked c "
            "WHERE t.shop_key = :shop AND t.refund_id = c.id::text"
        )
        refunds = run(_REFUNDS)
        run(_REFUND_LINES)
        run(_REFUNDED_TOTALS)
        run(_SUBSCRIPTIONS)
    return ModelResult(
        orders=orders,
        order_lines=lines,
        refunds=refunds,
        customers=customers,
        products=products,
        quarantined=quarantined,
        rebuild=since is None,
    )
