"""The Dagster instance: a DAGSTER_HOME under STOREPIPE_HOME whose storage is the warehouse's PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import socket
from functools import lru_cache
from pathlib import Path

from storepipe.settings import DAGSTER_STORAGE_URL_ENV, DATABASE_URL_ENV, Settings, get_settings
from storepipe.warehouse.server import resolve_databases

_PACKAGE_DIR = Path(__file__).parent


def project_file(name: str) -> Path:
    """A top-level project file (dagster.yaml, workspace.yaml): in the checkout, or packaged in the wheel."""
    for candidate in (_PACKAGE_DIR.parent / name, _PACKAGE_DIR / "_project" / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{name} is neither in the checkout nor in the installed package")


def prepare_environment(settings: Settings | None = None) -> dict[str, str]:
    """Start or find the databases, install dagster.yaml in DAGSTER_HOME, and export what Dagster reads.

    Returns the variables it set, so a parent process can hand the same environment to the webserver,
    the daemon and the run workers, which then all find the same server without starting another.
    """
    settings = settings or get_settings()
    dbs = resolve_databases(settings)
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    target = settings.dagster_home / "dagster.yaml"
    source = project_file("dagster.yaml")
    if not target.exists() or target.read_bytes() != source.read_bytes():
        shutil.copyfile(source, target)
    exported = {
        "DAGSTER_HOME": str(settings.dagster_home),
        DAGSTER_STORAGE_URL_ENV: dbs.dagster_url,
        # Child processes must use the same server: pin it, embedded or not.
        DATABASE_URL_ENV: dbs.warehouse_url,
        "STOREPIPE_HOME": str(settings.home),
    }
    os.environ.update(exported)
    return exported


@lru_cache(maxsize=4)
def _instance_for(dagster_home: str):
    from dagster import DagsterInstance

    return DagsterInstance.from_config(dagster_home)


def get_instance(settings: Settings | None = None):
    """The persistent Dagster instance (Postgres-backed) that the UI and daemon also use."""
    settings = settings or get_settings()
    prepare_environment(settings)
    return _instance_for(str(settings.dagster_home))


# Tags of runs that a storepipe command executes in its own process (storepipe import).
HOST_TAG, PID_TAG = "storepipe/host", "storepipe/pid"


def process_tags() -> dict[str, str]:
    """Tags naming this process, so a later command can tell whether a run's process is still alive."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def reap_dead_runs(instance, partition_key: str) -> list[str]:
    """Mark failed the in-process runs of a shop whose process died (killed import), freeing their pool slots.

    Without this a killed `storepipe import` leaves its run STARTED for ever, holding its concurrency slots
    (pools `woocommerce_api`, `tiktok_shop_api`), and the next import of any shop waits on them. Only runs
    started on this host by a process that no longer exists are touched; a run the daemon launched is left
    to Dagster's run monitoring."""
    import psutil
    from dagster import DagsterRunStatus, RunsFilter

    alive = (DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.NOT_STARTED)
    host = socket.gethostname()
    runs = instance.get_runs(
        RunsFilter(statuses=list(alive), tags={"dagster/partition": partition_key, HOST_TAG: host})
    )
    reaped = []
    for run in runs:
        pid = int(run.tags.get(PID_TAG, "0") or 0)
        if pid and psutil.pid_exists(pid) and pid != os.getpid():
            continue
        instance.report_run_failed(run, f"the process that ran it (pid {pid} on {host}) is gone: killed or crashed")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        reaped.append(run.run_id)
    return reaped
