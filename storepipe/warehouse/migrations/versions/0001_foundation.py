"""Foundation: the raw, core, marts and ops schemas, and the shop registry and sync bookkeeping in ops.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SCHEMAS = ("raw", "core", "marts", "ops")


def _ts(name: str, *, nullable: bool = True, now: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, server_default=sa.func.now() if now else None)


def upgrade() -> None:
    for schema in _SCHEMAS:
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    op.create_table(
        "shops",
        sa.Column("shop_key", sa.Text, primary_key=True),
        sa.Column("platform", sa.Text, nullable=False),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("base_url", sa.Text, nullable=False),
        sa.Column("timezone", sa.Text, nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("credentials_env", JSONB, nullable=False),
        _ts("created_at", nullable=False, now=True),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        _ts("disabled_at"),
        sa.CheckConstraint("platform IN ('woocommerce', 'tiktok_shop')", name="shops_platform_known"),
        schema="ops",
    )
    op.create_table(
        "sync_progress",
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
        _ts("started_at"),
        _ts("updated_at", nullable=False, now=True),
        _ts("finished_at"),
        sa.CheckConstraint("status IN ('Running', 'Completed', 'Paused', 'Failed')", name="sync_progress_status_known"),
        schema="ops",
    )
    op.create_table(
        "checkpoints",
        sa.Column("shop_key", sa.Text, sa.ForeignKey("ops.shops.shop_key"), primary_key=True),
        sa.Column("entity", sa.Text, primary_key=True),
        sa.Column("state", JSONB, nullable=False),
        sa.Column("run_id", sa.Text),
        _ts("updated_at", nullable=False, now=True),
        schema="ops",
    )
    op.create_table(
        "discrepancies",
        sa.Column("discrepancy_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("shop_key", sa.Text, sa.ForeignKey("ops.shops.shop_key"), nullable=False),
        sa.Column("entity", sa.Text, nullable=False),
        sa.Column("source_id", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("payload", JSONB),
        sa.Column("run_id", sa.Text),
        _ts("first_seen_at", nullable=False, now=True),
        _ts("last_seen_at", nullable=False, now=True),
        _ts("resolved_at"),
        sa.UniqueConstraint("shop_key", "entity", "source_id", "reason", name="discrepancies_one_per_reason"),
        schema="ops",
    )


def downgrade() -> None:
    for table in ("discrepancies", "checkpoints", "sync_progress", "shops"):
        op.drop_table(table, schema="ops")
