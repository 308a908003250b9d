"""The canonical commerce model in core, shared by every platform, and the safe-cast helpers its mappings use.

Ids are text in core: WooCommerce and Shopify ids are integers, TikTok's are numeric strings, and a
customer_key is 'id:<platform id>' or 'email:<normalized email>'. Money is NUMERIC without a scale
(exact as delivered); times are timestamptz (UTC) with shop-local dates where marts group by day.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Safe casts used by every mapping. Plain SQL functions, so PostgreSQL inlines them: a plpgsql function
# with an EXCEPTION block would open a subtransaction per call (measured: 3x slower mapping).
_NUMERIC = r"""
CREATE OR REPLACE FUNCTION core.try_numeric(value text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value ~ '^\s*[-+]?[0-9]+(\.[0-9]+)?\s*$' THEN value::numeric END
$$;
"""
# The *_gmt fields are naive UTC 'YYYY-MM-DDTHH:MM:SS'. The shape is checked by a pattern, the calendar
# (no February 30) by pg_input_is_valid, which PostgreSQL 16 introduced; older servers get a plpgsql twin.
_UTC_PG16 = r"""
CREATE OR REPLACE FUNCTION core.try_utc(value text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$'
                 AND pg_input_is_valid(value, 'timestamp')
                THEN value::timestamp AT TIME ZONE 'UTC' END
$$;
"""
_UTC_OLDER = r"""
CREATE OR REPLACE FUNCTION core.try_utc(value text) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF value !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$' THEN RETURN NULL; END IF;
    RETURN value::timestamp AT TIME ZONE 'UTC';
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;
"""

_TABLES = """
CREATE TABLE core.orders (
    shop_key text NOT NULL,
    order_id text NOT NULL,
    platform text NOT NULL,
    number text,
    status text NOT NULL,              -- as the platform says it
    status_group text NOT NULL,        -- paid | pending | cancelled | failed | refunded | other
    currency char(3),
    customer_key text,
    customer_id text,                  -- the platform's customer id; NULL for guests
    email text,                        -- normalized: lower(trim())
    created_at timestamptz NOT NULL,
    created_date date NOT NULL,        -- shop-local
    paid_at timestamptz,
    paid_date date,
    completed_at timestamptz,
    modified_at timestamptz,
    subtotal numeric NOT NULL,         -- sum of line subtotals (before discounts), excluding tax
    discount_total numeric NOT NULL,
    discount_tax numeric NOT NULL,
    shipping_total numeric NOT NULL,
    shipping_tax numeric NOT NULL,
    fee_total numeric NOT NULL,
    fee_tax numeric NOT NULL,
    cart_tax numeric NOT NULL,
    total_tax numeric NOT NULL,
    total numeric NOT NULL,
    refunded_total numeric NOT NULL DEFAULT 0,   -- positive
    item_count numeric NOT NULL,
    payment_method text,
    created_via text,
    parent_order_id text,
    subscription_id text,              -- set on subscription renewal orders
    deleted boolean NOT NULL DEFAULT false,
    mapped_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_key, order_id)
);
CREATE INDEX orders_by_created_date ON core.orders (shop_key, created_date);
CREATE INDEX orders_by_customer ON core.orders (shop_key, customer_key);

CREATE TABLE core.order_lines (
    shop_key text NOT NULL,
    order_id text NOT NULL,
    line_id text NOT NULL,
    product_key text,
    variation_key text,
    sku text,
    name text,
    quantity numeric NOT NULL,
    subtotal numeric NOT NULL,         -- before discount, excluding tax
    subtotal_tax numeric NOT NULL,
    total numeric NOT NULL,            -- after discount, excluding tax
    total_tax numeric NOT NULL,
    PRIMARY KEY (shop_key, order_id, line_id)
);
CREATE INDEX order_lines_by_product ON core.order_lines (shop_key, product_key);

CREATE TABLE core.refunds (
    shop_key text NOT NULL,
    refund_id text NOT NULL,
    order_id text NOT NULL,
    created_at timestamptz NOT NULL,
    created_date date NOT NULL,        -- shop-local: the refund book's date
    amount numeric NOT NULL,           -- positive
    reason text,
    PRIMARY KEY (shop_key, refund_id)
);
CREATE INDEX refunds_by_order ON core.refunds (shop_key, order_id);

CREATE TABLE core.refund_lines (
    shop_key text NOT NULL,
    refund_id text NOT NULL,
    line_id text NOT NULL,
    order_id text NOT NULL,
    order_line_id text,
    product_key text,
    variation_key text,
    quantity numeric NOT NULL,         -- positive
    amount numeric NOT NULL,           -- positive, excluding tax
    tax numeric NOT NULL,              -- positive
    PRIMARY KEY (shop_key, refund_id, line_id)
);

CREATE TABLE core.customers (
    shop_key text NOT NULL,
    customer_key text NOT NULL,
    customer_id text,
    email text,
    first_name text,
    last_name text,
    registered boolean NOT NULL,
    created_at timestamptz,
    modified_at timestamptz,
    deleted boolean NOT NULL DEFAULT false,
    PRIMARY KEY (shop_key, customer_key)
);
CREATE INDEX customers_by_email ON core.customers (shop_key, email);

CREATE TABLE core.products (
    shop_key text NOT NULL,
    product_key text NOT NULL,
    product_id text,
    name text,
    sku text,
    type text,
    status text,
    price numeric,
    regular_price numeric,
    created_at timestamptz,
    modified_at timestamptz,
    in_catalog boolean NOT NULL,       -- false: known only from order lines (deleted or never listed)
    deleted boolean NOT NULL DEFAULT false,
    PRIMARY KEY (shop_key, product_key)
);

CREATE TABLE core.variations (
    shop_key text NOT NULL,
    variation_key text NOT NULL,
    product_key text,
    variation_id text,
    sku text,
    attributes jsonb,
    price numeric,
    regular_price numeric,
    in_catalog boolean NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    PRIMARY KEY (shop_key, variation_key)
);

CREATE TABLE core.coupons (
    shop_key text NOT NULL,
    coupon_key text NOT NULL,          -- the code, lower case (WooCommerce codes are case-insensitive)
    coupon_id text,
    code text NOT NULL,
    discount_type text,
    amount numeric,
    created_at timestamptz,
    expires_at timestamptz,
    usage_count integer,
    in_catalog boolean NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    PRIMARY KEY (shop_key, coupon_key)
);

CREATE TABLE core.coupon_redemptions (
    shop_key text NOT NULL,
    order_id text NOT NULL,
    coupon_key text NOT NULL,
    discount numeric NOT NULL,
    discount_tax numeric NOT NULL,
    PRIMARY KEY (shop_key, order_id, coupon_key)
);

CREATE TABLE core.subscriptions (
    shop_key text NOT NULL,
    subscription_id text NOT NULL,
    customer_key text,
    status text NOT NULL,
    billing_period text,
    billing_interval integer,
    recurring_total numeric,
    currency char(3),
    created_at timestamptz,
    start_at timestamptz,
    trial_end_at timestamptz,
    next_payment_at timestamptz,
    end_at timestamptz,
    cancelled_at timestamptz,
    parent_order_id text,
    deleted boolean NOT NULL DEFAULT false,
    PRIMARY KEY (shop_key, subscription_id)
);

CREATE TABLE core.order_attribution (
    shop_key text NOT NULL,
    order_id text NOT NULL,
    source_type text,
    referrer text,
    utm_campaign text,
    utm_source text,
    utm_medium text,
    utm_content text,
    utm_term text,
    utm_id text,
    session_entry text,
    session_pages integer,
    session_count integer,
    device_type text,
    user_agent text,
    PRIMARY KEY (shop_key, order_id)
);
"""

_DROP = (
    "order_attribution", "subscriptions", "coupon_redemptions", "coupons", "variations", "products", "customers",
    "refund_lines", "refunds", "order_lines", "orders",
)  # fmt: skip


def upgrade() -> None:
    op.execute(_NUMERIC)
    version = op.get_bind().execute(sa.text("SHOW server_version_num")).scalar_one()
    op.execute(_UTC_PG16 if int(version) >= 160000 else _UTC_OLDER)
    op.execute(_TABLES)


def downgrade() -> None:
    for table in _DROP:
        op.execute(f"DROP TABLE core.{table}")
    op.execute("DROP FUNCTION core.try_utc(text); DROP FUNCTION core.try_numeric(text)")
