"""Schedules per lane: incremental syncs at 02:00 and 14:00 UTC and a weekly re-sweep, one run per enabled shop.

Hand-written: `build_schedule_from_partitioned_job` does not work with dynamic partitions (DESIGN.md).
Both default to RUNNING: registering a shop means "keep it fresh", and a newcomer who runs `storepipe dev`
would be surprised by shops that silently never sync again after their first import. They only fire while
a Dagster daemon runs, and `storepipe shops disable` takes one shop out.

Why the re-sweep, and why not a full refresh with a window:
- WooCommerce changes some orders without bumping date_modified (PayPal refunds, line edits); incremental
  syncs re-read orders created in the last 7 days (2 with the /refunds endpoint). Sunday's run widens that
  re-read to 35 days (`resweep_days`). A `full_refresh: [orders]` with `window: 30d` would also re-read them,
  but the window applies to every created-filtered stream, so that run would skip changes to subscriptions
  older than the window while moving their high-water mark past them.
- TikTok: orders are read by update_time, which may drift past the range during refreshes (research §4), and
  orders settle up to 31 days after delivery. Sunday's run re-reads orders, returns and cancellations created
  in the last 35 shop-local days in full (`full_refresh` + `since`); statements are re-read for 35 days by
  every sync anyway, and the transactions of the statements that changed. Those full listings skip records
  created before the window but updated since the last sync; the next twice-daily sync's 72 h lookback
  reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from storepipe.automation.lanes import LANES, Lane, ShopRow, enabled_shops, with_partitions
from storepipe.automation.timing import TIMEZONE, TWICE_DAILY, WEEKLY
from storepipe.resources import WarehouseResource

LOOKBACK_HOURS = 72
RESWEEP_DAYS = 35  # TikTok settles orders up to 31 days after delivery (research §6)

ConfigFor = Callable[[ShopRow, datetime], dict[str, Any]]


def _incremental(_shop: ShopRow, _tick: datetime) -> dict[str, Any]:
    return {"mode": "incremental", "lookback_hours": LOOKBACK_HOURS}


def _woocommerce_resweep(_shop: ShopRow, _tick: datetime) -> dict[str, Any]:
    return _incremental(_shop, _tick) | {"resweep_days": RESWEEP_DAYS}


def _tiktok_resweep(shop: ShopRow, tick: datetime) -> dict[str, Any]:
    # `since` is a shop-local date: 35 local days ending today.
    first_day = (tick.astimezone(shop.zone) - timedelta(days=RESWEEP_DAYS - 1)).date()
    return _incremental(shop, tick) | {
        "full_refresh": ["orders", "returns", "cancellations"],
        "since": first_day.isoformat(),
    }


RESWEEP_CONFIG: dict[str, ConfigFor] = {"woocommerce": _woocommerce_resweep, "tiktok_shop": _tiktok_resweep}


def tick_time(context: dg.ScheduleEvaluationContext) -> datetime:
    """The tick being evaluated (now, when a user evaluates the schedule by hand in the UI)."""
    return (context.scheduled_execution_time or datetime.now(UTC)).astimezone(UTC)


def shop_requests(
    context: dg.ScheduleEvaluationContext,
    warehouse: WarehouseResource,
    lane: Lane,
    trigger: str,
    config_for: ConfigFor,
) -> list[dg.RunRequest] | dg.SkipReason:
    """One request per enabled shop of the lane, keyed by (trigger, shop, tick) so a retried tick adds nothing."""
    tick = tick_time(context)
    shops = with_partitions(context, lane, enabled_shops(warehouse.engine(), lane.platform))
    if not shops:
        return dg.SkipReason(f"no enabled {lane.platform} shops")
    stamp = tick.strftime("%Y%m%dT%H%MZ")
    return [
        lane.request(shop.key, run_key=f"{trigger}:{shop.key}:{stamp}", trigger=trigger, **config_for(shop, tick))
        for shop in shops
    ]


def _lane_schedule(
    lane: Lane, *, name: str, cron: str, trigger: str, config_for: ConfigFor, description: str
) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=name,
        cron_schedule=cron,
        execution_timezone=TIMEZONE,
        job=lane.job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=description,
    )
    def _schedule(
        context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource
    ) -> list[dg.RunRequest] | dg.SkipReason:
        return shop_requests(context, warehouse, lane, trigger, config_for)

    return _schedule


def sync_schedule(lane: Lane) -> dg.ScheduleDefinition:
    return _lane_schedule(
        lane,
        name=f"{lane.platform}_sync_schedule",
        cron=TWICE_DAILY,
        trigger="schedule",
        config_for=_incremental,
        description=f"At 02:00 and 14:00 UTC: an incremental sync ({LOOKBACK_HOURS} h lookback) of every enabled "
        f"{lane.platform} shop.",
    )


def resweep_schedule(lane: Lane) -> dg.ScheduleDefinition:
    return _lane_schedule(
        lane,
        name=f"{lane.platform}_resweep_schedule",
        cron=WEEKLY,
        trigger="resweep",
        config_for=RESWEEP_CONFIG[lane.platform],
        description=f"Sundays 03:00 UTC: an incremental sync of every enabled {lane.platform} shop that also "
        f"re-reads the orders of the last {RESWEEP_DAYS} days in full.",
    )


SYNC_SCHEDULES = {lane.platform: sync_schedule(lane) for lane in LANES}
RESWEEP_SCHEDULES = {lane.platform: resweep_schedule(lane) for lane in LANES}
SCHEDULES = [*SYNC_SCHEDULES.values(), *RESWEEP_SCHEDULES.values()]
