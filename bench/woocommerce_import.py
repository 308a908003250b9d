"""Benchmark the WooCommerce lane: a full import and an incremental sync against the emulator with 50 ms latency.

For each size (default 25,000 and 250,000 orders, with the emulator's proportional customers, products,
variations, coupons, refunds and subscriptions) in one run:
  1. the emulator's ceiling: a second emulator at 0 ms latency, every order page read cold by 8 clients;
  2. `storepipe import SHOP --full` (the Dagster job, in a subprocess): wall time, requests, pages/s, peak RSS;
  3. 0.5 % of the orders modified through the control API, then `storepipe import SHOP`: requests and time.
Targets (issue 4): full import <= 3 min and >= 80 % of the ceiling at 250K; peak RSS <= 500 MB and flat in
shop size; the incremental sync costs <= 2 % of the full import's requests and time.
    python bench/woocommerce_import.py [--sizes 25000 250000] [--latency-ms 50] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
from pathlib import Path

import psutil
import requests

sys.path.insert(0, str(Path(__file__).parent))

from _common import append_results, drop_scratch, phases, scratch_settings, storepipe
from emulator import free_port, start_emulator, sweep

from storepipe.sources.woocommerce.streams import STREAMS

KEY, SECRET = "ck_demo", "cs_demo"
FETCHING = {s.name for s in STREAMS}


def state(control: str) -> dict:
    return requests.get(f"{control}/state", timeout=30).json()


def ceiling(orders: int, deadline: float) -> float:
    """Cold pages/s the emulator serves at 0 ms latency to 8 clients: the most an importer could get."""
    port = free_port()
    process, _ = start_emulator(orders, port, deadline)
    try:
        pages = (orders + 99) // 100
        result = sweep("ceiling", f"http://127.0.0.1:{port}/wp-json/wc/v3/orders", range(1, pages + 1), 8, deadline)
        return result.pages_per_s
    finally:
        process.kill()


def cpu_seconds(process: psutil.Process) -> float:
    """CPU used by a process and the children it has reaped (a postmaster reaps its backends)."""
    t = process.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def reaped_children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def postmaster(home: Path) -> psutil.Process | None:
    """The embedded PostgreSQL of this benchmark (None on an external server: its CPU is not measured)."""
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and "-D" in cmdline and str(home) in " ".join(cmdline):
            return proc
    return None


def run_size(orders: int, latency_ms: int, concurrency: int) -> list[str]:
    deadline = time.monotonic() + 1800
    top = ceiling(orders, deadline)
    settings = scratch_settings(f"storepipe_bench_import_{orders}")
    port = free_port()
    process, _ = start_emulator(orders, port, deadline, "--latency-ms", str(latency_ms))
    control = f"http://127.0.0.1:{port}/_emulator"
    env = {
        **os.environ,
        "STOREPIPE_HOME": str(settings.home),
        "STOREPIPE_DATABASE_URL": settings.database_url or "",
        "BENCH_KEY": KEY,
        "BENCH_SECRET": SECRET,
    }
    try:
        storepipe(env, "shops", "add", "--platform", "woocommerce", "--key", "bench", "--url",
                  f"http://127.0.0.1:{port}", "--timezone", "Europe/Berlin", "--currency", "EUR",
                  "--credentials-env", "BENCH")  # fmt: skip
        shop = state(control)
        served = shop["requests_served"]
        emulator, database = psutil.Process(process.pid), postmaster(settings.home)
        cpu_before = (cpu_seconds(emulator), reaped_children_cpu(), cpu_seconds(database) if database else 0.0)
        full_s, rss = storepipe(env, "import", "bench", "--full", "--concurrency", str(concurrency))
        cpu_after = (cpu_seconds(emulator), reaped_children_cpu(), cpu_seconds(database) if database else 0.0)
        full_requests = state(control)["requests_served"] - served
        full_phases = phases(env["STOREPIPE_DATABASE_URL"])
        order_pages = (shop["orders"] + 99) // 100

        ids = requests.get(f"{control}/orders/ids", timeout=60).json()
        ids = ids["ids"] if isinstance(ids, dict) else ids
        changed = random.Random(orders).sample(ids, max(1, len(ids) // 200))
        session = requests.Session()
        for order_id in changed:
            session.patch(
                f"{control}/orders/{order_id}", json={"customer_note": "changed for the benchmark"}, timeout=30
            )
        requests.post(f"{control}/time/advance", json={"minutes": 10}, timeout=30)
        served = state(control)["requests_served"]
        inc_s, rss2 = storepipe(env, "import", "bench", "--concurrency", str(concurrency))
        inc_requests = state(control)["requests_served"] - served
        inc_phases = phases(env["STOREPIPE_DATABASE_URL"])
    finally:
        process.kill()
        drop_scratch(settings)
    pages_per_s = full_requests / full_s
    sweep_rate = order_pages / full_phases["orders"]  # the order sweep alone, inside the job
    in_job_full, in_job_inc = sum(full_phases.values()), sum(inc_phases.values())
    # Pages per second of the fetching assets alone (the model, marts and loyalty make no request).
    fetch_s = sum(seconds for entity, seconds in full_phases.items() if entity in FETCHING)
    fetch_rate = full_requests / fetch_s
    return [
        f"| {orders:,} | {shop['customers']:,} / {shop['refunds']:,} / {shop['subscriptions']:,} | {full_s:.0f} "
        f"| {full_requests:,} | {pages_per_s:.0f} | {top:.0f} | {100 * pages_per_s / top:.0f} % | {max(rss, rss2):.0f} "
        f"| {len(changed):,} | {inc_requests:,} ({100 * inc_requests / full_requests:.1f} %) "
        f"| {inc_s:.1f} ({100 * inc_s / full_s:.1f} %) "
        f"| {sweep_rate:.0f} ({100 * sweep_rate / top:.0f} %) | {full_phases['model']:.1f} "
        f"| {in_job_inc:.1f} of {in_job_full:.1f} ({100 * in_job_inc / in_job_full:.1f} %) "
        f"| {' / '.join(f'{1000 * (a - b) / full_requests:.1f}' for a, b in zip(cpu_after, cpu_before, strict=True))} "
        f"| {fetch_rate:.0f} ({100 * fetch_rate / top:.0f} %) |",
        f"<!-- {orders}: {order_pages} order pages -->",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[25_000, 250_000])
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        rows += [r for r in run_size(size, args.latency_ms, args.concurrency) if not r.startswith("<!--")]
        print(rows[-1], flush=True)
    append_results(
        "WooCommerce import (storepipe import, Dagster job in a subprocess)",
        [
            f"`python bench/woocommerce_import.py --sizes {' '.join(map(str, args.sizes))} --latency-ms "
            f"{args.latency_ms} --concurrency {args.concurrency}` — emulator with {args.latency_ms} ms per request; "
            "ceiling = the emulator's cold pages/s at 0 ms latency to 8 clients, same machine, same run; "
            "requests counted by the emulator; RSS = peak of the `storepipe import` process (sampled); "
            "in-job = the sum of the assets' durations in ops.sync_progress (no process or Dagster start-up).",
            "",
            "| orders | customers / refunds / subs | full import s | requests | pages/s | ceiling pages/s "
            "| of ceiling | peak RSS MB | orders changed | incremental requests | incremental s "
            "| order sweep pages/s (of ceiling) | model s | in-job incremental s of full s "
            "| CPU ms per request: emulator / import process / PostgreSQL | fetching assets pages/s (of ceiling) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            *rows,
        ],
    )


if __name__ == "__main__":
    main()
