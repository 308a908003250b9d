"""The code location: merges every lane's Definitions with the shared resources and automation."""

from __future__ import annotations

import dagster as dg

from storepipe.automation.registry import shop_registry_sensor
from storepipe.automation.schedules import SCHEDULES
from storepipe.automation.sensors import SENSORS
from storepipe.automation.webhooks import webhook_inbox_sensor
from storepipe.resources import WarehouseResource
from storepipe.sources.tiktok_shop import assets as tiktok_shop
from storepipe.sources.woocommerce import assets as woocommerce


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        woocommerce.definitions(),
        tiktok_shop.definitions(),
        dg.Definitions(sensors=[webhook_inbox_sensor]),
        dg.Definitions(
            schedules=SCHEDULES,
            sensors=[shop_registry_sensor, *SENSORS],
            resources={"warehouse": WarehouseResource(database_url=dg.EnvVar("STOREPIPE_DATABASE_URL"))},
        ),
    )
