"""TikTok Shop raw tables, and the canonical finance tables the TikTok statements fill: fees, statements, settlements.

TikTok ids are numeric strings of 18-19 digits, which can pass bigint's range, so the raw ids are text.
`modified_at` is the record's update_time where the API has one (orders, products, returns); records
without one (statements, transactions, inventory) are versioned by content: a changed record replaces the
stored one, an identical one writes nothing.

core.order_fees holds one amount per (order, fee type, state): `estimated` rows come from the unsettled
estimates, `settled` rows from statement transactions; a settled order keeps its estimate so the P&L can
show the difference. core.statements / core.settlements are the platform's payouts and their lines, the
order-less adjustments included (order_id NULL); a Shopify lane would fill them from its payouts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Frozen here on purpose: a migration must not change when storepipe.warehouse.tables changes later.
_ENTITIES = (
    "products", "product_details", "inventory", "orders", "statements", "statement_transactions",
    "unsettled_transactions", "returns", "cancellations", "warehouses", "fbt_warehouses", "fbt_inventory",
    "analytics",
)  # fmt: skip

_CORE = """
CREATE TABLE core.order_fees (
    shop_key text NOT NULL,
    order_id text NOT NULL,
    fee_type text NOT NULL,            -- e.g. platform_commission, transaction_fee, shipping_cost, sales_tax
    state text NOT NULL CHECK (state IN ('estimated', 'settled')),
    amount numeric NOT NULL,           -- signed as the platform reports it: costs are negative
    currency char(3),
    statement_id text,                 -- settled rows: the statement that paid it
    settled_at timestamptz,            -- settled rows: the statement's time
    PRIMARY KEY (shop_key, order_id, fee_type, state)
);
CREATE INDEX order_fees_by_settled ON core.order_fees (shop_key, settled_at);

CREATE TABLE core.statements (
    shop_key text NOT NULL,
    statement_id text NOT NULL,
    statement_time timestamptz NOT NULL,   -- 00:00 UTC of the day it covers
    statement_date date NOT NULL,          -- shop-local
    currency char(3),
    settlement_amount numeric NOT NULL,
    revenue_amount numeric NOT NULL,
    fee_amount numeric NOT NULL,
    adjustment_amount numeric NOT NULL,
    shipping_cost_amount numeric NOT NULL,
    payment_status text,
    PRIMARY KEY (shop_key, statement_id)
);

CREATE TABLE core.settlements (
    shop_key text NOT NULL,
    transaction_id text NOT NULL,
    statement_id text NOT NULL,
    type text,
    order_id text,                     -- NULL for adjustments that belong to no order
    settlement_amount numeric NOT NULL,
    revenue_amount numeric NOT NULL,
    fee_amount numeric NOT NULL,
    adjustment_amount numeric NOT NULL,
    shipping_cost_amount numeric NOT NULL,
    fees jsonb NOT NULL DEFAULT '{}',  -- the fee components of fee_amount by fee type (see the TikTok model)
    PRIMARY KEY (shop_key, transaction_id)
);
CREATE INDEX settlements_by_order ON core.settlements (shop_key, order_id);
CREATE INDEX settlements_by_statement ON core.settlements (shop_key, statement_id);

-- A fee settling changes the order's P&L: note it in the change map like an order change (see 0004).
CREATE TRIGGER order_fees_inserted AFTER INSERT ON core.order_fees
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION core.note_order_changes();
CREATE TRIGGER order_fees_updated AFTER UPDATE ON core.order_fees
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION core.note_order_changes();
CREATE TRIGGER order_fees_deleted AFTER DELETE ON core.order_fees
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION core.note_order_changes();
"""

# What the TikTok model (storepipe/sources/tiktok_shop/model.py) and the P&L marts (storepipe/marts/pnl.py) need.
_MODEL = r"""
-- TikTok times are unix seconds (JSON numbers or numeric strings); anything else is NULL.
CREATE FUNCTION core.try_epoch(value text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value ~ '^\s*[0-9]{1,11}\s*$' THEN to_timestamp(value::bigint) END
$$;

-- The platform-funded part of discount_total (TikTok reimburses it to the seller; 0 elsewhere).
ALTER TABLE core.orders ADD COLUMN platform_discount numeric NOT NULL DEFAULT 0;

CREATE TABLE marts.order_pnl (
    shop_key text NOT NULL,
    order_id text NOT NULL,
    order_date date,                   -- the order's shop-local created date
    status_group text,
    settlement_state text NOT NULL CHECK (settlement_state IN ('estimated', 'settled')),
    statement_id text,                 -- settled: the (latest) statement that paid it
    settled_at timestamptz,
    revenue numeric NOT NULL,          -- signed components of the settlement, of the state shown
    shipping_cost numeric NOT NULL,
    fees numeric NOT NULL,             -- fees and taxes other than shipping
    adjustments numeric NOT NULL,
    settlement numeric NOT NULL,       -- revenue + shipping_cost + fees + adjustments
    fee_types jsonb NOT NULL,          -- every fee type of the state shown: amount
    tax numeric NOT NULL,              -- tax the buyer paid (remitted by the platform in the US)
    shipping numeric NOT NULL,         -- shipping the buyer paid
    refunds numeric NOT NULL,          -- money given back to the buyer (positive)
    estimated_settlement numeric,      -- the estimate, when there is one (kept once settled)
    difference_vs_estimate numeric,    -- settled: settlement - estimated_settlement
    PRIMARY KEY (shop_key, order_id)
);
CREATE INDEX order_pnl_by_statement ON marts.order_pnl (shop_key, statement_id);

CREATE TABLE marts.statement_reconciliation (
    shop_key text NOT NULL,
    statement_id text NOT NULL,
    statement_time timestamptz NOT NULL,
    statement_date date NOT NULL,
    payment_status text,
    settlement_amount numeric NOT NULL,        -- the statement's own totals
    revenue_amount numeric NOT NULL,
    fee_amount numeric NOT NULL,
    adjustment_amount numeric NOT NULL,
    transactions integer NOT NULL,
    orders integer NOT NULL,
    transactions_settlement numeric NOT NULL,  -- Σ of its transactions
    transactions_revenue numeric NOT NULL,
    transactions_fee numeric NOT NULL,
    transactions_adjustment numeric NOT NULL,
    order_less_adjustments numeric NOT NULL,   -- Σ settlement of transactions of no order
    difference numeric NOT NULL,               -- settlement_amount - transactions_settlement
    estimated_orders integer NOT NULL,         -- its orders that had an estimate
    estimated_settlement numeric NOT NULL,     -- what their estimates said
    settled_vs_estimate numeric NOT NULL,      -- what they settled at - their estimates
    PRIMARY KEY (shop_key, statement_id)
);

CREATE TABLE marts.fee_breakdown (
    shop_key text NOT NULL,
    month date NOT NULL,               -- the order's shop-local month; the statement's for order-less adjustments
    fee_type text NOT NULL,
    fee_group text NOT NULL,           -- revenue | shipping_cost | fee_tax | adjustment
    settled_amount numeric NOT NULL,
    settled_orders integer NOT NULL,
    estimate_of_settled numeric NOT NULL,  -- what the estimates of the settled orders said
    open_estimate numeric NOT NULL,        -- estimates of orders not settled yet
    open_orders integer NOT NULL,
    PRIMARY KEY (shop_key, month, fee_type)
);
"""

_MODEL_DOWN = """
DROP TABLE marts.fee_breakdown; DROP TABLE marts.statement_reconciliation; DROP TABLE marts.order_pnl;
ALTER TABLE core.orders DROP COLUMN platform_discount;
DROP FUNCTION core.try_epoch(text);
"""


def upgrade() -> None:
    for entity in _ENTITIES:
        name = f"tiktok_shop_{entity}"
        op.create_table(
            name,
            sa.Column("shop_key", sa.Text, primary_key=True),
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("parent_id", sa.Text),
            sa.Column("modified_at", sa.DateTime(timezone=True)),
            sa.Column("payload", JSONB, nullable=False),
            sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
            sa.Column("deleted_at", sa.DateTime(timezone=True)),
            schema="raw",
        )
        op.create_index(f"{name}_fetched", name, ["shop_key", "fetched_at"], schema="raw")
    op.execute(_CORE)
    op.execute(_MODEL)


def downgrade() -> None:
    op.execute(_MODEL_DOWN)
    op.execute("DROP TABLE core.settlements; DROP TABLE core.statements; DROP TABLE core.order_fees;")
    for entity in _ENTITIES:
        op.drop_table(f"tiktok_shop_{entity}", schema="raw")
