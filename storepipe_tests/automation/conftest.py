"""Automation test fixtures: shops registered on a fresh warehouse and Dagster instance, the warehouse resource."""

from __future__ import annotations

import os
import uuid

import dagster as dg
import pytest
import sqlalchemy as sa

from storepipe.resources import WarehouseResource
from storepipe.settings import Settings
from storepipe.shops import Shop, add_shop, set_enabled, validate_shop


def register(
    engine: sa.Engine, instance, platform: str, key: str, *, timezone: str = "Europe/Berlin", enabled: bool = True
) -> Shop:
    """A shop of `platform` that nothing is listening at (schedules and the new-shop sensor never call the API)."""
    os.environ["AUTO_KEY"], os.environ["AUTO_SECRET"] = "k", "s"
    shop = validate_shop(
        platform=platform, key=key, url=f"https://{key}.example.com", timezone=timezone, currency="EUR",
        credentials_env="AUTO",
    )  # fmt: skip
    shop = add_shop(engine, instance, shop)
    return shop if enabled else set_enabled(engine, key, False)


def mark_synced(engine: sa.Engine, shop_key: str) -> None:
    """What a completed sync leaves behind: the model step Completed in ops.sync_progress."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO ops.sync_progress (shop_key, entity, status, processed, finished_at) "
                "VALUES (:k, 'model', 'Completed', 0, now())"
            ),
            {"k": shop_key},
        )


def add_run(instance, shop_key: str, status: dg.DagsterRunStatus = dg.DagsterRunStatus.QUEUED) -> str:
    """A run of the shop's sync as the webserver records it (a queued run must name its code location)."""
    from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteRepositoryOrigin

    job = "woocommerce_shop_sync"
    origin = RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("storepipe"), "__repository__").get_job_origin(job)
    run = dg.DagsterRun(
        job_name=job,
        run_id=str(uuid.uuid4()),
        status=status,
        tags={"dagster/partition": shop_key},
        remote_job_origin=origin,
    )
    instance.add_run(run)
    return run.run_id


@pytest.fixture
def warehouse(settings: Settings) -> WarehouseResource:
    return WarehouseResource(database_url=settings.database_url)
