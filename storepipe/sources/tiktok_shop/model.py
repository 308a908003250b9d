"""Map TikTok Shop raw records to the canonical core tables, in set-based SQL, without calling the API.

`map_shop(engine, shop, since)` re-maps the records fetched since `since` (None: everything, the rebuild),
exactly like the WooCommerce model. Records that cannot be mapped (a time that is not unix seconds, an amount
that is not a number, a missing id) are quarantined in ops.discrepancies with their reason and payload and
left out of core; a later good version of the record resolves its discrepancy.

Rules decided once here (docs/tiktok_shop.md "## Model" says the same for analysts):
- Orders. `status` as TikTok says it; status_group: UNPAID -> pending; CANCELLED -> cancelled; ON_HOLD,
  AWAITING_SHIPMENT, PARTIALLY_SHIPPING, AWAITING_COLLECTION, IN_TRANSIT, DELIVERED, COMPLETED -> paid (the
  buyer has paid; ON_HOLD is the platform's remorse window after payment); anything else -> other. A paid order
  whose completed refunds give back at least what the buyer paid for its products (payment.sub_total) is
  `refunded`: TikTok has no such status, the order stays COMPLETED there.
- Money from `payment`: subtotal = original_total_product_price (before discounts); discount_total =
  seller_discount + platform_discount, of which platform_discount (reimbursed to the seller by the platform) is
  also kept apart in core.orders.platform_discount; shipping_total = shipping_fee (what the buyer paid, after
  both shipping discounts); shipping_tax = shipping_fee_tax; cart_tax = product_tax; total_tax = tax; fee_total =
  retail_delivery_fee; total = total_amount. So subtotal - discount_total + shipping_total + total_tax +
  fee_total = total, TikTok's own identity. Net sales are therefore what the buyer paid for the products, the
  basis refunds are reported on (a fully refunded order nets to zero); the platform's reimbursement of its
  discounts is seller income that the P&L shows (statement revenue is before platform discounts).
- Times are unix seconds: created_at = create_time, paid_at = paid_time, completed_at = delivery_time (the
  order object carries no completion time), modified_at = update_time; created/paid dates in the shop's zone.
- Lines. TikTok sends one line item per unit and no quantity: core has one line per (order, sku_id) with
  line_id = sku_id (stable, and what return lines point at), quantity = the number of unit lines, subtotal =
  Σ original_price, total = Σ sale_price (after seller and platform discounts), tax = Σ item_tax.
- Auction (Countdown Bidding) lines: product_listing_type TEMPORARY_LISTING, or a product absent from the
  catalog with no seller SKU (temporary listings carry none). Each unit is a throw-away listing "#12 Vintage
  Hoodie", so they become one synthetic product per item name: the name with '#N' lot numbers removed and
  whitespace collapsed, keyed 'auction:' || md5(lower(that name)); repeated auctions of one item are one product.
  Their lines have no variation. Other catalog-less products are kept as in_catalog = false, as WooCommerce's.
- Customers: 'id:<user_id>' (TikTok always identifies the buyer); buyer_email (a relay address) as delivered,
  normalized lower(trim()); 'email:<email>' only for an order without user_id.
- Refunds: a return whose status is RETURN_OR_REFUND_REQUEST_COMPLETE (the refund is done; earlier states can
  still be rejected or cancelled) and a completed cancellation (a cancellation after payment refunds
  everything), when they gave money back (a replacement gives none); dated at the record's update_time (its
  completion), amounts positive. Refund lines are return / cancel line items (one unit each) pointing at the
  order line of their sku_id.
- Finance: core.statements from statements; core.settlements from statement transactions (order_id NULL for
  order-less adjustments; an adjustment's adjustment_order_id links it to its order), each with its fee
  components `fees` = the non-zero FEE_COMPONENTS of fee_amount plus `other_fees`, the rest of fee_amount, so
  they always add up to fee_amount. core.order_fees holds every signed component of an order's settlement:
  `settled` rows = revenue, adjustment and each fee type, summed over the order's transactions (so Σ settled
  rows = the order's settlement), with the latest statement; `estimated` rows from the unsettled estimates
  (revenue, shipping_cost, fee_tax, adjustment: Σ = est_settlement_amount). Zero components are left out
  except revenue. Estimates are kept once an order settles: the P&L shows the difference.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from storepipe.shops import Shop
from storepipe.sources.mapping import ModelResult, changed, excluded, money, quarantine, sql_runner

log = logging.getLogger(__name__)

# The parts of a v202309 statement transaction's fee_amount reported as fee types, by flat field name without
# `_amount` [C2: FD, LY]; shipping_cost is inside fee_amount in v202309. Whatever is not listed lands in other_fees.
FEE_COMPONENTS = (
    "shipping_cost", "platform_commission", "referral_fee", "transaction_fee", "refund_administration_fee",
    "affiliate_commission", "affiliate_ads_commission", "affiliate_partner_commission", "sfp_service_fee",
    "live_specials_fee", "voucher_xtra_service_fee", "flash_sales_service_fee", "mall_service_fee", "sales_tax",
    "vat", "gst", "pit",
)  # fmt: skip
# The unsettled estimate's components (v202507), summing to est_settlement_amount.
ESTIMATE_COMPONENTS = ("revenue", "shipping_cost", "fee_tax", "adjustment")
# Payment amounts that must be numbers when present (a missing one counts as zero).
_PAYMENT_AMOUNTS = (
    "sub_total", "shipping_fee", "seller_discount", "platform_discount", "original_total_product_price",
    "original_shipping_fee", "tax", "product_tax", "shipping_fee_tax", "retail_delivery_fee",
)  # fmt: skip
_PAID = ("ON_HOLD", "AWAITING_SHIPMENT", "PARTIALLY_SHIPPING", "AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED",
         "COMPLETED")  # fmt: skip
RETURN_COMPLETE = "RETURN_OR_REFUND_REQUEST_COMPLETE"
CANCELLATION_COMPLETE = "CANCELLATION_REQUEST_COMPLETE"


def _status_group(status: str) -> str:
    paid = ", ".join(f"'{s}'" for s in _PAID)
    return f"""CASE WHEN {status} IN ({paid}) THEN 'paid' WHEN {status} = 'UNPAID' THEN 'pending'
                    WHEN {status} = 'CANCELLED' THEN 'cancelled' ELSE 'other' END"""


def _epoch_problem(field: str, expr: str, *, required: bool) -> str:
    """A CASE branch: the field is not unix seconds (or missing, when required)."""
    test = f"core.try_epoch({expr}) IS NULL"
    if not required:
        test = f"{expr} IS NOT NULL AND {test}"
    return f"WHEN {test} THEN '{field} is not a unix time: ' || coalesce({expr}, 'missing')"


def _numbers_problem(what: str, exprs: list[str]) -> str:
    """A CASE branch: one of the (optional) amounts is present but not a number."""
    tests = " OR ".join(f"({e} IS NOT NULL AND core.try_numeric({e}) IS NULL)" for e in exprs)
    return f"WHEN {tests} THEN '{what} is not a number'"


def _required_numbers(what: str, fields: tuple[str, ...] | list[str]) -> str:
    """A CASE branch: one of the payload's (required) amounts is missing or not a number."""
    return _numbers_problem(what, [f"coalesce(r.payload->>'{f}', 'missing')" for f in fields])


def _display_name(expr: str) -> str:
    """An auction item's name: '#N' lot numbers removed, whitespace collapsed and trimmed."""
    return rf"btrim(regexp_replace(regexp_replace({expr}, '#\s*[0-9]+', ' ', 'g'), '\s+', ' ', 'g'))"


# ------------------------------------------------------------------------------------------------ catalog

# Product details and search results carry the same fields the model reads; the newest version of a product
# fetched in this run wins, the detail on a tie (it alone has the SKUs' attributes).
_CATALOG = f"""
CREATE TEMP TABLE tt_catalog ON COMMIT DROP AS
SELECT DISTINCT ON (id) id, p, deleted_at FROM (
    SELECT r.id, r.payload AS p, r.deleted_at, 1 AS preference FROM {changed("tiktok_shop_product_details")}
    UNION ALL
    SELECT r.id, r.payload AS p, r.deleted_at, 2 FROM {changed("tiktok_shop_products")}
) s
ORDER BY id, core.try_numeric(p->>'update_time') DESC NULLS LAST, preference
"""

_PRODUCTS = """
INSERT INTO core.products AS t (shop_key, product_key, product_id, name, sku, type, status, price, regular_price,
                                created_at, modified_at, in_catalog, deleted)
SELECT :shop, c.id, c.id, c.p->>'title',
       CASE WHEN jsonb_array_length(c.p->'skus') = 1 THEN NULLIF(c.p->'skus'->0->>'seller_sku', '') END,
       CASE WHEN jsonb_array_length(c.p->'skus') > 1 THEN 'variable' ELSE 'simple' END, c.p->>'status',
       (SELECT min(core.try_numeric(s->'price'->>'sale_price')) FROM jsonb_array_elements(c.p->'skus') s),
       (SELECT min(core.try_numeric(s->'list_price'->>'amount')) FROM jsonb_array_elements(c.p->'skus') s),
       core.try_epoch(c.p->>'create_time'), core.try_epoch(c.p->>'update_time'), true,
       c.deleted_at IS NOT NULL OR coalesce(c.p->>'status', '') = 'DELETED'
FROM tt_catalog c WHERE jsonb_typeof(c.p->'skus') = 'array'
ON CONFLICT (shop_key, product_key) DO UPDATE SET
    product_id = EXCLUDED.product_id, name = EXCLUDED.name, sku = EXCLUDED.sku, type = EXCLUDED.type,
    status = EXCLUDED.status, price = EXCLUDED.price, regular_price = EXCLUDED.regular_price,
    created_at = EXCLUDED.created_at, modified_at = EXCLUDED.modified_at, in_catalog = true, deleted = EXCLUDED.deleted
"""

_VARIATIONS = """
INSERT INTO core.variations AS t (shop_key, variation_key, product_key, variation_id, sku, attributes, price,
                                  regular_price, in_catalog, deleted)
SELECT DISTINCT ON (s->>'id') :shop, s->>'id', c.id, s->>'id', NULLIF(s->>'seller_sku', ''), s->'sales_attributes',
       core.try_numeric(s->'price'->>'sale_price'), core.try_numeric(s->'list_price'->>'amount'), true,
       c.deleted_at IS NOT NULL OR coalesce(c.p->>'status', '') = 'DELETED'
FROM tt_catalog c, jsonb_array_elements(c.p->'skus') s
WHERE jsonb_typeof(c.p->'skus') = 'array' AND coalesce(s->>'id', '') <> ''
ORDER BY s->>'id', c.id
ON CONFLICT (shop_key, variation_key) DO UPDATE SET
    product_key = EXCLUDED.product_key, sku = EXCLUDED.sku,
    attributes = coalesce(EXCLUDED.attributes, t.attributes),  -- search results have no attributes
    price = EXCLUDED.price, regular_price = EXCLUDED.regular_price, in_catalog = true, deleted = EXCLUDED.deleted
"""

# ------------------------------------------------------------------------------------------------ orders

# jsonb_to_record reads each payload once (see the WooCommerce model: ~8x faster than repeated p->>'field').
_ORDER_FIELDS = """
    id text, status text, create_time text, update_time text, paid_time text, delivery_time text, user_id text,
    buyer_email text, payment jsonb, line_items jsonb
"""

_ORDER_PROBLEM = f"""
    CASE
        WHEN coalesce(x.id, '') = '' THEN 'id is missing'
        WHEN coalesce(x.status, '') = '' THEN 'status is missing'
        {_epoch_problem("create_time", "x.create_time", required=True)}
        {_epoch_problem("update_time", "x.update_time", required=False)}
        {_epoch_problem("paid_time", "x.paid_time", required=False)}
        {_epoch_problem("delivery_time", "x.delivery_time", required=False)}
        WHEN jsonb_typeof(x.payment) IS DISTINCT FROM 'object' THEN 'payment is missing'
        WHEN core.try_numeric(x.payment->>'total_amount') IS NULL
            THEN 'payment.total_amount is missing or not a number: ' || coalesce(x.payment->>'total_amount', 'missing')
        {_numbers_problem("a payment amount", [f"x.payment->>'{f}'" for f in _PAYMENT_AMOUNTS])}
        WHEN jsonb_typeof(coalesce(x.line_items, '[]'::jsonb)) <> 'array' THEN 'line_items is not a list'
        WHEN EXISTS (
            SELECT 1 FROM jsonb_array_elements(x.line_items) li
            WHERE coalesce(li->>'sku_id', '') = '' OR core.try_numeric(li->>'original_price') IS NULL
               OR core.try_numeric(li->>'sale_price') IS NULL
               OR EXISTS (SELECT 1 FROM jsonb_array_elements(CASE jsonb_typeof(li->'item_tax')
                                                             WHEN 'array' THEN li->'item_tax' ELSE '[]' END) t
                          WHERE core.try_numeric(t->>'tax_amount') IS NULL)
        ) THEN 'a line item has no sku_id or a missing amount'
    END
"""

_CHECK_ORDERS = f"""
CREATE TEMP TABLE tt_orders_checked ON COMMIT DROP AS
SELECT r.id, r.payload AS p, r.deleted_at, x.status, x.create_time, x.update_time, x.paid_time, x.delivery_time,
       x.user_id, lower(btrim(x.buyer_email)) AS email, x.payment, x.line_items, {_ORDER_PROBLEM} AS problem
FROM raw.tiktok_shop_orders r, jsonb_to_record(r.payload) AS x({_ORDER_FIELDS})
WHERE r.shop_key = :shop AND (CAST(:since AS timestamptz) IS NULL OR r.fetched_at >= :since)
"""

_DROP_BAD_ORDERS = """
DELETE FROM core.orders o USING tt_orders_checked c
WHERE o.shop_key = :shop AND o.order_id = c.id AND c.problem IS NOT NULL
"""


def _pay(field: str) -> str:
    return money(f"c.payment->>'{field}'")


_ORDERS_UPDATED = (
    "number", "status", "status_group", "currency", "customer_key", "customer_id", "email", "created_at",
    "created_date", "paid_at", "paid_date", "completed_at", "modified_at", "subtotal", "discount_total",
    "platform_discount", "shipping_total", "shipping_tax", "fee_total", "cart_tax", "total_tax", "total",
    "item_count", "deleted", "mapped_at",
)  # fmt: skip
_ORDERS = f"""
INSERT INTO core.orders AS o (
    shop_key, order_id, platform, number, status, status_group, currency, customer_key, customer_id, email,
    created_at, created_date, paid_at, paid_date, completed_at, modified_at,
    subtotal, discount_total, platform_discount, discount_tax, shipping_total, shipping_tax, fee_total, fee_tax,
    cart_tax, total_tax, total, refunded_total, item_count, deleted, mapped_at)
SELECT :shop, c.id, 'tiktok_shop', c.id, c.status, {_status_group("c.status")}, NULLIF(c.payment->>'currency', ''),
       CASE WHEN coalesce(c.user_id, '') <> '' THEN 'id:' || c.user_id
            WHEN coalesce(c.email, '') <> '' THEN 'email:' || c.email END,
       NULLIF(c.user_id, ''), c.email,
       core.try_epoch(c.create_time), (core.try_epoch(c.create_time) AT TIME ZONE :tz)::date,
       core.try_epoch(c.paid_time), (core.try_epoch(c.paid_time) AT TIME ZONE :tz)::date,
       core.try_epoch(c.delivery_time), core.try_epoch(c.update_time),
       {_pay("original_total_product_price")}, {_pay("seller_discount")} + {_pay("platform_discount")},
       {_pay("platform_discount")}, 0, {_pay("shipping_fee")}, {_pay("shipping_fee_tax")},
       {_pay("retail_delivery_fee")}, 0, {_pay("product_tax")}, {_pay("tax")},
       core.try_numeric(c.payment->>'total_amount'),
       0,  -- set from the refunds below (_REFUND_STATE)
       jsonb_array_length(coalesce(c.line_items, '[]'::jsonb)),
       c.deleted_at IS NOT NULL, now()
FROM tt_orders_checked c WHERE c.problem IS NULL
ON CONFLICT (shop_key, order_id) DO UPDATE SET
    {excluded(*_ORDERS_UPDATED)}
"""

# Child rows of re-mapped orders are replaced whole: a line removed at the source disappears here too.
_REPLACE_LINES = """
DELETE FROM core.order_lines t USING tt_orders_checked c WHERE t.shop_key = :shop AND t.order_id = c.id
"""

_UNIT_TAX = """(SELECT coalesce(sum(core.try_numeric(t->>'tax_amount')), 0)
   FROM jsonb_array_elements(CASE jsonb_typeof(li->'item_tax') WHEN 'array' THEN li->'item_tax' ELSE '[]' END) t)"""

# One line per (order, sku_id); catalog membership is read from core.products, mapped above in the same run.
_LINES = f"""
INSERT INTO core.order_lines (shop_key, order_id, line_id, product_key, variation_key, sku, name, quantity,
                              subtotal, subtotal_tax, total, total_tax)
SELECT :shop, u.order_id, u.sku_id,
       CASE WHEN bool_or(u.auction) THEN 'auction:' || md5(lower(min({_display_name("u.name")})))
            ELSE NULLIF(min(u.product_id), '') END,
       CASE WHEN bool_or(u.auction) THEN NULL ELSE u.sku_id END,
       CASE WHEN bool_or(u.auction) THEN NULL ELSE NULLIF(min(u.seller_sku), '') END,
       min(u.name), count(*), sum(u.original_price), sum(u.tax), sum(u.sale_price), sum(u.tax)
FROM (
    SELECT c.id AS order_id, li->>'sku_id' AS sku_id, li->>'product_id' AS product_id, li->>'seller_sku' AS seller_sku,
           li->>'product_name' AS name, core.try_numeric(li->>'original_price') AS original_price,
           core.try_numeric(li->>'sale_price') AS sale_price, {_UNIT_TAX} AS tax,
           coalesce(li->>'product_listing_type', '') = 'TEMPORARY_LISTING'
           OR (coalesce(li->>'seller_sku', '') = '' AND NOT EXISTS (
               SELECT 1 FROM core.products p
               WHERE p.shop_key = :shop AND p.product_key = li->>'product_id' AND p.in_catalog)) AS auction
    FROM tt_orders_checked c, jsonb_array_elements(c.line_items) li
    WHERE c.problem IS NULL
) u
GROUP BY u.order_id, u.sku_id
"""

# Customers known from orders: one per user_id, created at their first order, with their latest order's email.
_CUSTOMERS = """
INSERT INTO core.customers AS c (shop_key, customer_key, customer_id, email, registered, created_at, modified_at,
                                 deleted)
SELECT DISTINCT ON (o.customer_key) :shop, o.customer_key, o.customer_id, o.email, o.customer_id IS NOT NULL,
       min(o.created_at) OVER (PARTITION BY o.customer_key), max(o.created_at) OVER (PARTITION BY o.customer_key),
       false
FROM tt_orders_checked ch JOIN core.orders o ON o.shop_key = :shop AND o.order_id = ch.id
WHERE ch.problem IS NULL AND o.customer_key IS NOT NULL
ORDER BY o.customer_key, o.created_at DESC, length(o.order_id) DESC, o.order_id DESC
ON CONFLICT (shop_key, customer_key) DO UPDATE SET
    email = CASE WHEN EXCLUDED.modified_at >= c.modified_at THEN EXCLUDED.email ELSE c.email END,
    created_at = least(c.created_at, EXCLUDED.created_at), modified_at = greatest(c.modified_at, EXCLUDED.modified_at)
"""

# Products that only order lines know (auction items, products gone from the catalog), from this run's lines.
_MAPPED_LINES = """core.order_lines l JOIN tt_orders_checked c ON c.id = l.order_id AND c.problem IS NULL
WHERE l.shop_key = :shop"""
_LINE_ONLY_PRODUCTS = f"""
INSERT INTO core.products (shop_key, product_key, product_id, name, sku, type, in_catalog, deleted)
SELECT DISTINCT ON (l.product_key) :shop, l.product_key,
       CASE WHEN l.product_key LIKE 'auction:%' THEN NULL ELSE l.product_key END,
       CASE WHEN l.product_key LIKE 'auction:%' THEN {_display_name("l.name")} ELSE l.name END,
       l.sku, CASE WHEN l.product_key LIKE 'auction:%' THEN 'auction' END, false, l.product_key NOT LIKE 'auction:%'
FROM {_MAPPED_LINES} AND l.product_key IS NOT NULL
ORDER BY l.product_key, length(l.order_id) DESC, l.order_id DESC
ON CONFLICT (shop_key, product_key) DO NOTHING
"""

_LINE_ONLY_VARIATIONS = f"""
INSERT INTO core.variations (shop_key, variation_key, product_key, variation_id, sku, in_catalog, deleted)
SELECT DISTINCT ON (l.variation_key) :shop, l.variation_key, l.product_key, l.variation_key, l.sku, false, true
FROM {_MAPPED_LINES} AND l.variation_key IS NOT NULL
ORDER BY l.variation_key, length(l.order_id) DESC, l.order_id DESC
ON CONFLICT (shop_key, variation_key) DO NOTHING
"""

# ------------------------------------------------------------------------------------------------ refunds

# (raw entity, line items key, whether the record has refunded money): returns and cancellations map alike.
_GAVE_MONEY = " AND core.try_numeric(r.payload->'refund_amount'->>'refund_total') > 0"  # not a replacement
_REFUND_SOURCES = {
    "returns": ("return_line_items", f"r.payload->>'return_status' = '{RETURN_COMPLETE}'{_GAVE_MONEY}"),
    "cancellations": ("cancel_line_items", f"r.payload->>'cancel_status' = '{CANCELLATION_COMPLETE}'{_GAVE_MONEY}"),
}


def _check_refunds(entity: str) -> str:
    lines, completed = _REFUND_SOURCES[entity]
    return f"""
CREATE TEMP TABLE tt_{entity}_checked ON COMMIT DROP AS
SELECT s.*, CASE
        WHEN coalesce(s.order_id, '') = '' THEN 'order_id is missing'
        {_epoch_problem("update_time", "s.p->>'update_time'", required=True)}
        WHEN core.try_numeric(s.p->'refund_amount'->>'refund_total') IS NULL
            THEN 'refund_amount.refund_total is missing or not a number'
        WHEN jsonb_typeof(coalesce(s.lines, '[]'::jsonb)) <> 'array' THEN '{lines} is not a list'
        WHEN EXISTS (
            SELECT 1 FROM jsonb_array_elements(s.lines) li
            WHERE coalesce(li->>'sku_id', '') = ''
               OR core.try_numeric(coalesce(li->'refund_amount'->>'refund_subtotal', '0')) IS NULL
               OR core.try_numeric(coalesce(li->'refund_amount'->>'refund_tax', '0')) IS NULL
        ) THEN 'a line item has no sku_id or an amount that is not a number'
    END AS problem
FROM (
    SELECT r.id, r.payload AS p, r.payload->>'order_id' AS order_id, r.payload->'{lines}' AS lines,
           coalesce({completed}, false) AS completed
    FROM {changed(f"tiktok_shop_{entity}")}
) s
"""


_REPLACE_REFUND_LINES = """
DELETE FROM core.refund_lines t USING {checked} c WHERE t.shop_key = :shop AND t.refund_id = c.id
"""

# A record that has no refunded money (any more), or fails its checks, is no refund.
_DROP_REFUNDS = """
DELETE FROM core.refunds t USING {checked} c
WHERE t.shop_key = :shop AND t.refund_id = c.id AND (c.problem IS NOT NULL OR NOT c.completed)
"""

_REFUNDS_UPDATED = (
    "order_id", "created_at", "created_date", "amount", "reason",
)  # fmt: skip
_REFUNDS = f"""
INSERT INTO core.refunds AS t (shop_key, refund_id, order_id, created_at, created_date, amount, reason)
SELECT :shop, c.id, c.order_id, core.try_epoch(c.p->>'update_time'),
       (core.try_epoch(c.p->>'update_time') AT TIME ZONE :tz)::date,
       abs(core.try_numeric(c.p->'refund_amount'->>'refund_total')),
       NULLIF(coalesce(c.p->>'return_reason_text', c.p->>'cancel_reason_text', c.p->>'return_reason',
                       c.p->>'cancel_reason'), '')
FROM {{checked}} c WHERE c.problem IS NULL AND c.completed
ON CONFLICT (shop_key, refund_id) DO UPDATE SET
    {excluded(*_REFUNDS_UPDATED)}
"""

_REFUND_LINES = f"""
INSERT INTO core.refund_lines (shop_key, refund_id, line_id, order_id, order_line_id, product_key, variation_key,
                               quantity, amount, tax)
SELECT :shop, c.id, coalesce(li->>'return_line_item_id', li->>'cancel_line_item_id'), c.order_id, li->>'sku_id',
       l.product_key, l.variation_key, 1, abs({money("li->'refund_amount'->>'refund_subtotal'")}),
       abs({money("li->'refund_amount'->>'refund_tax'")})
FROM {{checked}} c
CROSS JOIN jsonb_array_elements(c.lines) li
LEFT JOIN core.order_lines l ON l.shop_key = :shop AND l.order_id = c.order_id AND l.line_id = li->>'sku_id'
WHERE c.problem IS NULL AND c.completed
"""

# Refunded total and the refunded group of the orders mapped in this run or whose refunds were: an order's
# refunds may arrive before or after the order itself.
_REFUND_STATE = f"""
WITH touched AS (
    SELECT id AS order_id FROM tt_orders_checked WHERE problem IS NULL
    UNION SELECT order_id FROM tt_returns_checked UNION SELECT order_id FROM tt_cancellations_checked
), refunded AS (
    -- Joins of per-order sums rather than a subquery per order: a rebuild touches every order.
    SELECT t.order_id, coalesce(r.amount, 0) AS amount, coalesce(l.amount, 0) AS products
    FROM touched t
    LEFT JOIN (SELECT order_id, sum(amount) AS amount FROM core.refunds
               WHERE shop_key = :shop AND order_id IN (SELECT order_id FROM touched) GROUP BY order_id) r
           ON r.order_id = t.order_id
    LEFT JOIN (SELECT order_id, sum(amount) AS amount FROM core.refund_lines  -- lines of completed refunds only
               WHERE shop_key = :shop AND order_id IN (SELECT order_id FROM touched) GROUP BY order_id) l
           ON l.order_id = t.order_id
), target AS (
    SELECT o.order_id, r.amount,
           CASE WHEN {_status_group("o.status")} = 'paid' AND r.products > 0
                     AND r.products >= o.subtotal - o.discount_total THEN 'refunded'
                ELSE {_status_group("o.status")} END AS status_group
    FROM core.orders o JOIN refunded r ON r.order_id = o.order_id
    WHERE o.shop_key = :shop
)
UPDATE core.orders o SET refunded_total = t.amount, status_group = t.status_group
FROM target t
WHERE o.shop_key = :shop AND o.order_id = t.order_id
  AND (o.refunded_total, o.status_group) IS DISTINCT FROM (t.amount, t.status_group)
"""

# ------------------------------------------------------------------------------------------------ finance

_STATEMENT_AMOUNTS = ("settlement_amount", "revenue_amount", "fee_amount", "adjustment_amount")

_CHECK_STATEMENTS = f"""
CREATE TEMP TABLE tt_statements_checked ON COMMIT DROP AS
SELECT r.id, r.payload AS p, CASE
        {_epoch_problem("statement_time", "r.payload->>'statement_time'", required=True)}
        {_required_numbers("a statement amount", _STATEMENT_AMOUNTS)}
    END AS problem
FROM {changed("tiktok_shop_statements")}
"""

_STATEMENTS_UPDATED = (
    "statement_time", "statement_date", "currency", "settlement_amount", "revenue_amount", "fee_amount",
    "adjustment_amount", "shipping_cost_amount", "payment_status",
)  # fmt: skip
_STATEMENTS = f"""
INSERT INTO core.statements AS t (shop_key, statement_id, statement_time, statement_date, currency,
    settlement_amount, revenue_amount, fee_amount, adjustment_amount, shipping_cost_amount, payment_status)
SELECT :shop, c.id, core.try_epoch(c.p->>'statement_time'),
       (core.try_epoch(c.p->>'statement_time') AT TIME ZONE :tz)::date, NULLIF(c.p->>'currency', ''),
       {", ".join(f"core.try_numeric(c.p->>'{a}')" for a in _STATEMENT_AMOUNTS)},
       {money("c.p->>'shipping_cost_amount'")}, NULLIF(c.p->>'payment_status', '')
FROM tt_statements_checked c WHERE c.problem IS NULL
ON CONFLICT (shop_key, statement_id) DO UPDATE SET
    {excluded(*_STATEMENTS_UPDATED)}
"""

_CHECK_TRANSACTIONS = f"""
CREATE TEMP TABLE tt_transactions_checked ON COMMIT DROP AS
SELECT r.id, r.parent_id AS statement_id, r.payload AS p,
       coalesce(NULLIF(r.payload->>'order_id', ''), NULLIF(r.payload->>'adjustment_order_id', '')) AS order_id,
       CASE
        WHEN coalesce(r.parent_id, '') = '' THEN 'the statement id (parent_id) is missing'
        {_required_numbers("a transaction amount", _STATEMENT_AMOUNTS)}
        {_numbers_problem("a fee component", [f"r.payload->>'{f}_amount'" for f in FEE_COMPONENTS])}
       END AS problem
FROM {changed("tiktok_shop_statement_transactions")}
"""

_DROP_BAD_SETTLEMENTS = """
DELETE FROM core.settlements t USING tt_transactions_checked c
WHERE t.shop_key = :shop AND t.transaction_id = c.id AND c.problem IS NOT NULL
"""

_SETTLEMENTS_UPDATED = (
    "statement_id", "type", "order_id", "settlement_amount", "revenue_amount", "fee_amount", "adjustment_amount",
    "shipping_cost_amount", "fees",
)  # fmt: skip
_SETTLEMENTS = f"""
INSERT INTO core.settlements AS t (shop_key, transaction_id, statement_id, type, order_id, settlement_amount,
    revenue_amount, fee_amount, adjustment_amount, shipping_cost_amount, fees)
SELECT :shop, c.id, c.statement_id, NULLIF(c.p->>'type', ''), c.order_id,
       {", ".join(f"core.try_numeric(c.p->>'{a}')" for a in _STATEMENT_AMOUNTS)},
       {money("c.p->>'shipping_cost_amount'")}, f.fees
FROM tt_transactions_checked c
CROSS JOIN LATERAL (
    SELECT coalesce(jsonb_object_agg(k, v) FILTER (WHERE v <> 0), '{{}}') AS fees FROM (
        SELECT k, core.try_numeric(c.p->>(k || '_amount')) AS v FROM unnest(CAST(:components AS text[])) k
        UNION ALL
        SELECT 'other_fees',
               core.try_numeric(c.p->>'fee_amount') - coalesce(sum(core.try_numeric(c.p->>(k || '_amount'))), 0)
        FROM unnest(CAST(:components AS text[])) k
    ) x
) f
WHERE c.problem IS NULL
ON CONFLICT (shop_key, transaction_id) DO UPDATE SET
    {excluded(*_SETTLEMENTS_UPDATED)}
"""

# The settled rows of every order with a transaction in this run, re-derived from all its settlements.
_SETTLED_ORDERS = "SELECT DISTINCT order_id FROM tt_transactions_checked WHERE order_id IS NOT NULL"
_REPLACE_SETTLED = f"""
DELETE FROM core.order_fees f WHERE f.shop_key = :shop AND f.state = 'settled' AND f.order_id IN ({_SETTLED_ORDERS})
"""
_SETTLED_FEES = f"""
WITH s AS (
    SELECT s.*, st.statement_time, st.currency FROM core.settlements s
    LEFT JOIN core.statements st ON st.shop_key = s.shop_key AND st.statement_id = s.statement_id
    WHERE s.shop_key = :shop AND s.order_id IN ({_SETTLED_ORDERS})
), latest AS (
    SELECT DISTINCT ON (order_id) order_id, statement_id, statement_time, currency FROM s
    ORDER BY order_id, statement_time DESC NULLS LAST, statement_id DESC
), parts AS (
    SELECT order_id, 'revenue' AS fee_type, revenue_amount AS amount FROM s
    UNION ALL SELECT order_id, 'adjustment', adjustment_amount FROM s
    UNION ALL SELECT s.order_id, f.key, f.value::numeric FROM s, jsonb_each_text(s.fees) f
)
INSERT INTO core.order_fees (shop_key, order_id, fee_type, state, amount, currency, statement_id, settled_at)
SELECT :shop, p.order_id, p.fee_type, 'settled', sum(p.amount), l.currency, l.statement_id, l.statement_time
FROM parts p JOIN latest l ON l.order_id = p.order_id
GROUP BY p.order_id, p.fee_type, l.currency, l.statement_id, l.statement_time
HAVING sum(p.amount) <> 0 OR p.fee_type = 'revenue'
"""

_ESTIMATE_AMOUNTS = [f"est_{c}_amount" for c in (*ESTIMATE_COMPONENTS, "settlement")]

_CHECK_UNSETTLED = f"""
CREATE TEMP TABLE tt_unsettled_checked ON COMMIT DROP AS
SELECT r.id, r.payload AS p, NULLIF(r.payload->>'order_id', '') AS order_id, CASE
        {_required_numbers("an estimated amount", _ESTIMATE_AMOUNTS)}
    END AS problem
FROM {changed("tiktok_shop_unsettled_transactions")}
"""

# The estimate of every order with an unsettled record in this run, from all its unsettled records (an order
# keeps its estimate after it settles: the importer keeps the raw record; the P&L shows the difference). One hash
# join over the shop's unsettled records; they are few next to orders (an index on the payload's order_id would
# have to be declared in storepipe.warehouse.tables too).
_ESTIMATED_ORDERS = "SELECT DISTINCT order_id FROM tt_unsettled_checked WHERE order_id IS NOT NULL"
_REPLACE_ESTIMATED = f"""
DELETE FROM core.order_fees f WHERE f.shop_key = :shop AND f.state = 'estimated'
  AND f.order_id IN ({_ESTIMATED_ORDERS})
"""
_ESTIMATE = "core.try_numeric(r.payload->>('est_' || c.component || '_amount'))"
_ESTIMATED_FEES = f"""
INSERT INTO core.order_fees (shop_key, order_id, fee_type, state, amount, currency)
SELECT :shop, e.order_id, c.component, 'estimated', sum({_ESTIMATE}), min(r.payload->>'currency')
FROM ({_ESTIMATED_ORDERS}) e
JOIN raw.tiktok_shop_unsettled_transactions r ON r.shop_key = :shop AND r.payload->>'order_id' = e.order_id
CROSS JOIN unnest(CAST(:estimates AS text[])) c(component)
WHERE {" AND ".join(f"core.try_numeric(r.payload->>'{a}') IS NOT NULL" for a in _ESTIMATE_AMOUNTS)}
GROUP BY e.order_id, c.component
HAVING sum({_ESTIMATE}) <> 0 OR c.component = 'revenue'
"""


@dataclass(frozen=True)
class TikTokModelResult(ModelResult):
    """What every model reports, and the finance rows (re)mapped."""

    statements: int
    settlements: int
    order_fees: int


def map_shop(engine: sa.Engine, shop: Shop, since: datetime | None, *, run_id: str | None = None) -> TikTokModelResult:
    """Map the shop's raw records fetched since `since` (None: all of them) into core, in one transaction."""
    params = {
        "shop": shop.key,
        "since": since,
        "tz": shop.timezone,
        "run_id": run_id,
        "components": list(FEE_COMPONENTS),
        "estimates": list(ESTIMATE_COMPONENTS),
    }
    with engine.begin() as conn:
        run = sql_runner(conn, params, log)
        run(_CATALOG)
        products = run(_PRODUCTS)
        run(_VARIATIONS)
        run(_CHECK_ORDERS)
        run("ANALYZE tt_orders_checked")  # a temp table has no statistics until analysed: plans go wrong
        quarantined = quarantine(run, "tt_orders_checked", "orders")
        run(_DROP_BAD_ORDERS)
        orders = run(_ORDERS)
        run(_REPLACE_LINES)
        lines = run(_LINES)
        customers = run(_CUSTOMERS)
        run(_LINE_ONLY_PRODUCTS)
        run(_LINE_ONLY_VARIATIONS)
        refunds = 0
        for entity in _REFUND_SOURCES:
            checked = f"tt_{entity}_checked"
            run(_check_refunds(entity))
            run(f"ANALYZE {checked}")
            quarantined += quarantine(run, checked, entity)
            run(_REPLACE_REFUND_LINES.format(checked=checked))
            run(_DROP_REFUNDS.format(checked=checked))
            refunds += run(_REFUNDS.format(checked=checked))
            run(_REFUND_LINES.format(checked=checked))
        run(_REFUND_STATE)
        run(_CHECK_STATEMENTS)
        quarantined += quarantine(run, "tt_statements_checked", "statements")
        statements = run(_STATEMENTS)
        run(_CHECK_TRANSACTIONS)
        run("ANALYZE tt_transactions_checked")
        quarantined += quarantine(run, "tt_transactions_checked", "statement_transactions")
        run(_DROP_BAD_SETTLEMENTS)
        settlements = run(_SETTLEMENTS)
        run(_REPLACE_SETTLED)
        fees = run(_SETTLED_FEES)
        run(_CHECK_UNSETTLED)
        run("ANALYZE tt_unsettled_checked")
        quarantined += quarantine(run, "tt_unsettled_checked", "unsettled_transactions")
        run(_REPLACE_ESTIMATED)
        fees += run(_ESTIMATED_FEES)
    return TikTokModelResult(
        orders=orders,
        order_lines=lines,
        refunds=refunds,
        customers=customers,
        products=products,
        statements=statements,
        settlements=settlements,
        order_fees=fees,
        quarantined=quarantined,
        rebuild=since is None,
    )
