"""Table definitions of the warehouse schemas (ops now; raw, core and marts as the lanes add them)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

SCHEMAS = ("raw", "core", "marts", "ops")

metadata = sa.MetaData()

SYNC_STATUSES = ("Running", "Completed", "Paused", "Failed")
PLATFORM_NAMES = ("woocommerce", "tiktok_shop")

shops = sa.Table(
    "shops",
    metadata,
    sa.Column("shop_key", sa.Text, primary_key=True),
    sa.Column("platform", sa.Text, nullable=False),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("base_url", sa.Text, nullable=False),
    sa.Column("timezone", sa.Text, nullable=False),
    sa.Column("currency", sa.CHAR(3), nullable=False),
    # Names of the environment variables holding the credentials, e.g. {"key": "ACME_KEY"}; never the values.
    sa.Column("credentials_env", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("disabled_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint(f"platform IN {PLATFORM_NAMES!r}", name="shops_platform_known"),
    schema="ops",
)

sync_progress = sa.Table(
    "sync_progress",
    metadata,
    sa.Column("shop_key", sa.Text, sa.ForeignKey("ops.shops.shop_key"), primary_key=True),
    sa.Column("entity", sa.Text, primary_key=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text),
    sa.Column("processed", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("total", sa.BigInteger),
    sa.Column("rate_per_second", sa.Float),
    sa.Column("eta_seconds", sa.Float),
    sa.Column("status_reason", sa.Text),
    sa.Column("last_error", sa.Text),
    sa.Column("summary", JSONB),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint(f"status IN {SYNC_STATUSES!r}", name="sync_progress_status_known"),
    schema="ops",
)

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("shop_key", sa.Text, sa.ForeignKey("ops.shops.shop_key"), primary_key=True),
    sa.Column("entity", sa.Text, primary_key=True),
    # What a resumed import needs: high-water marks, completed pages, the paging plan. Stream-specific.
    sa.Column("state", JSONB, nullable=False),
    sa.Column("run_id", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    schema="ops",
)

discrepancies = sa.Table(
    "discrepancies",
    metadata,
    sa.Column("discrepancy_id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("shop_key", sa.Text, sa.ForeignKey("ops.shops.shop_key"), nullable=False),
    sa.Column("entity", sa.Text, nullable=False),
    sa.Column("source_id", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("payload", JSONB),
    sa.Column("run_id", sa.Text),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    # The same record failing the same way on every import is one discrepancy, seen again.
    sa.UniqueConstraint("shop_key", "entity", "source_id", "reason", name="discrepancies_one_per_reason"),
    schema="ops",
)


def raw_table(
    name: str,
    *,
    meta: sa.MetaData = metadata,
    schema: str = "raw",
    id_type: type[sa.types.TypeEngine] = sa.BigInteger,
    modified: str = "modified_gmt",
) -> sa.Table:
    """A raw table: one record per (shop, source id) as the API delivered it, with its modification time.

    parent_id is the owning record for nested endpoints (a variation's product, a refund's order);
    deleted_at is set when the source reports the record trashed or it disappears from a full listing.
    """
    return sa.Table(
        name,
        meta,
        sa.Column("shop_key", sa.Text, primary_key=True),
        sa.Column("id", id_type, primary_key=True),
        sa.Column("parent_id", id_type),
        sa.Column(modified, sa.DateTime(timezone=True)),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        sa.Index(f"{name}_fetched", "shop_key", "fetched_at"),
        schema=schema,
    )


WOOCOMMERCE_ENTITIES = ("orders", "customers", "products", "variations", "coupons", "refunds", "subscriptions")
woocommerce_raw = {entity: raw_table(f"woocommerce_{entity}") for entity in WOOCOMMERCE_ENTITIES}

# TikTok ids are numeric strings that can pass bigint's range; update_time is the record's version.
TIKTOK_SHOP_ENTITIES = (
    "products", "product_details", "inventory", "orders", "statements", "statement_transactions",
    "unsettled_transactions", "returns", "cancellations", "warehouses", "fbt_warehouses", "fbt_inventory",
    "analytics",
)  # fmt: skip
tiktok_shop_raw = {
    entity: raw_table(f"tiktok_shop_{entity}", id_type=sa.Text, modified="modified_at")
    for entity in TIKTOK_SHOP_ENTITIES
}

INBOX_STATUSES = ("pending", "claimed", "applied", "failed", "ignored")

# Verified webhook deliveries until a run applies them (migration 0007; storepipe.webhooks.inbox).
webhook_inbox = sa.Table(
    "webhook_inbox",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("shop_key", sa.Text, sa.ForeignKey("ops.shops.shop_key"), nullable=False),
    sa.Column("platform", sa.Text, nullable=False),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("delivery_id", sa.Text, nullable=False),
    sa.Column("resource_id", sa.Text),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("payload", JSONB, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("claimed_at", sa.DateTime(timezone=True)),
    sa.Column("applied_at", sa.DateTime(timezone=True)),
    sa.Column("run_id", sa.Text),
    sa.Column("error", sa.Text),
    sa.UniqueConstraint("shop_key", "delivery_id", name="webhook_inbox_one_per_delivery"),
    sa.CheckConstraint(f"status IN {INBOX_STATUSES!r}", name="webhook_inbox_status_check"),
    sa.Index("webhook_inbox_open", "shop_key", "id", postgresql_where=sa.text("status IN ('pending', 'claimed')")),
    schema="ops",
)
