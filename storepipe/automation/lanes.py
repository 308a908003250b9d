"""What schedules, sensors and `storepipe status` need to know about a lane: its job, its run config, its shops."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from typing import Any

import dagster as dg
import sqlalchemy as sa

from storepipe.shops import PLATFORMS
from storepipe.sources.tiktok_shop import assets as tiktok_shop
from storepipe.sources.woocommerce import assets as woocommerce
from storepipe.warehouse import tables

# The tag Dagster stores a run's partition in; the instance's one-run-per-shop limit counts it (dagster.yaml).
PARTITION_TAG = "dagster/partition"
# Why a run was started (schedule, resweep, new_shop, late_statements): filterable in the UI's run list.
TRIGGER_TAG = "storepipe/trigger"
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


@dataclass(frozen=True)
class Lane:
    """One platform's per-shop job and the resource its run config goes to."""

    platform: str
    job: dg.UnresolvedAssetJobDefinition
    config_resource: str  # the ConfigurableResource holding mode, lookback_hours, full_refresh, ...

    @property
    def partitions_name(self) -> str:
        return PLATFORMS[self.platform].partitions.name or ""

    def run_config(self, **fields: Any) -> dict[str, Any]:
        return {"resources": {self.config_resource: {"config": fields}}}

    def request(self, shop_key: str, *, run_key: str, trigger: str, **config: Any) -> dg.RunRequest:
        """A run of this lane's job for one shop.

        The partition tag is set here, not only `partition_key`: a request without it is validated against
        the instance one partition at a time (two new PostgreSQL connections each, ~20 ms, so 100 s for
        5,000 shops; research A6). Callers pass only keys they checked against the partitions in one call.
        """
        return dg.RunRequest(
            run_key=run_key,
            partition_key=shop_key,
            run_config=self.run_config(**config),
            tags={PARTITION_TAG: shop_key, TRIGGER_TAG: trigger},
        )


LANES: tuple[Lane, ...] = (
    Lane("woocommerce", woocommerce.shop_sync_job, "woocommerce_sync"),
    Lane("tiktok_shop", tiktok_shop.shop_sync_job, "tiktok_shop_sync"),
)


@dataclass(frozen=True)
class ShopRow:
    key: str
    timezone: str

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


def enabled_shops(engine: sa.Engine, platform: str) -> list[ShopRow]:
    """The lane's enabled shops in one query (a tick over 5,000 shops must not query per shop)."""
    t = tables.shops
    query = sa.select(t.c.shop_key, t.c.timezone).where(t.c.platform == platform, t.c.enabled).order_by(t.c.shop_key)
    with engine.connect() as conn:
        return [ShopRow(key, tz) for key, tz in conn.execute(query)]


def with_partitions(
    context: dg.ScheduleEvaluationContext | dg.SensorEvaluationContext, lane: Lane, shops: list[ShopRow]
) -> list[ShopRow]:
    """The shops whose partition exists (one call for all); the others are logged and left to the registry sensor."""
    existing = set(context.instance.get_dynamic_partitions(lane.partitions_name))
    missing = [s.key for s in shops if s.key not in existing]
    if missing:
        context.log.warning(
            f"{lane.platform}: shops {missing[:10]}{' …' if len(missing) > 10 else ''} have no partition yet; "
            "shop_registry_sensor adds it within a minute (or run `storepipe shops reconcile`)"
        )
    return [s for s in shops if s.key in existing]
