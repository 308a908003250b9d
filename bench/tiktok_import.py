"""Benchmark the TikTok Shop lane: a full import and an incremental sync under an emulated per-API rate limit.

In one run: a TikTok emulator subprocess with N orders over the last `--months` months (statements daily) and
a QPS limit per app per API; `storepipe import SHOP --full` (the Dagster job, in a subprocess); then one
day passes on the emulator clock and `storepipe import SHOP` syncs incrementally. Printed per stage: requests,
seconds and the achieved request rate against the limit (every stage reads one API at a time, so the limit
is the most it can get); overall: wall time, requests, peak RSS of the import process.
Target (issue 6): 100,000 orders, 6 months of statements, limit 20/s: >= 80 % of the limit, RSS <= 500 MB.
    python bench/tiktok_import.py [--orders 100000] [--months 6] [--qps 20] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))

from _common import append_results, drop_scratch, scratch_settings, storepipe
from emulator import free_port, start_emulator

APP_KEY, APP_SECRET = "6a1b2c3d4e5f6", "tts_demo_app_secret"  # the emulator's defaults


def stage_figures(database_url: str) -> dict[str, tuple[int, float]]:
    """(requests, seconds) per stage of the last sync, and the model's seconds, from ops.sync_progress."""
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT entity, coalesce((summary->>'requests')::int, 0), "
                "EXTRACT(EPOCH FROM finished_at - started_at) FROM ops.sync_progress WHERE entity NOT LIKE '\\_%'"
            )
        ).all()
    engine.dispose()
    return {entity: (requests_, float(seconds or 0)) for entity, requests_, seconds in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=1_000)
    parser.add_argument("--months", type=float, default=6)
    parser.add_argument("--qps", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    deadline = time.monotonic() + 3600
    settings = scratch_settings(f"storepipe_bench_tiktok_{args.orders}")
    port = free_port()
    emulator, boot_s = start_emulator(
        args.orders, port, deadline, "--products", str(args.products), "--years", str(args.months / 12),
        "--rate-limit-qps", str(args.qps), module="storepipe.emulators.tiktok_shop",
    )  # fmt: skip
    control = f"http://127.0.0.1:{port}/_emulator"
    env = {
        **os.environ,
        "STOREPIPE_HOME": str(settings.home),
        "STOREPIPE_DATABASE_URL": settings.database_url or "",
        "BENCH_KEY": APP_KEY,
        "BENCH_SECRET": APP_SECRET,
    }
    run = ("--concurrency", str(args.concurrency), "--max-rps", str(args.qps))
    try:
        storepipe(env, "shops", "add", "--platform", "tiktok_shop", "--key", "bench", "--url",
                  f"http://127.0.0.1:{port}", "--timezone", "America/Los_Angeles", "--currency", "USD",
                  "--credentials-env", "BENCH")  # fmt: skip
        code = requests.post(f"{control}/auth_codes", timeout=30).json()["auth_code"]
        storepipe(env, "shops", "connect", "bench", "--auth-code", code)
        served = requests.get(f"{control}/state", timeout=60).json()["requests"]
        full_s, full_rss = storepipe(env, "import", "bench", "--full", *run)
        full_requests = requests.get(f"{control}/state", timeout=60).json()["requests"] - served
        full = stage_figures(env["STOREPIPE_DATABASE_URL"])
        requests.post(f"{control}/time/advance", json={"days": 1}, timeout=60)
        served = requests.get(f"{control}/state", timeout=60).json()["requests"]
        inc_s, inc_rss = storepipe(env, "import", "bench", *run)
        inc_requests = requests.get(f"{control}/state", timeout=60).json()["requests"] - served
        inc = stage_figures(env["STOREPIPE_DATABASE_URL"])
    finally:
        emulator.kill()
        drop_scratch(settings)

    lines = [
        f"`python bench/tiktok_import.py --orders {args.orders} --months {args.months:g} --qps {args.qps} "
        f"--concurrency {args.concurrency}` — emulator subprocess ({args.products:,} products, started in "
        f"{boot_s:.0f} s) limiting every API to {args.qps} requests/s per app; requests counted by the emulator; "
        "stage figures from ops.sync_progress; RSS = peak of the `storepipe import` process (sampled).",
        "",
        "| stage | full: requests | s | requests/s | of limit | incremental: requests | s |",
        "|---|---|---|---|---|---|---|",
    ]
    fetch_requests = fetch_s = 0.0
    for stage, (count, seconds) in full.items():
        if stage == "model":
            continue
        rate = count / seconds if seconds else 0.0
        fetch_requests, fetch_s = fetch_requests + count, fetch_s + seconds
        inc_count, inc_seconds = inc.get(stage, (0, 0.0))
        lines.append(
            f"| {stage} | {count:,} | {seconds:.1f} | {rate:.1f} | {100 * rate / args.qps:.0f} % "
            f"| {inc_count:,} | {inc_seconds:.1f} |"
        )
    overall = fetch_requests / fetch_s if fetch_s else 0.0
    inc_stages = [figures for stage, figures in inc.items() if stage != "model"]
    lines += [
        f"| **all stages** | {fetch_requests:,.0f} | {fetch_s:.1f} | {overall:.1f} | {100 * overall / args.qps:.0f} % "
        f"| {sum(c for c, _ in inc_stages):,} | {sum(x for _, x in inc_stages):.1f} |",
        "",
        f"Full import: {full_s:.0f} s wall ({full['model'][1]:.1f} s model; the rest start-up and marts), "
        f"{full_requests:,} requests; incremental after one day: {inc_s:.0f} s wall, {inc_requests:,} requests "
        f"({100 * inc_requests / full_requests:.1f} %). Peak RSS of the import: {max(full_rss, inc_rss):.0f} MB.",
    ]
    append_results("TikTok Shop import (storepipe import, Dagster job in a subprocess)", lines)


if __name__ == "__main__":
    main()
