"""Dagster wiring of the WooCommerce lane: one partitioned asset per stream, the model asset, the per-shop job."""

from enum import Enum

import dagster as dg
import sqlalchemy as sa

from storepipe.marts.factory import mart_assets
from storepipe.resources import WarehouseResource
from storepipe.shops import PLATFORMS, Shop, get_platform_shop
from storepipe.sources.woocommerce.importer import finish_sync, run_stream
from storepipe.sources.woocommerce.options import build_options
from storepipe.sources.woocommerce.streams import STREAMS, Stream
from storepipe.warehouse.tables import woocommerce_raw

PREFIX = "woocommerce"
partitions = PLATFORMS["woocommerce"].partitions


class SyncMode(Enum):
    incremental = "incremental"
    full = "full"


class SyncWindow(Enum):
    last_30_days = "30d"
    last_90_days = "90d"
    last_365_days = "365d"
    all = "all"


class WooCommerceSync(dg.ConfigurableResource):
    """Run config of a WooCommerce sync (Launchpad → resources → woocommerce_sync)."""

    mode: SyncMode = SyncMode.incremental
    window: SyncWindow | None = None
    since: str | None = None  # a shop-local date, YYYY-MM-DD
    lookback_hours: int = 72
    full_refresh: list[str] = []  # noqa: RUF012 - pydantic copies defaults per instance
    page_size: int = 100
    concurrency: int = 4
    requests_per_second: float | None = None  # per-shop rate limit; unset: as fast as concurrency allows


def shop_for(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Shop:
    return get_platform_shop(warehouse.engine(), context.partition_key, PREFIX)


def raw_row_count(engine: sa.Engine, stream: Stream, shop: Shop) -> int:
    """Rows the shop has in the stream's raw table: the asset's size as the UI shows it."""
    table = woocommerce_raw[stream.name]
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).where(table.c.shop_key == shop.key)).scalar_one()


def _stream_asset(stream: Stream) -> dg.AssetsDefinition:
    @dg.asset(
        name=stream.name,
        key_prefix=[PREFIX],
        group_name=PREFIX,
        partitions_def=partitions,
        deps=[dg.AssetKey([PREFIX, d]) for d in stream.depends_on],
        pool="woocommerce_api",
        kinds={"postgres"},
        description=f"WooCommerce {stream.name} as delivered by {stream.path}, in raw.{stream.table_name}.",
    )
    def _asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, woocommerce_sync: WooCommerceSync
    ) -> dg.MaterializeResult:
        shop = shop_for(context, warehouse)
        options = build_options(
            shop,
            mode=SyncMode(woocommerce_sync.mode).value,
            window=SyncWindow(woocommerce_sync.window).value if woocommerce_sync.window else None,
            since=woocommerce_sync.since,
            lookback_hours=woocommerce_sync.lookback_hours,
            full_refresh=woocommerce_sync.full_refresh,
            page_size=woocommerce_sync.page_size,
            concurrency=woocommerce_sync.concurrency,
            requests_per_second=woocommerce_sync.requests_per_second,
        )
        result = run_stream(
            warehouse.engine(), shop, stream.name, options, run_id=context.run.run_id, report=context.log.info
        )
        return dg.MaterializeResult(
            metadata={"dagster/row_count": raw_row_count(warehouse.engine(), stream, shop), **result.summary()}
        )

    return _asset


stream_assets = [_stream_asset(s) for s in STREAMS]


@dg.asset(
    name="model",
    key_prefix=[PREFIX],
    group_name=PREFIX,
    partitions_def=partitions,
    deps=[dg.AssetKey([PREFIX, STREAMS[-1].name])],
    kinds={"postgres"},
    description="The shop's raw WooCommerce records mapped into the canonical core tables.",
)
def model(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, woocommerce_sync: WooCommerceSync
) -> dg.MaterializeResult:
    shop = shop_for(context, warehouse)
    summary = finish_sync(
        warehouse.engine(),
        shop,
        rebuild=SyncMode(woocommerce_sync.mode) is SyncMode.full,
        run_id=context.run.run_id,
        report=context.log.info,
    )
    return dg.MaterializeResult(
        metadata={"dagster/row_count": summary["orders_mapped"], **{k: v for k, v in summary.items() if v is not None}}
    )


marts = mart_assets(PREFIX, partitions, model.key)

shop_sync_job = dg.define_asset_job(
    "woocommerce_shop_sync",
    selection=dg.AssetSelection.groups(PREFIX, f"{PREFIX}_marts"),
    executor_def=dg.in_process_executor,
    description="Carries one WooCommerce shop (a partition) from import through the core model and the marts.",
)


def definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=[*stream_assets, model, marts],
        jobs=[shop_sync_job],
        resources={"woocommerce_sync": WooCommerceSync()},
    )
