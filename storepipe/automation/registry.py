"""A sensor that keeps Dagster's shop partitions in step with the registry and reports orphans."""

from __future__ import annotations

import dagster as dg

from storepipe.resources import WarehouseResource
from storepipe.shops import PLATFORMS, find_drift


@dg.sensor(
    name="shop_registry_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds the partition of any registered shop that lacks one; reports partitions with no shop.",
)
def shop_registry_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    drift = find_drift(warehouse.engine(), context.instance)
    requests = [
        PLATFORMS[platform].partitions.build_add_request(keys)
        for platform, keys in drift.added_partitions.items()
        if keys
    ]
    for platform, keys in drift.orphan_partitions.items():
        if keys:
            context.log.warning(
                f"{platform}: partitions {keys} have no shop in ops.shops; "
                "run `storepipe shops reconcile --prune` to delete them"
            )
    return dg.SensorResult(dynamic_partitions_requests=requests)
