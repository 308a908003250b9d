"""The code location loads, and the registry sensor repairs partition drift on a real instance."""

from __future__ import annotations

import os

import dagster as dg
import sqlalchemy as sa

from storepipe.automation.registry import shop_registry_sensor
from storepipe.definitions import defs
from storepipe.resources import WarehouseResource
from storepipe.settings import Settings
from storepipe.shops import PLATFORMS, add_shop, validate_shop


def test_definitions_load() -> None:
    loaded = defs()
    dg.Definitions.validate_loadable(loaded)
    assert loaded.resolve_sensor_def("shop_registry_sensor") is not None


def test_registry_sensor_requests_missing_partitions(settings: Settings, engine: sa.Engine, instance) -> None:
    os.environ["ACME_KEY"], os.environ["ACME_SECRET"] = "k", "s"
    shop = validate_shop(
        platform="tiktok_shop", key="acme-tt", url="https://open-api.tiktokglobalshop.com",
        timezone="Asia/Singapore", currency="SGD", credentials_env="ACME",
    )  # fmt: skip
    add_shop(engine, instance, shop)
    name = PLATFORMS["tiktok_shop"].partitions.name
    instance.delete_dynamic_partition(name, "acme-tt")

    warehouse = WarehouseResource(database_url=settings.database_url)
    with dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse}) as context:
        result = shop_registry_sensor(context)
    assert isinstance(result, dg.SensorResult)
    assert [(r.partitions_def_name, list(r.partition_keys)) for r in result.dynamic_partitions_requests] == [
        (name, ["acme-tt"])
    ]


def test_registry_sensor_is_quiet_when_in_step(settings: Settings, engine: sa.Engine, instance) -> None:
    warehouse = WarehouseResource(database_url=settings.database_url)
    with dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse}) as context:
        result = shop_registry_sensor(context)
    assert result.dynamic_partitions_requests == []


def test_instance_queues_runs_with_one_run_per_shop(instance) -> None:
    from dagster._core.run_coordinator import QueuedRunCoordinator

    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    queue = instance.get_concurrency_config().run_queue_config
    assert queue.max_concurrent_runs == 4
    assert queue.tag_concurrency_limits == [
        {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]
    # Storage is PostgreSQL (psycopg2), not the SQLite default.
    assert type(instance.run_storage).__module__.startswith("dagster_postgres")
