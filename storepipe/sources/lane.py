"""Dagster pieces every lane shares: the sync config enums, the partition's shop, a raw table's size."""

from enum import Enum

import dagster as dg
import sqlalchemy as sa

from storepipe.resources import WarehouseResource
from storepipe.shops import Shop, get_platform_shop


class SyncMode(Enum):
    incremental = "incremental"
    full = "full"


class SyncWindow(Enum):
    last_30_days = "30d"
    last_90_days = "90d"
    last_365_days = "365d"
    all = "all"


def shop_for(context: dg.AssetExecutionContext, warehouse: WarehouseResource, platform: str) -> Shop:
    """The shop of the run's partition; a shop of another platform is a configuration error."""
    return get_platform_shop(warehouse.engine(), context.partition_key, platform)


def raw_row_count(engine: sa.Engine, tables: list[sa.Table], shop: Shop) -> int:
    """Rows the shop has in an asset's raw tables: the asset's size as the UI shows it."""
    with engine.connect() as conn:
        return sum(
            conn.execute(sa.select(sa.func.count()).where(table.c.shop_key == shop.key)).scalar_one()
            for table in tables
        )
