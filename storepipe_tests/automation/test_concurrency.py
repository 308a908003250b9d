"""Concurrency from dagster.yaml on a real instance: one run per shop at a time, and a pool per platform API."""

from __future__ import annotations

import dagster as dg

from storepipe.definitions import defs
from storepipe_tests.automation.conftest import add_run


def runs_the_daemon_would_start(instance) -> list[str]:
    """The run ids the queued-run daemon would dequeue now: its own decision code, on this instance's config."""
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    return [run.run_id for run in daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None)]


def test_two_runs_of_one_shop_never_start_together(instance) -> None:
    first = add_run(instance, "shop-a")
    add_run(instance, "shop-a")  # e.g. the 14:00 sync queued while a backfill of the shop waits
    other = add_run(instance, "shop-b")
    assert runs_the_daemon_would_start(instance) == [first, other]


def test_a_shop_with_a_run_in_progress_waits(instance) -> None:
    add_run(instance, "shop-a", dg.DagsterRunStatus.STARTED)
    add_run(instance, "shop-a")
    other = add_run(instance, "shop-b")
    assert runs_the_daemon_would_start(instance) == [other]


def test_each_platform_api_is_a_pool(instance) -> None:
    pools = {a.op.pool for a in defs().assets or [] if isinstance(a, dg.AssetsDefinition)}
    assert {"woocommerce_api", "tiktok_shop_api"} <= pools
    # Every pool gets dagster.yaml's default limit the first time an op claims it.
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 2
