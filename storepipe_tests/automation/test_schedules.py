"""The twice-daily and weekly schedules: one request per enabled shop, right partition and config, at their times."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg
import pytest
import sqlalchemy as sa

from storepipe.automation.schedules import RESWEEP_SCHEDULES, SYNC_SCHEDULES
from storepipe.automation.timing import TWICE_DAILY, WEEKLY, next_tick
from storepipe.definitions import defs
from storepipe.resources import WarehouseResource
from storepipe.shops import PLATFORMS
from storepipe.sources.woocommerce.options import build_options
from storepipe.warehouse import tables
from storepipe_tests.automation.conftest import register

if TYPE_CHECKING:
    from dagster._core.definitions.schedule_definition import ScheduleExecutionData

JOBS = {"woocommerce": "woocommerce_shop_sync", "tiktok_shop": "tiktok_shop_shop_sync"}
CONFIG_RESOURCE = {"woocommerce": "woocommerce_sync", "tiktok_shop": "tiktok_shop_sync"}


def evaluate(
    schedule: dg.ScheduleDefinition, instance, warehouse: WarehouseResource, at: datetime
) -> ScheduleExecutionData:
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=at, resources={"warehouse": warehouse}
    ) as context:
        return schedule.evaluate_tick(context)


@pytest.fixture
def shops(engine: sa.Engine, instance) -> None:
    register(engine, instance, "woocommerce", "woo-a")
    register(engine, instance, "woocommerce", "woo-b", timezone="America/New_York")
    register(engine, instance, "woocommerce", "woo-off", enabled=False)
    register(engine, instance, "tiktok_shop", "tts-a", timezone="America/Los_Angeles")


@pytest.mark.parametrize("hour", [2, 14])
@pytest.mark.parametrize("platform", ["woocommerce", "tiktok_shop"])
def test_sync_schedule_requests_one_incremental_run_per_enabled_shop(
    shops: None, instance, warehouse: WarehouseResource, platform: str, hour: int
) -> None:
    at = datetime(2026, 3, 2, hour, 0, tzinfo=UTC)
    result = evaluate(SYNC_SCHEDULES[platform], instance, warehouse, at)
    expected = {"woocommerce": ["woo-a", "woo-b"], "tiktok_shop": ["tts-a"]}[platform]  # woo-off is disabled
    assert [r.partition_key for r in result.run_requests] == expected
    job = defs().resolve_job_def(JOBS[platform])
    for request in result.run_requests:
        key = request.partition_key
        assert request.run_key == f"schedule:{key}:20260302T{hour:02d}00Z"
        assert request.tags["dagster/partition"] == key
        assert request.tags["storepipe/trigger"] == "schedule"
        assert request.tags["dagster/schedule_name"] == f"{platform}_sync_schedule"
        assert request.run_config == {
            "resources": {CONFIG_RESOURCE[platform]: {"config": {"mode": "incremental", "lookback_hours": 72}}}
        }
        assert dg.validate_run_config(job, request.run_config)  # the job accepts it


def test_schedules_tick_only_at_their_times() -> None:
    for schedule in SYNC_SCHEDULES.values():
        assert (schedule.cron_schedule, schedule.execution_timezone) == (TWICE_DAILY, "UTC")
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    ticks, at = [], datetime(2026, 3, 1, 0, 0, tzinfo=UTC)  # a Sunday
    while at < datetime(2026, 3, 8, tzinfo=UTC):
        at = next_tick(TWICE_DAILY, at)
        ticks.append(at)
    assert {(t.hour, t.minute) for t in ticks[:-1]} == {(2, 0), (14, 0)} and len(ticks[:-1]) == 14
    assert next_tick(WEEKLY, datetime(2026, 3, 1, 3, 0, tzinfo=UTC)) == datetime(2026, 3, 8, 3, 0, tzinfo=UTC)
    assert next_tick(WEEKLY, datetime(2026, 3, 4, 12, 0, tzinfo=UTC)).weekday() == 6  # Sunday


def test_schedule_skips_when_no_shop_is_enabled(engine: sa.Engine, instance, warehouse: WarehouseResource) -> None:
    register(engine, instance, "tiktok_shop", "tts-off", enabled=False)
    result = evaluate(SYNC_SCHEDULES["tiktok_shop"], instance, warehouse, datetime(2026, 3, 2, 2, tzinfo=UTC))
    assert result.run_requests == [] and "no enabled tiktok_shop shops" in result.skip_message


def test_schedule_leaves_out_a_shop_whose_partition_is_missing(
    shops: None, instance, warehouse: WarehouseResource
) -> None:
    # The request carries the partition tag, so Dagster does not validate it: the schedule must.
    instance.delete_dynamic_partition(PLATFORMS["woocommerce"].partitions.name, "woo-b")
    result = evaluate(SYNC_SCHEDULES["woocommerce"], instance, warehouse, datetime(2026, 3, 2, 14, tzinfo=UTC))
    assert [r.partition_key for r in result.run_requests] == ["woo-a"]


def test_weekly_resweep_config(shops: None, instance, warehouse: WarehouseResource) -> None:
    at = datetime(2026, 3, 8, 3, 0, tzinfo=UTC)  # Sunday; 2026-03-07 19:00 in Los Angeles
    woo = evaluate(RESWEEP_SCHEDULES["woocommerce"], instance, warehouse, at).run_requests
    assert [r.run_key for r in woo] == ["resweep:woo-a:20260308T0300Z", "resweep:woo-b:20260308T0300Z"]
    config = woo[0].run_config["resources"]["woocommerce_sync"]["config"]
    assert config == {"mode": "incremental", "lookback_hours": 72, "resweep_days": 35}
    (tts,) = evaluate(RESWEEP_SCHEDULES["tiktok_shop"], instance, warehouse, at).run_requests
    config = tts.run_config["resources"]["tiktok_shop_sync"]["config"]
    # 35 shop-local days ending on the shop's today (March 7th in Los Angeles).
    assert config["since"] == "2026-02-01" and config["full_refresh"] == ["orders", "returns", "cancellations"]
    assert tts.tags["storepipe/trigger"] == "resweep"
    for request, job in ((woo[0], JOBS["woocommerce"]), (tts, JOBS["tiktok_shop"])):
        assert dg.validate_run_config(defs().resolve_job_def(job), request.run_config)


def test_resweep_days_widen_only_the_order_resweep(engine: sa.Engine, instance) -> None:
    shop = register(engine, instance, "woocommerce", "woo-r")
    wide, usual = build_options(shop, resweep_days=35), build_options(shop)
    assert wide.resweep == wide.resweep_with_refunds_endpoint == timedelta(days=35)
    assert (usual.resweep, usual.resweep_with_refunds_endpoint) == (timedelta(days=7), timedelta(days=2))
    assert wide.window is None and wide.full_refresh == frozenset()


@pytest.mark.slow
def test_tick_with_5000_shops_takes_under_5_seconds(engine: sa.Engine, instance, warehouse: WarehouseResource) -> None:
    keys = [f"bulk-{i:05d}-{uuid.uuid4().hex[:4]}" for i in range(5000)]
    with engine.begin() as conn:
        conn.execute(
            tables.shops.insert(),
            [
                {"shop_key": k, "platform": "woocommerce", "display_name": k, "base_url": "https://x.example.com",
                 "timezone": "UTC", "currency": "EUR", "credentials_env": {"key": "A_KEY", "secret": "A_SECRET"}}
                for k in keys
            ],
        )  # fmt: skip
    instance.add_dynamic_partitions(PLATFORMS["woocommerce"].partitions.name, keys)
    started = time.perf_counter()
    result = evaluate(SYNC_SCHEDULES["woocommerce"], instance, warehouse, datetime(2026, 3, 2, 2, tzinfo=UTC))
    seconds = time.perf_counter() - started
    assert len(result.run_requests) == 5000
    assert seconds < 5, f"a tick over 5,000 shops took {seconds:.1f} s"


def test_the_code_location_carries_the_automation_switched_on() -> None:
    loaded = defs()
    for name in ("woocommerce", "tiktok_shop"):
        for schedule in (f"{name}_sync_schedule", f"{name}_resweep_schedule"):
            assert loaded.resolve_schedule_def(schedule).default_status == dg.DefaultScheduleStatus.RUNNING
        assert loaded.resolve_sensor_def(f"{name}_new_shop_sensor").default_status == dg.DefaultSensorStatus.RUNNING
    late = loaded.resolve_sensor_def("tiktok_shop_late_statement_sensor")
    assert late.minimum_interval_seconds == 1800 and late.job_name == "tiktok_shop_shop_sync"
