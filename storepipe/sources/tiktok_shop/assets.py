"""Dagster wiring of the TikTok Shop lane: one partitioned asset per import stage, the model, the marts, the job."""

from datetime import timedelta

import dagster as dg

from storepipe.loyalty.factory import loyalty_assets, recalculate_tiers_job
from storepipe.marts.factory import ORDER_FACTS, mart_assets
from storepipe.marts.pnl import PNL_CHECKS, PNL_MARTS
from storepipe.resources import WarehouseResource
from storepipe.shops import PLATFORMS, Shop
from storepipe.sources import lane
from storepipe.sources.lane import SyncMode, SyncWindow
from storepipe.sources.tiktok_shop.importer import finish_sync, run_stage
from storepipe.sources.tiktok_shop.streams import STAGES, Stage
from storepipe.sources.tiktok_shop.sync import TikTokSyncOptions
from storepipe.sources.tiktok_shop.webhooks import apply_inbox_run
from storepipe.sources.windows import window_start
from storepipe.warehouse.tables import tiktok_shop_raw
from storepipe.webhooks.apply import inbox_job

PREFIX = "tiktok_shop"
partitions = PLATFORMS[PREFIX].partitions


class TikTokShopSync(dg.ConfigurableResource):
    """Run config of a TikTok Shop sync (Launchpad → resources → tiktok_shop_sync)."""

    mode: SyncMode = SyncMode.incremental
    window: SyncWindow | None = None
    since: str | None = None  # a shop-local date, YYYY-MM-DD
    lookback_hours: int = 72  # Dashboardly's 3 days
    full_refresh: list[str] = []  # noqa: RUF012 - listings to read in full, e.g. ["products"]
    page_size: int = 100
    concurrency: int = 4
    requests_per_second: int | None = None  # per API; unset: 40, below TikTok's default of 50 per app per API

    def options(self, shop: Shop) -> TikTokSyncOptions:
        """Validated options; a bad window or date fails before any request."""
        window = SyncWindow(self.window).value if self.window else None
        window_start(shop, window, self.since)
        if not 1 <= self.page_size <= 100:
            raise ValueError("page_size must be between 1 and 100 (TikTok's limit)")
        return TikTokSyncOptions(
            mode=SyncMode(self.mode).value,
            window=None if window == "all" else window,
            since=self.since,
            lookback=timedelta(hours=self.lookback_hours),
            page_size=self.page_size,
            concurrency=max(1, self.concurrency),
            requests_per_second=self.requests_per_second,
            full_refresh=frozenset(self.full_refresh),
        )


def _stage_asset(stage: Stage) -> dg.AssetsDefinition:
    raw_tables = [tiktok_shop_raw[listing.name] for listing in stage.listings]

    @dg.asset(
        name=stage.name,
        key_prefix=[PREFIX],
        group_name=PREFIX,
        partitions_def=partitions,
        deps=[dg.AssetKey([PREFIX, d]) for d in stage.depends_on],
        pool="tiktok_shop_api",
        kinds={"postgres"},
        description=f"{stage.description} Raw: {', '.join(f'raw.{t.name}' for t in raw_tables)}.",
    )
    def _asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, tiktok_shop_sync: TikTokShopSync
    ) -> dg.MaterializeResult:
        shop = lane.shop_for(context, warehouse, PREFIX)
        result = run_stage(
            warehouse.engine(),
            shop,
            stage.name,
            tiktok_shop_sync.options(shop),
            run_id=context.run.run_id,
            report=context.log.info,
        )
        return dg.MaterializeResult(
            metadata={"dagster/row_count": lane.raw_row_count(warehouse.engine(), raw_tables, shop), **result.summary()}
        )

    return _asset


stage_assets = [_stage_asset(stage) for stage in STAGES]


model = lane.model_asset(
    PREFIX,
    partitions,
    dg.AssetKey([PREFIX, STAGES[-1].name]),
    sync_resource="tiktok_shop_sync",
    finish_sync=finish_sync,
    apply_inbox_run=apply_inbox_run,
    description="The shop's raw TikTok records mapped into the canonical core tables, with fees and statements.",
)


marts = mart_assets(PREFIX, partitions, model.key, extra_marts=PNL_MARTS, extra_checks=PNL_CHECKS)
loyalty = loyalty_assets(PREFIX, partitions, dg.AssetKey([PREFIX, "marts", ORDER_FACTS]))

shop_sync_job = dg.define_asset_job(
    "tiktok_shop_shop_sync",
    selection=dg.AssetSelection.groups(PREFIX, f"{PREFIX}_marts") | dg.AssetSelection.assets(loyalty),
    executor_def=dg.in_process_executor,
    description="Carries one TikTok shop (a partition) through the nine import stages, the core model, the marts "
    "and loyalty.",
)
recalculate_tiers = recalculate_tiers_job(PREFIX, loyalty)
webhook_apply_job = inbox_job(PREFIX, model.key, dg.AssetSelection.assets(loyalty))


def definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=[*stage_assets, model, marts, loyalty],
        jobs=[shop_sync_job, recalculate_tiers, webhook_apply_job],
        resources={"tiktok_shop_sync": TikTokShopSync()},
    )
