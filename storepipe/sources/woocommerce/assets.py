"""Dagster wiring of the WooCommerce lane: one partitioned asset per stream, the model asset, the per-shop job."""

from typing import Any

import dagster as dg
import sqlalchemy as sa

from storepipe.loyalty.factory import loyalty_assets, recalculate_tiers_job
from storepipe.marts.factory import ORDER_FACTS, mart_assets
from storepipe.shops import PLATFORMS, Shop
from storepipe.sources import lane
from storepipe.sources.bookkeeping import StreamResult
from storepipe.sources.lane import SyncMode, SyncWindow
from storepipe.sources.woocommerce.importer import finish_sync, run_stream
from storepipe.sources.woocommerce.options import SyncOptions, build_options
from storepipe.sources.woocommerce.streams import STREAMS, Stream
from storepipe.sources.woocommerce.webhooks import apply_inbox_run
from storepipe.warehouse.tables import woocommerce_raw
from storepipe.webhooks.apply import inbox_job

PREFIX = "woocommerce"
partitions = PLATFORMS["woocommerce"].partitions


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
    resweep_days: int | None = None  # re-read orders created in the last N days (unset: 7, or 2 with /refunds)

    def options(self, shop: Shop) -> SyncOptions:
        """Validated options; a bad window or date fails before any request."""
        return build_options(
            shop,
            mode=SyncMode(self.mode).value,
            window=SyncWindow(self.window).value if self.window else None,
            since=self.since,
            lookback_hours=self.lookback_hours,
            full_refresh=self.full_refresh,
            page_size=self.page_size,
            concurrency=self.concurrency,
            requests_per_second=self.requests_per_second,
            resweep_days=self.resweep_days,
        )


def _run_stream(stream: Stream) -> lane.StageRun:
    def run(engine: sa.Engine, shop: Shop, config: WooCommerceSync, **kw: Any) -> StreamResult:
        return run_stream(engine, shop, stream.name, config.options(shop), **kw)

    return run


stream_assets = [
    lane.import_asset(
        PREFIX,
        partitions,
        stream.name,
        deps=stream.depends_on,
        description=f"WooCommerce {stream.name} as delivered by {stream.path}, in raw.{stream.table_name}.",
        raw_tables=[woocommerce_raw[stream.name]],
        sync_resource="woocommerce_sync",
        run=_run_stream(stream),
    )
    for stream in STREAMS
]


model = lane.model_asset(
    PREFIX,
    partitions,
    dg.AssetKey([PREFIX, STREAMS[-1].name]),
    sync_resource="woocommerce_sync",
    finish_sync=finish_sync,
    apply_inbox_run=apply_inbox_run,
    description="The shop's raw WooCommerce records mapped into the canonical core tables.",
)


marts = mart_assets(PREFIX, partitions, model.key)
loyalty = loyalty_assets(PREFIX, partitions, dg.AssetKey([PREFIX, "marts", ORDER_FACTS]))

shop_sync_job = dg.define_asset_job(
    "woocommerce_shop_sync",
    selection=dg.AssetSelection.groups(PREFIX, f"{PREFIX}_marts") | dg.AssetSelection.assets(loyalty),
    executor_def=dg.in_process_executor,
    description="Carries one WooCommerce shop (a partition) from import through the core model, the marts and loyalty.",
)
recalculate_tiers = recalculate_tiers_job(PREFIX, loyalty)
webhook_apply_job = inbox_job(PREFIX, model.key, dg.AssetSelection.assets(loyalty))


def definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=[*stream_assets, model, marts, loyalty],
        jobs=[shop_sync_job, recalculate_tiers, webhook_apply_job],
        resources={"woocommerce_sync": WooCommerceSync()},
    )
