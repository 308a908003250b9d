"""The new-shop and late-statement sensors, evaluated with build_sensor_context on a real instance."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from storepipe.automation import sensors
from storepipe.automation.sensors import NEW_SHOP_SENSORS, late_statement_sensor
from storepipe.automation.statements import statement_changes
from storepipe.definitions import defs
from storepipe.emulators.tiktok_shop.config import EmulatorConfig
from storepipe.emulators.tiktok_shop.server import RunningEmulator, run_in_thread
from storepipe.resources import WarehouseResource
from storepipe.shops import PLATFORMS, Shop, add_shop, validate_shop
from storepipe.sources.tiktok_shop.sync import TikTokSyncOptions
from storepipe_tests.automation.conftest import add_run, mark_synced, register
from storepipe_tests.sources.tiktok_shop.conftest import register as register_tiktok
from storepipe_tests.sources.tiktok_shop.test_import import import_all


def tick(
    sensor: dg.SensorDefinition, instance, warehouse: WarehouseResource, cursor: str | None = None
) -> dg.SensorResult:
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"warehouse": warehouse}) as context:
        return sensor(context)


# ---------------------------------------------------------------- new shops


def test_new_shop_sensor_requests_each_new_shop_once(engine: sa.Engine, instance, warehouse) -> None:
    sensor = NEW_SHOP_SENSORS["woocommerce"]
    register(engine, instance, "woocommerce", "first")
    register(engine, instance, "tiktok_shop", "other-lane")  # the TikTok sensor's business
    result = tick(sensor, instance, warehouse)
    (request,) = result.run_requests
    assert request.partition_key == "first" and request.run_key == "new_shop:first"
    assert request.tags == {"dagster/partition": "first", "storepipe/trigger": "new_shop"}
    assert request.run_config == {"resources": {"woocommerce_sync": {"config": {"mode": "full"}}}}
    assert dg.validate_run_config(defs().resolve_job_def("woocommerce_shop_sync"), request.run_config)

    again = tick(sensor, instance, warehouse, result.cursor)
    assert again.run_requests == [] and again.skip_reason is not None

    register(engine, instance, "woocommerce", "second")
    later = tick(sensor, instance, warehouse, again.cursor)
    assert [r.partition_key for r in later.run_requests] == ["second"]
    assert tick(sensor, instance, warehouse, later.cursor).run_requests == []


def test_new_shop_sensor_skips_synced_disabled_and_busy_shops(engine: sa.Engine, instance, warehouse) -> None:
    register(engine, instance, "woocommerce", "synced")
    mark_synced(engine, "synced")
    register(engine, instance, "woocommerce", "off", enabled=False)
    register(engine, instance, "woocommerce", "busy")
    add_run(instance, "busy")  # an import someone started by hand is not doubled
    register(engine, instance, "woocommerce", "fresh")
    result = tick(NEW_SHOP_SENSORS["woocommerce"], instance, warehouse)
    assert [r.partition_key for r in result.run_requests] == ["fresh"]


def test_new_shop_sensor_adds_a_missing_partition_in_the_same_result(engine: sa.Engine, instance, warehouse) -> None:
    register(engine, instance, "tiktok_shop", "no-partition-yet")
    name = PLATFORMS["tiktok_shop"].partitions.name
    instance.delete_dynamic_partition(name, "no-partition-yet")
    result = tick(NEW_SHOP_SENSORS["tiktok_shop"], instance, warehouse)
    assert [r.partition_key for r in result.run_requests] == ["no-partition-yet"]
    assert [(r.partitions_def_name, list(r.partition_keys)) for r in result.dynamic_partitions_requests] == [
        (name, ["no-partition-yet"])
    ]


# ---------------------------------------------------------------- late statements


@pytest.fixture(autouse=True)
def any_time_of_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sensor waits when a scheduled sync is near; these tests must not depend on the wall clock."""
    monkeypatch.setattr(sensors, "SCHEDULED_SYNC_GRACE", timedelta(0))


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    with run_in_thread(EmulatorConfig(seed=11, orders=300, products=20, rate_limit_qps=None)) as emu:
        yield emu


@pytest.fixture
def synced_tiktok_shop(engine: sa.Engine, instance, emulator: RunningEmulator) -> Shop:
    shop = register_tiktok(engine, instance, emulator, key="tts-late")
    import_all(engine, shop, TikTokSyncOptions(mode="full"))  # completes a sync: statements in raw, model done
    return shop


def test_late_statement_sensor_requests_a_run_only_when_statements_change(
    engine: sa.Engine, instance, warehouse, emulator: RunningEmulator, synced_tiktok_shop: Shop
) -> None:
    register(engine, instance, "tiktok_shop", "never-synced")  # the new-shop sensor's business, not checked
    quiet = tick(late_statement_sensor, instance, warehouse)
    assert quiet.run_requests == [] and "checked 1 of 1 shops" in quiet.skip_reason.skip_message

    emulator.store.advance_time(days=3)  # new daily statements, and orders that settle into them
    changes = statement_changes(engine, synced_tiktok_shop)
    assert changes.new
    result = tick(late_statement_sensor, instance, warehouse, quiet.cursor)
    (request,) = result.run_requests
    assert request.partition_key == "tts-late"
    assert request.run_key == f"late_statements:tts-late:{changes.digest}"  # the same changes: the same key
    assert request.tags["storepipe/trigger"] == "late_statements"
    config = request.run_config["resources"]["tiktok_shop_sync"]["config"]
    assert config == {"mode": "incremental", "lookback_hours": 72}

    # The incremental sync the request starts reads the new statements: nothing to request afterwards.
    import_all(engine, synced_tiktok_shop, TikTokSyncOptions(mode="incremental"))
    assert not statement_changes(engine, synced_tiktok_shop)
    assert tick(late_statement_sensor, instance, warehouse, result.cursor).run_requests == []


def test_late_statement_sensor_keeps_going_when_one_shop_fails(
    engine: sa.Engine,
    instance,
    warehouse,
    emulator: RunningEmulator,
    synced_tiktok_shop: Shop,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A shop whose tokens were never stored (consent not given): its check fails, the other's still runs.
    os.environ["BROKEN_KEY"], os.environ["BROKEN_SECRET"] = emulator.app_key, "not-the-secret-123"
    broken = validate_shop(
        platform="tiktok_shop", key="aaa-broken", url=emulator.base_url, timezone="UTC", currency="USD",
        credentials_env="BROKEN",
    )  # fmt: skip
    add_shop(engine, instance, broken)
    mark_synced(engine, "aaa-broken")
    emulator.store.advance_time(days=2)
    result = tick(late_statement_sensor, instance, warehouse)
    logged = capsys.readouterr().err  # the sensor's context.log (Dagster's logger writes to stderr)
    assert [r.partition_key for r in result.run_requests] == ["tts-late"]
    assert "aaa-broken: statements not checked" in logged
    assert "not-the-secret-123" not in logged


def test_late_statement_sensor_leaves_shops_with_a_run_in_flight_alone(
    engine: sa.Engine, instance, warehouse, emulator: RunningEmulator, synced_tiktok_shop: Shop
) -> None:
    emulator.store.advance_time(days=2)
    add_run(instance, "tts-late")  # that run re-reads 35 days of statements anyway
    result = tick(late_statement_sensor, instance, warehouse)
    assert result.run_requests == [] and "checked 0 of 0 shops" in result.skip_reason.skip_message


def test_late_statement_sensor_leaves_the_hours_before_a_scheduled_sync_to_it(
    engine: sa.Engine, instance, warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(engine, instance, "tiktok_shop", "any")
    monkeypatch.setattr(sensors, "SCHEDULED_SYNC_GRACE", timedelta(hours=12))  # always within 12 h of a sync
    result = tick(late_statement_sensor, instance, warehouse, "some-cursor")
    assert result.run_requests == [] and result.cursor == "some-cursor"
    assert "scheduled sync at" in result.skip_reason.skip_message
