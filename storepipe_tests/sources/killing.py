"""Killing imports mid-run for the resume tests: `storepipe import` subprocesses stopped with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable

import sqlalchemy as sa


def start_import(shop_key: str, page_size: int, concurrency: int) -> subprocess.Popen[str]:
    """A full `storepipe import` of the shop in a subprocess (its own Dagster run, as a user would start it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "storepipe.cli", "import", shop_key, "--full", "--page-size", str(page_size),
         "--concurrency", str(concurrency)],
        env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def processed(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT coalesce(sum(processed), 0) FROM ops.sync_progress")).scalar_one()


def kill_at(engine: sa.Engine, thresholds: Iterable[int], launch: Callable[[], subprocess.Popen[str]]) -> int:
    """Start an import per threshold and SIGKILL it once that many records are processed; the kills made."""
    kills = 0
    for threshold in sorted(thresholds):
        proc = launch()
        deadline = time.monotonic() + 120
        while proc.poll() is None and processed(engine) < threshold and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
    return kills
