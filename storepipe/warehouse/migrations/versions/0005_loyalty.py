"""Loyalty: per-shop programs, the paid orders loyalty has taken in, tiers, an append-only cashback ledger, sync runs.

loyalty.orders is loyalty's own copy of the paid orders it synced (the sync window decides which new
orders come in; once in, an order is kept up to date), with the cashback rate frozen when it came in.
Tiers and spend are derived from it per customer. loyalty.cashback_ledger is the book: rows are only
ever inserted (a trigger rejects UPDATE, DELETE and TRUNCATE), each with a deterministic entry_key
('earn:<order>', 'clawback:<refund>', 'correction:<order>:<customer>:<n>', 'adjustment:<key>') that makes
a second write of the same entry impossible. A balance is the sum of a customer's entries.
The sync consumes core.order_changes like the marts, with its own last-seen change id per shop.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TABLES = """
CREATE SCHEMA IF NOT EXISTS loyalty;

CREATE TABLE ops.loyalty_programs (
    shop_key text PRIMARY KEY REFERENCES ops.shops(shop_key),
    program jsonb NOT NULL,             -- validated by storepipe.loyalty.program.LoyaltyProgram
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE loyalty.sync_state (
    shop_key text PRIMARY KEY REFERENCES ops.shops(shop_key),
    last_change_id bigint NOT NULL,     -- the last core.order_changes id the ledger consumed
    program_fingerprint text NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE loyalty.orders (
    shop_key text NOT NULL,
    order_id text NOT NULL,
    customer_key text NOT NULL,
    paid_at timestamptz,
    paid_date date NOT NULL,            -- shop-local
    basis numeric NOT NULL,             -- the program's spend basis of the order
    refunded_basis numeric NOT NULL,    -- the part of the basis refunded so far, at most basis
    refunds integer NOT NULL,
    tier text,                          -- the tier the customer held when the order was paid
    cashback_percent numeric,           -- that tier's rate, frozen when the order was taken in
    synced_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_key, order_id)
);
CREATE INDEX loyalty_orders_by_customer ON loyalty.orders (shop_key, customer_key);

-- Customers whose orders changed while a sync ran without update_customer_metrics: the next sync with it
-- (or recalculate_tiers) re-derives their spend and tiers.
CREATE TABLE loyalty.pending_customers (
    shop_key text NOT NULL,
    customer_key text NOT NULL,
    PRIMARY KEY (shop_key, customer_key)
);

CREATE TABLE loyalty.customer_spend (
    shop_key text NOT NULL,
    customer_key text NOT NULL,
    orders integer NOT NULL,
    first_paid_date date NOT NULL,
    last_paid_date date NOT NULL,
    gross_spend numeric NOT NULL,       -- Σ basis of the synced paid orders
    refunded numeric NOT NULL,          -- Σ refunded basis
    lifetime_spend numeric NOT NULL,    -- gross_spend − refunded
    period_spend numeric NOT NULL,      -- net spend in the evaluation period as of evaluated_on
    evaluated_on date NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_key, customer_key)
);

CREATE TABLE loyalty.tier_placements (
    shop_key text NOT NULL,
    customer_key text NOT NULL,
    tier text NOT NULL,
    tier_rank integer NOT NULL,         -- 1 = the base tier
    cashback_percent numeric NOT NULL,
    period_spend numeric NOT NULL,
    since date,                         -- the date of the last tier change; NULL: never left the base tier
    next_review date,                   -- when an order leaves the annual period and the tier may drop
    evaluated_on date NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_key, customer_key)
);
CREATE INDEX tier_placements_by_review ON loyalty.tier_placements (shop_key, next_review)
    WHERE next_review IS NOT NULL;

CREATE TABLE loyalty.tier_changes (
    shop_key text NOT NULL,
    customer_key text NOT NULL,
    change_date date NOT NULL,          -- shop-local: the tier holds from the end of this day
    from_tier text NOT NULL,
    to_tier text NOT NULL,
    period_spend numeric NOT NULL,
    reason text NOT NULL,               -- order paid | refund | left the evaluation period (comma-joined)
    PRIMARY KEY (shop_key, customer_key, change_date)
);

CREATE TABLE loyalty.cashback_ledger (
    entry_id bigint GENERATED ALWAYS AS IDENTITY,  -- the order entries were written in (not indexed)
    shop_key text NOT NULL,             -- no foreign key: a per-row check on a million inserts costs seconds
    entry_key text NOT NULL,
    customer_key text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('earn', 'clawback', 'correction', 'adjustment')),
    order_id text,
    refund_id text,
    amount numeric NOT NULL CHECK (amount = round(amount, 2) AND amount <> 0),
    entry_date date NOT NULL,           -- shop-local: paid date, refund date, or the day of the correction
    basis numeric,                      -- earn: the order's spend basis; clawback: the refunded basis
    cashback_percent numeric,
    source text NOT NULL CHECK (source IN ('sync', 'reconcile', 'manual')),
    note text,
    run_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_key, entry_key)
);
-- Two indexes only: each one more costs ~4 s per million entries written. An order's entries are found by
-- key ('earn:<order>'), a customer's by this one.
CREATE INDEX cashback_ledger_by_customer ON loyalty.cashback_ledger (shop_key, customer_key);

CREATE FUNCTION loyalty.reject_ledger_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'loyalty.cashback_ledger is append-only: % is not allowed; write a correction entry instead',
        TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER cashback_ledger_append_only BEFORE UPDATE OR DELETE ON loyalty.cashback_ledger
    FOR EACH ROW EXECUTE FUNCTION loyalty.reject_ledger_change();
CREATE TRIGGER cashback_ledger_no_truncate BEFORE TRUNCATE ON loyalty.cashback_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION loyalty.reject_ledger_change();

CREATE TABLE loyalty.balances (
    shop_key text NOT NULL,
    customer_key text NOT NULL,
    balance numeric NOT NULL,           -- Σ amount of the customer's ledger entries
    entries integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_key, customer_key)
);

CREATE TABLE loyalty.sync_runs (
    sync_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shop_key text NOT NULL REFERENCES ops.shops(shop_key),
    run_id text,
    mode text NOT NULL,                 -- sync | recalculate_tiers
    sync_window text NOT NULL,
    window_start date,
    as_of date NOT NULL,
    reconcile boolean NOT NULL,
    update_customer_metrics boolean NOT NULL,
    full_scan boolean NOT NULL,
    reason text NOT NULL,
    orders_synced integer NOT NULL,
    customers_updated integer NOT NULL,
    discrepancies integer NOT NULL,
    entries_written integer NOT NULL,
    warnings text[] NOT NULL,
    summary jsonb NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sync_runs_by_shop ON loyalty.sync_runs (shop_key, sync_id);

-- The discrepancies a sync summary counts: loyalty's own and the orders the import quarantined.
CREATE VIEW loyalty.discrepancies AS
SELECT * FROM ops.discrepancies WHERE entity IN ('loyalty_orders', 'orders');
"""


def upgrade() -> None:
    op.execute(_TABLES)


def downgrade() -> None:
    # DROP does not fire the append-only triggers: the ledger goes with its schema.
    op.execute("DROP SCHEMA loyalty CASCADE; DROP TABLE ops.loyalty_programs")
