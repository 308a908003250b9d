"""Analytics marts: the order change map that drives incremental refreshes, per-shop metric settings, mart tables.

core.order_changes holds one row per order of core that changed, with a sequence number that grows on
every change (insert, update or delete of the order or of one of its refunds). Statement-level triggers
fill it from transition tables, so every writer of core (each lane's model, webhooks) is covered without
knowing about the marts, and a bulk statement costs one set-based insert. Child rows (lines, coupon
redemptions, attribution) are replaced together with their order row, which is what the triggers see.
Marts remember the last sequence number they consumed per shop (ops.mart_state).

The fact tables are UNLOGGED: they are working tables derived from core, and skipping the WAL makes a
rebuild of a million orders about twice as fast. Crash recovery empties them; the next refresh sees
facts missing for a shop that has orders and rebuilds it. (Unlogged tables are not on physical replicas:
query the marts, which are logged, there.)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_CHANGE_MAP = """
CREATE SEQUENCE core.order_change_seq;
CREATE TABLE core.order_changes (
    shop_key text NOT NULL,
    order_id text NOT NULL,
    change_id bigint NOT NULL DEFAULT nextval('core.order_change_seq'),
    PRIMARY KEY (shop_key, order_id)
);
CREATE INDEX order_changes_by_change ON core.order_changes (shop_key, change_id);

CREATE FUNCTION core.note_order_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- `changed` is the transition table of the statement (new rows, or old rows for a delete).
    INSERT INTO core.order_changes AS c (shop_key, order_id)
    SELECT DISTINCT shop_key, order_id FROM changed
    ON CONFLICT (shop_key, order_id) DO UPDATE SET change_id = nextval('core.order_change_seq');
    RETURN NULL;
END $$;
"""

_TRIGGERS = """
CREATE TRIGGER {table}_inserted AFTER INSERT ON core.{table}
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION core.note_order_changes();
CREATE TRIGGER {table}_updated AFTER UPDATE ON core.{table}
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION core.note_order_changes();
CREATE TRIGGER {table}_deleted AFTER DELETE ON core.{table}
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION core.note_order_changes();
"""

_OPS = """
CREATE TABLE ops.metric_settings (
    shop_key text PRIMARY KEY REFERENCES ops.shops(shop_key),
    counted_status_groups text[] NOT NULL DEFAULT '{paid,refunded}',
    date_basis text NOT NULL DEFAULT 'created' CHECK (date_basis IN ('created', 'paid')),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE ops.mart_state (
    shop_key text PRIMARY KEY REFERENCES ops.shops(shop_key),
    last_change_id bigint NOT NULL,
    settings_fingerprint text NOT NULL,
    refreshed_at timestamptz NOT NULL DEFAULT now()
);
"""

_MARTS = """
CREATE UNLOGGED TABLE marts.order_facts (
    shop_key text NOT NULL,
    order_id text NOT NULL,
    customer_key text,
    status_group text NOT NULL,
    deleted boolean NOT NULL,           -- trashed at the source: never counted, not even as a coupon use
    counted boolean NOT NULL,
    ordered_at timestamptz,             -- the date basis' timestamp (created or paid)
    order_date date,                    -- its shop-local date; NULL when the basis date is missing
    customer_order_seq integer,         -- 1 = the customer's first counted order; NULL when not counted
    items numeric NOT NULL,
    gross_sales numeric NOT NULL,
    discounts numeric NOT NULL,
    shipping numeric NOT NULL,
    taxes numeric NOT NULL,
    fees numeric NOT NULL,
    refunds numeric NOT NULL,
    refunds_unallocated numeric NOT NULL,
    net_sales numeric NOT NULL,
    total_sales numeric NOT NULL,
    order_total numeric NOT NULL,
    coupon_keys text[] NOT NULL,        -- sorted
    coupon_discounts numeric[] NOT NULL,  -- the discount of each code, in the order of coupon_keys
    source_key text NOT NULL,
    source_type text,
    referrer text,
    utm_source text,
    utm_medium text,
    utm_campaign text,
    utm_content text,
    utm_term text,
    device_type text,
    first_product_key text,             -- the product of the order's first line item
    PRIMARY KEY (shop_key, order_id)
);
CREATE INDEX order_facts_by_customer ON marts.order_facts (shop_key, customer_key);
CREATE INDEX order_facts_by_date ON marts.order_facts (shop_key, order_date);

CREATE UNLOGGED TABLE marts.line_facts (
    shop_key text NOT NULL,
    order_id text NOT NULL,
    line_id text NOT NULL,
    order_date date NOT NULL,
    customer_key text,
    product_key text NOT NULL,          -- '' for a line not linked to a product
    variation_key text,
    quantity numeric NOT NULL,
    gross_sales numeric NOT NULL,
    discounts numeric NOT NULL,
    refunded_quantity numeric NOT NULL,
    refunded_amount numeric NOT NULL,
    net_sales numeric NOT NULL,
    PRIMARY KEY (shop_key, order_id, line_id)
);
CREATE INDEX line_facts_by_product_day ON marts.line_facts (shop_key, product_key, order_date);
CREATE INDEX line_facts_by_variation_day ON marts.line_facts (shop_key, variation_key, order_date)
    WHERE variation_key IS NOT NULL;

CREATE UNLOGGED TABLE marts.refund_facts (
    shop_key text NOT NULL,
    refund_id text NOT NULL,
    order_id text NOT NULL,
    refund_date date NOT NULL,
    amount numeric NOT NULL,
    PRIMARY KEY (shop_key, refund_id)
);
CREATE INDEX refund_facts_by_order ON marts.refund_facts (shop_key, order_id);
CREATE INDEX refund_facts_by_date ON marts.refund_facts (shop_key, refund_date);

CREATE TABLE marts.customer_metrics (
    shop_key text NOT NULL,
    customer_key text NOT NULL,
    email text,
    registered boolean NOT NULL,
    first_order_id text NOT NULL,
    first_order_at timestamptz NOT NULL,
    first_order_date date NOT NULL,
    last_order_at timestamptz NOT NULL,
    last_order_date date NOT NULL,
    orders integer NOT NULL,
    items numeric NOT NULL,
    gross_sales numeric NOT NULL,
    discounts numeric NOT NULL,
    refunds numeric NOT NULL,
    net_sales numeric NOT NULL,
    total_sales numeric NOT NULL,
    aov numeric NOT NULL,
    avg_days_between_orders numeric,
    is_returning boolean NOT NULL,
    first_source_type text,
    first_source_key text NOT NULL,
    first_coupon text,
    first_product_key text,
    cohort_month date NOT NULL,
    cohort_week date NOT NULL,
    PRIMARY KEY (shop_key, customer_key)
);
CREATE INDEX customer_metrics_by_cohort_month ON marts.customer_metrics (shop_key, cohort_month);
CREATE INDEX customer_metrics_by_cohort_week ON marts.customer_metrics (shop_key, cohort_week);

CREATE TABLE marts.cohorts (
    shop_key text NOT NULL,
    grain text NOT NULL CHECK (grain IN ('month', 'week')),
    cohort_start date NOT NULL,
    period integer NOT NULL,            -- 0-indexed: 0 is the cohort's own month or week
    cohort_size integer NOT NULL,
    active_customers integer NOT NULL,
    retention numeric NOT NULL,
    orders integer NOT NULL,
    net_sales numeric NOT NULL,
    cumulative_net_sales numeric NOT NULL,
    ltv numeric NOT NULL,               -- cumulative net sales per cohort customer
    aov numeric,
    cumulative_orders_per_customer numeric NOT NULL,
    PRIMARY KEY (shop_key, grain, cohort_start, period)
);

CREATE TABLE marts.product_sales (
    shop_key text NOT NULL,
    local_date date NOT NULL,
    product_key text NOT NULL,
    product_name text,
    units numeric NOT NULL,
    gross_sales numeric NOT NULL,
    discounts numeric NOT NULL,
    refunded_units numeric NOT NULL,
    refunded_amount numeric NOT NULL,
    net_sales numeric NOT NULL,
    orders integer NOT NULL,
    customers integer NOT NULL,
    PRIMARY KEY (shop_key, local_date, product_key)
);
CREATE INDEX product_sales_by_product ON marts.product_sales (shop_key, product_key, local_date);

CREATE TABLE marts.variation_sales (
    shop_key text NOT NULL,
    local_date date NOT NULL,
    variation_key text NOT NULL,
    product_key text NOT NULL,
    units numeric NOT NULL,
    gross_sales numeric NOT NULL,
    discounts numeric NOT NULL,
    refunded_units numeric NOT NULL,
    refunded_amount numeric NOT NULL,
    net_sales numeric NOT NULL,
    orders integer NOT NULL,
    customers integer NOT NULL,
    PRIMARY KEY (shop_key, local_date, variation_key)
);

CREATE TABLE marts.coupon_performance (
    shop_key text NOT NULL,
    coupon_key text NOT NULL,
    code text NOT NULL,
    uses integer NOT NULL,              -- redemptions on orders of any status but deleted
    orders integer NOT NULL,            -- counted orders that used it
    net_sales numeric NOT NULL,
    total_sales numeric NOT NULL,
    discount_total numeric NOT NULL,
    customers integer NOT NULL,
    new_customers integer NOT NULL,     -- customers whose first counted order used it
    first_used_date date,
    last_used_date date,
    PRIMARY KEY (shop_key, coupon_key)
);

CREATE TABLE marts.source_attribution (
    shop_key text NOT NULL,
    source_key text NOT NULL,           -- md5 of the dimensions below, '' for orders without attribution
    source_type text,
    referrer text,
    utm_source text,
    utm_medium text,
    utm_campaign text,
    utm_content text,
    utm_term text,
    device_type text,
    orders integer NOT NULL,
    net_sales numeric NOT NULL,
    total_sales numeric NOT NULL,
    new_customers integer NOT NULL,     -- customers whose first counted order came from this source
    PRIMARY KEY (shop_key, source_key)
);

CREATE TABLE marts.daily_summary (
    shop_key text NOT NULL,
    book text NOT NULL CHECK (book IN ('order_date', 'refund_date')),
    local_date date NOT NULL,
    orders integer NOT NULL,
    items numeric NOT NULL,
    gross_sales numeric NOT NULL,
    discounts numeric NOT NULL,
    shipping numeric NOT NULL,
    taxes numeric NOT NULL,
    fees numeric NOT NULL,
    refunds numeric NOT NULL,
    net_sales numeric NOT NULL,
    total_sales numeric NOT NULL,
    new_customers integer NOT NULL,
    returning_customers integer NOT NULL,
    aov numeric,
    PRIMARY KEY (shop_key, book, local_date)
);

CREATE TABLE marts.subscriptions_monthly (
    shop_key text NOT NULL,
    month date NOT NULL,
    active_at_start integer NOT NULL,
    new_subscriptions integer NOT NULL,
    churned integer NOT NULL,
    active_at_end integer NOT NULL,
    mrr numeric NOT NULL,               -- at the end of the month, to the cent
    churn_rate numeric,                 -- churned / active_at_start
    PRIMARY KEY (shop_key, month)
);
"""

_MART_TABLES = (
    "subscriptions_monthly", "daily_summary", "source_attribution", "coupon_performance", "variation_sales",
    "product_sales", "cohorts", "customer_metrics", "refund_facts", "line_facts", "order_facts",
)  # fmt: skip


def upgrade() -> None:
    op.execute(_CHANGE_MAP)
    for table in ("orders", "refunds"):
        op.execute(_TRIGGERS.format(table=table))
    op.execute(_OPS)
    op.execute(_MARTS)


def downgrade() -> None:
    for table in _MART_TABLES:
        op.execute(f"DROP TABLE marts.{table}")
    op.execute("DROP TABLE ops.mart_state; DROP TABLE ops.metric_settings")
    for table in ("orders", "refunds"):
        for event in ("inserted", "updated", "deleted"):
            op.execute(f"DROP TRIGGER {table}_{event} ON core.{table}")
    op.execute("DROP TABLE core.order_changes; DROP FUNCTION core.note_order_changes()")
    op.execute("DROP SEQUENCE core.order_change_seq")
