"""Dagster wiring of the TikTok Shop lane: one partitioned asset per import stage, the model, the marts, the job."""

from datetime import timedelta
from typing import Any

import dagster as dg
import sqlalchemy as sa

from storepipe.loyalty.factory import loyalty_assets, recalculate_tiers_job
from storepipe.marts.factory import ORDER_FACTS, mart_assets
from storepipe.marts.pnl import PNL_CHECKS, PNL_MARTS
from storepipe.shops import PLATFORMS, Shop
from storepipe.sources import lane
from storepipe.sources.bookkeeping import StreamResult
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


def _run_stage(stage: Stage) -> lane.StageRun:
    def run(engine: sa.Engine, shop: Shop, config: TikTokShopSync, **kw: Any) -> StreamResult:
        return run_stage(engine, shop, stage.name, config.options(shop), **kw)

    return run


stage_assets = [
    lane.import_asset(
        PREFIX,
        partitions,
        stage.name,
        deps=stage.depends_on,
        description=f"{stage.description} Raw: "
        + ", ".join(f"raw.tiktok_shop_{listing.name}" for listing in stage.listings)
        + ".",
        raw_tables=[tiktok_shop_raw[listing.name] for listing in stage.listings],
        sync_resource="tiktok_shop_sync",
        run=_run_stage(stage),
    )
    for stage in STAGES
]


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
