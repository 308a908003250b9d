"""A sync killed with SIGKILL and started again refetches no completed page and ends identical to a clean run."""

from __future__ import annotations

import random
import subprocess

import sqlalchemy as sa

from storepipe.emulators.woocommerce import RunningEmulator
from storepipe.shops import Shop
from storepipe_tests.sources.killing import kill_at, start_import
from storepipe_tests.sources.woocommerce.helpers import core_snapshot, emulator_records, raw_records

PAGE_SIZE = 10  # many small pages: many checkpoints to die between


def _import() -> subprocess.Popen[str]:
    return start_import("lane", PAGE_SIZE, 2)


def test_killed_imports_resume_to_the_clean_result(
    engine: sa.Engine, woo_shop: Shop, emulator: RunningEmulator
) -> None:
    emulator.store.set_fault("latency", latency_ms=15)  # slow enough to be killed mid-stream
    rng = random.Random(4)
    served_before = emulator.store.state()["requests_served"]
    kills = kill_at(engine, rng.sample(range(50, 1300), 3), _import)
    assert kills >= 2, "the import finished before it could be killed; slow the emulator down"
    finish = _import()
    out, _ = finish.communicate(timeout=300)
    assert finish.returncode == 0, out
    assert "lane: last sync " in out and "orders synced" in out and "Failed" not in out
    resumed_requests = emulator.store.state()["requests_served"] - served_before

    # Identical to the store, and core identical to a rebuild from raw.
    assert raw_records(engine, woo_shop.key) == emulator_records(emulator)
    resumed_core = core_snapshot(engine)
    from storepipe.sources.woocommerce.model import map_shop

    map_shop(engine, woo_shop, None)
    assert core_snapshot(engine) == resumed_core

    # A clean run of the same import, for the request count: the resumed runs together may only add, per
    # kill, the pages in flight (2 x concurrency), the waves queued for the write-behind thread (2 x
    # concurrency), a wave fetched but not yet queued (concurrency) and the re-read of a sweep's last page.
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM ops.checkpoints"))
    served = emulator.store.state()["requests_served"]
    clean = _import()
    out, _ = clean.communicate(timeout=300)
    assert clean.returncode == 0, out
    clean_requests = emulator.store.state()["requests_served"] - served
    assert resumed_requests <= clean_requests + kills * (2 * 2 + 2 * 2 + 2 + 1), (resumed_requests, clean_requests)
