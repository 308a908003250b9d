"""Dagster resources shared by every lane: the warehouse connection."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from storepipe.settings import Settings, get_settings


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse PostgreSQL. database_url unset means: resolve it as the CLI does (embedded server)."""

    database_url: str | None = None

    def settings(self) -> Settings:
        base = get_settings()
        return Settings(home=base.home, database_url=self.database_url or base.database_url)

    def engine(self) -> sa.Engine:
        from storepipe.warehouse.engine import warehouse_engine

        return warehouse_engine(self.settings())
