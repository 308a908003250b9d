"""WooCommerce raw tables: one per entity, records as delivered, keyed by (shop, id).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen here on purpose: a migration must not change when storepipe.warehouse.tables changes later.
_ENTITIES = ("orders", "customers", "products", "variations", "coupons", "refunds", "subscriptions")


def upgrade() -> None:
    for entity in _ENTITIES:
        name = f"woocommerce_{entity}"
        op.create_table(
            name,
            sa.Column("shop_key", sa.Text, primary_key=True),
            sa.Column("id", sa.BigInteger, primary_key=True),
            sa.Column("parent_id", sa.BigInteger),
            sa.Column("modified_gmt", sa.DateTime(timezone=True)),
            sa.Column("payload", JSONB, nullable=False),
            sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
            sa.Column("deleted_at", sa.DateTime(timezone=True)),
            schema="raw",
        )
        op.create_index(f"{name}_fetched", name, ["shop_key", "fetched_at"], schema="raw")


def downgrade() -> None:
    for entity in _ENTITIES:
        op.drop_table(f"woocommerce_{entity}", schema="raw")
