"""A TikTok sync killed with SIGKILL and started again refetches no committed page and ends identical to a clean run."""

from __future__ import annotations

import random
import subprocess

import sqlalchemy as sa

from storepipe.emulators.tiktok_shop.server import RunningEmulator
from storepipe.shops import Shop
from storepipe_tests.sources.killing import kill_at, start_import
from storepipe_tests.sources.tiktok_shop.raw_loader import load_store
from storepipe_tests.sources.tiktok_shop.test_import import COMPARED, raw

PAGE_SIZE = 10  # many small pages: many checkpoints to die between
CONCURRENCY = 2


def _import() -> subprocess.Popen[str]:
    return start_import("tts", PAGE_SIZE, CONCURRENCY)


def _core(engine: sa.Engine) -> dict[str, list[tuple]]:
    """Every core table of the lane, every column but the mapping's own timestamp."""
    tables = ("orders", "order_lines", "refunds", "order_fees", "statements", "settlements", "products")
    with engine.connect() as conn:
        return {
            t: [
                tuple(v for k, v in r._mapping.items() if k != "mapped_at")
                for r in conn.execute(sa.text(f"SELECT * FROM core.{t} ORDER BY 1, 2, 3"))
            ]
            for t in tables
        }


def test_killed_imports_resume_to_the_clean_result(
    engine: sa.Engine, tiktok_shop: Shop, tiktok_emulator: RunningEmulator
) -> None:
    store = tiktok_emulator.store
    store.set_fault("latency", rate=1.0, latency_ms=10)  # slow enough to be killed mid-stage
    rng = random.Random(6)
    served_before = store.state()["requests"]
    kills = kill_at(engine, rng.sample(range(30, 1400), 3), _import)
    assert kills >= 2, "the import finished before it could be killed; slow the emulator down"
    finish = _import()
    out, _ = finish.communicate(timeout=300)
    assert finish.returncode == 0, out
    resumed_requests = store.state()["requests"] - served_before

    load_store(engine, "truth", store)
    for entity in COMPARED:
        assert raw(engine, tiktok_shop.key, entity) == raw(engine, "truth", entity), entity
    resumed_core = _core(engine)
    from storepipe.sources.tiktok_shop.model import map_shop

    map_shop(engine, tiktok_shop, None)  # a rebuild from raw
    assert _core(engine) == resumed_core

    # A clean run for the request count: per kill the resumed runs may add the pages in flight (one per
    # chain) and one token refresh check; nothing committed is fetched again.
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM ops.checkpoints WHERE entity <> '_last_sync'"))
    served = store.state()["requests"]
    clean = _import()
    out, _ = clean.communicate(timeout=300)
    assert clean.returncode == 0, out
    clean_requests = store.state()["requests"] - served
    assert resumed_requests <= clean_requests + kills * (CONCURRENCY + 2), (resumed_requests, clean_requests)
