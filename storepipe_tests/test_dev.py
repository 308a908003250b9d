"""`storepipe dev` serves the Dagster UI with the storepipe code location, and Ctrl-C stops all of it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import requests
import sqlalchemy as sa

from storepipe.settings import Settings

_WORKSPACE_QUERY = (
    "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
    "locationOrLoadError { __typename ... on RepositoryLocation { repositories { name "
    "sensors { name } } } ... on PythonError { message } } } } } }"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"storepipe dev exited with {proc.returncode}"
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {timeout} s")


_RUNS_QUERY = "{ runsOrError { ... on Runs { results { runId status jobName tags { key value } } } } }"


def _wait_for_runs(port: int, count: int, timeout: float = 240) -> list[dict]:
    """The first `count` runs, once all of them have finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": _RUNS_QUERY}, timeout=30).json()
        runs = answer["data"]["runsOrError"]["results"]
        if len(runs) >= count and all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs):
            return runs
        time.sleep(2)
    raise AssertionError("the demo imports did not finish")


def test_dev_demo_serves_the_ui_imports_the_demo_shop_and_stops_cleanly(settings: Settings, engine) -> None:
    """The README's first command: UI up, demo shop registered and imported through the daemon, Ctrl-C."""
    port, demo_port, demo_tiktok_port = _free_port(), _free_port(), _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "storepipe.cli",
            "dev",
            "--port",
            str(port),
            "--demo",
            "--demo-port",
            str(demo_port),
            "--demo-tiktok-port",
            str(demo_tiktok_port),
            "--demo-orders",
            "300",
        ],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_up(f"http://127.0.0.1:{port}/server_info", proc)
        answer = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": _WORKSPACE_QUERY}, timeout=30).json()
        (location,) = answer["data"]["workspaceOrError"]["locationEntries"]
        assert location["name"] == "storepipe"
        assert location["loadStatus"] == "LOADED"
        (repository,) = location["locationOrLoadError"]["repositories"]
        assert {"name": "shop_registry_sensor"} in repository["sensors"]

        runs = _wait_for_runs(port, 2)  # one import per demo shop, started by the new-shop sensors
        partitions = {
            run["jobName"]: next(t["value"] for t in run["tags"] if t["key"] == "dagster/partition") for run in runs
        }
        assert partitions == {"woocommerce_shop_sync": "demo", "tiktok_shop_shop_sync": "demo-tiktok"}
        assert all(run["status"] == "SUCCESS" for run in runs), runs
        with engine.connect() as conn:
            orders = dict(conn.execute(sa.text("SELECT shop_key, count(*) FROM core.orders GROUP BY 1")).all())
        assert orders["demo"] > 250 and orders["demo-tiktok"] == 300

        family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        assert len(family) >= 5  # storepipe, the two demo emulators, dagster dev, webserver and daemon
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in family
        ):
            time.sleep(0.5)
        left = [p for p in family if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
        assert left == [], f"processes left running: {left}"
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            # dagster dev and the emulators run in sessions of their own: a failed test kills the whole tree.
            tree = psutil.Process(proc.pid).children(recursive=True)
            os.killpg(proc.pid, signal.SIGKILL)
            for child in tree:
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
        out = proc.stdout.read() if proc.stdout else ""
    assert "Dagster UI on http://127.0.0.1:" in out
