"""Shared helpers for benchmarks: a scratch database, peak memory, running storepipe, appending to RESULTS.md."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

RESULTS = Path(__file__).with_name("RESULTS.md")


def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def append_results(title: str, lines: list[str]) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = [f"## {title} — {stamp}", "", f"Machine: {machine()}", "", *lines, ""]
    text = "\n".join(block) + "\n"
    print(text)
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nAppended by the scripts in bench/; newest last.\n\n")
    with RESULTS.open("a") as fh:
        fh.write(text)


def scratch_settings(name: str):
    """Settings for a fresh database `name` on STOREPIPE_DATABASE_URL's server or a temporary embedded one."""
    import psycopg
    from sqlalchemy.engine import make_url

    from storepipe.settings import Settings
    from storepipe.warehouse.server import start_embedded

    external = os.environ.get("STOREPIPE_DATABASE_URL")
    home = Path(tempfile.mkdtemp(prefix="storepipe-bench-"))
    server = make_url(external) if external else start_embedded(home / "pgdata")
    admin = server.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return Settings(home=home, database_url=server.set(database=name).render_as_string(hide_password=False))


def drop_scratch(settings) -> None:
    """Stop the scratch embedded server (if this benchmark started one) and delete its directory."""
    import shutil

    from storepipe.warehouse.server import stop_embedded

    if not os.environ.get("STOREPIPE_DATABASE_URL"):
        stop_embedded(settings.home / "pgdata")
    shutil.rmtree(settings.home, ignore_errors=True)


def storepipe(env: dict[str, str], *args: str) -> tuple[float, float]:
    """Run a storepipe command; its wall seconds and its peak RSS in MB (sampled every 0.1 s)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "storepipe.cli", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    watched = psutil.Process(process.pid)
    peak = 0
    output = b""
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    output = process.stdout.read() if process.stdout else b""
    process.wait()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"storepipe {' '.join(args)} failed:\n{output.decode()[-3000:]}")
    return seconds, peak / 2**20


def phases(database_url: str) -> dict[str, float]:
    """Seconds each entity (and the model) took in the last sync, from ops.sync_progress."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT entity, EXTRACT(EPOCH FROM finished_at - started_at) FROM ops.sync_progress")
        ).all()
    engine.dispose()
    return {entity: float(seconds or 0) for entity, seconds in rows}
