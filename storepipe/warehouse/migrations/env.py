"""Alembic environment: runs on the connection storepipe hands over (see storepipe.warehouse.migrate)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from storepipe.warehouse.migrate import VERSION_SCHEMA, VERSION_TABLE
from storepipe.warehouse.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - storepipe always passes its connection
    raise RuntimeError("run migrations through `storepipe db upgrade`, not the alembic CLI")

# The version table lives in ops, which must exist before Alembic creates the table.
connection.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {VERSION_SCHEMA}"))
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    version_table_schema=VERSION_SCHEMA,
    include_schemas=True,
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
