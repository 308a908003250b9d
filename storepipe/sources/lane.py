"""Dagster pieces every lane shares: sync config enums, the partition's shop, a raw table's size, the model asset."""

from collections.abc import Callable
from enum import Enum
from typing import Any, Protocol

import dagster as dg
import sqlalchemy as sa

from storepipe.resources import WarehouseResource
from storepipe.shops import Shop, get_platform_shop
from storepipe.sources.bookkeeping import StreamResult


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


Finisher = Callable[..., dict[str, int | float | str | None]]


class StageRun(Protocol):
    """Runs one import stage of one shop with the lane's run config; returns its figures."""

    def __call__(
        self, engine: sa.Engine, shop: Shop, config: Any, *, run_id: str, report: Callable[[str], None]
    ) -> StreamResult: ...


def import_asset(
    prefix: str,
    partitions: dg.PartitionsDefinition,
    name: str,
    *,
    deps: tuple[str, ...],
    description: str,
    raw_tables: list[sa.Table],
    sync_resource: str,
    run: StageRun,
) -> dg.AssetsDefinition:
    """`<prefix>/<name>`: one import stage of the lane, in the lane's API pool, sized by its raw tables.

    `sync_resource` names the lane's run-config resource, handed to `run` as it is."""

    @dg.asset(
        name=name,
        key_prefix=[prefix],
        group_name=prefix,
        partitions_def=partitions,
        deps=[dg.AssetKey([prefix, d]) for d in deps],
        pool=f"{prefix}_api",
        kinds={"postgres"},
        description=description,
        required_resource_keys={"warehouse", sync_resource},
    )
    def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse: WarehouseResource = context.resources.warehouse
        shop = shop_for(context, warehouse, prefix)
        config = getattr(context.resources, sync_resource)
        result = run(warehouse.engine(), shop, config, run_id=context.run.run_id, report=context.log.info)
        rows = raw_row_count(warehouse.engine(), raw_tables, shop)
        return dg.MaterializeResult(metadata={"dagster/row_count": rows, **result.summary()})

    return _asset


def model_asset(
    prefix: str,
    partitions: dg.PartitionsDefinition,
    upstream: dg.AssetKey,
    *,
    sync_resource: str,
    finish_sync: Finisher,
    apply_inbox_run: Finisher,
    description: str,
) -> dg.AssetsDefinition:
    """`<prefix>/model`: closes the sync by mapping what it fetched into core (a full sync rebuilds the shop), or
    in a `<prefix>_webhook_apply` run applies the shop's webhook inbox instead. `sync_resource` names the lane's
    run-config resource (its `mode` decides the rebuild)."""
    from storepipe.webhooks.apply import close_or_apply

    @dg.asset(
        name="model",
        key_prefix=[prefix],
        group_name=prefix,
        partitions_def=partitions,
        deps=[upstream],
        kinds={"postgres"},
        description=description,
        required_resource_keys={"warehouse", sync_resource},
    )
    def _model(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse: WarehouseResource = context.resources.warehouse
        shop = shop_for(context, warehouse, prefix)
        rebuild = SyncMode(getattr(context.resources, sync_resource).mode) is SyncMode.full
        summary = close_or_apply(context, warehouse.engine(), shop, finish_sync, apply_inbox_run, rebuild=rebuild)
        figures = {k: v for k, v in summary.items() if v is not None}
        return dg.MaterializeResult(metadata={"dagster/row_count": summary["orders_mapped"], **figures})

    return _model
