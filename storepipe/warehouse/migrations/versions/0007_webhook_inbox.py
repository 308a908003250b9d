"""Webhook inbox: every verified delivery, committed before the receiver answers 2xx, until a run applies it.

One row per delivery, unique per shop on the platform's delivery id (WooCommerce X-WC-Webhook-Delivery-ID,
TikTok tts_notification_id, `ping:<webhook_id>` for WooCommerce's creation ping), so a retried or replayed
delivery never becomes a second row. `payload` is the body as delivered (verified on the raw bytes first).
Status: pending (queued) -> claimed (a run took it) -> applied | failed (gave up after retries); pings and
topics storepipe does not act on are stored as ignored, for the record.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_UP = """
CREATE TABLE ops.webhook_inbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shop_key text NOT NULL REFERENCES ops.shops(shop_key),
    platform text NOT NULL,
    topic text NOT NULL,               -- order.updated, ping, ORDER_STATUS_CHANGE, ...
    delivery_id text NOT NULL,         -- the platform's id of this delivery: what makes a replay a duplicate
    resource_id text,                  -- the order / customer / product id the delivery is about
    received_at timestamptz NOT NULL DEFAULT now(),
    payload jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'claimed', 'applied', 'failed', 'ignored')),
    attempts integer NOT NULL DEFAULT 0,   -- runs that claimed it and failed
    claimed_at timestamptz,
    applied_at timestamptz,
    run_id text,                       -- the Dagster run that claimed (and applied) it
    error text,                        -- the last failure, for `storepipe status` and the UI
    CONSTRAINT webhook_inbox_one_per_delivery UNIQUE (shop_key, delivery_id)
);
-- What the inbox sensor and a claiming run look for: the pending (or claimed) rows of a shop, in order.
CREATE INDEX webhook_inbox_open ON ops.webhook_inbox (shop_key, id) WHERE status IN ('pending', 'claimed');
"""


def upgrade() -> None:
    op.execute(_UP)


def downgrade() -> None:
    op.execute("DROP TABLE ops.webhook_inbox")
