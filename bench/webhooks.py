"""Benchmark the webhook receiver: verified and persisted deliveries per second, p50/p99 latency, 1 vs 4 senders.

The receiver runs as `storepipe webhooks serve` in a subprocess on a scratch warehouse; the senders are threads
with keep-alive sessions posting signed WooCommerce order.updated deliveries whose bodies are real orders from
the WooCommerce emulator (as its REST API renders them). Every delivery gets its own delivery id, so each one is
verified and committed to ops.webhook_inbox before its 200; the count in the inbox is checked after each phase.
    python bench/webhooks.py [--deliveries 2000] [--senders 1 4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import dagster as dg
import psutil
import requests
import sqlalchemy as sa
from _common import append_results, scratch_settings

from storepipe.emulators.server import bind_socket
from storepipe.emulators.woocommerce import EmulatorConfig, run_in_thread
from storepipe.shops import add_shop, validate_shop
from storepipe.sources.woocommerce.webhooks import signature
from storepipe.warehouse.engine import warehouse_engine

SECRET = "whsec_bench"


def order_bodies(count: int) -> list[bytes]:
    """`count` real order documents from the emulator, as WooCommerce would send them in order.updated."""
    bodies: list[bytes] = []
    with run_in_thread(EmulatorConfig(seed=5, orders=count)) as emu:
        for page in range(1, count // 100 + 2):
            answer = requests.get(
                emu.api_url + "/orders", params={"per_page": 100, "page": page}, auth=emu.auth, timeout=60
            )
            answer.raise_for_status()
            bodies += [json.dumps(o, separators=(",", ":")).encode() for o in answer.json()]
    # The listing leaves out trashed orders: repeat bodies to make up the count (delivery ids stay unique).
    return [bodies[i % len(bodies)] for i in range(count)]


def start_receiver(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    with bind_socket("127.0.0.1", 0) as sock:
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "storepipe.cli", "webhooks", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/webhooks/health", timeout=1).ok:
                return process, base
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the receiver did not start: {process.stderr.read().decode()[-2000:] if process.stderr else ''}")


def phase(url: str, bodies: list[bytes], senders: int, label: str) -> tuple[float, list[float]]:
    """Post every body once, split over `senders` threads; wall seconds and per-request latencies (s)."""
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()

    def send(share: list[tuple[int, bytes]]) -> None:
        session = requests.Session()
        mine: list[float] = []
        for number, body in share:
            headers = {
                "Content-Type": "application/json",
                "X-WC-Webhook-Topic": "order.updated",
                "X-WC-Webhook-Resource": "order",
                "X-WC-Webhook-Event": "updated",
                "X-WC-Webhook-Delivery-ID": f"{label}-{number:08d}",
                "X-WC-Webhook-Signature": signature(SECRET, body),
            }
            started = time.perf_counter()
            answer = session.post(url, data=body, headers=headers, timeout=30)
            mine.append(time.perf_counter() - started)
            if answer.status_code != 200 or answer.json().get("status") != "queued":
                with lock:
                    failures.append(answer.status_code)
        with lock:
            latencies.extend(mine)

    work = list(enumerate(bodies))
    started = time.perf_counter()
    with ThreadPoolExecutor(senders, thread_name_prefix="sender") as pool:
        list(pool.map(send, (work[i::senders] for i in range(senders))))  # list(): re-raise a sender's error
    seconds = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} deliveries were not accepted: {sorted(set(failures))}")
    return seconds, latencies


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=2000, help="deliveries per phase")
    parser.add_argument("--senders", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()

    settings = scratch_settings("storepipe_bench_webhooks")
    env = dict(os.environ, STOREPIPE_DATABASE_URL=settings.database_url, STOREPIPE_HOME=str(settings.home))
    env |= {"BENCH_KEY": "ck_bench", "BENCH_SECRET": "cs_bench", "BENCH_WEBHOOK_SECRET": SECRET}
    os.environ.update(env)
    engine = warehouse_engine(settings)
    shop = validate_shop(
        platform="woocommerce", key="bench", url="https://bench.example", timezone="UTC", currency="EUR",
        credentials_env="BENCH",
    )  # fmt: skip
    add_shop(engine, dg.DagsterInstance.ephemeral(), shop)
    bodies = order_bodies(args.deliveries)
    sizes = [len(b) for b in bodies]

    receiver, base = start_receiver(env)
    url = f"{base}/webhooks/woocommerce/bench"
    rows: list[str] = []
    rates: dict[int, float] = {}
    try:
        phase(url, bodies[:100], 1, "warmup")  # connections, the receiver's first imports
        for senders in args.senders:
            with engine.begin() as conn:
                conn.execute(sa.text("DELETE FROM ops.webhook_inbox"))
            cpu_before = sum(psutil.Process(receiver.pid).cpu_times()[:2])
            seconds, latencies = phase(url, bodies, senders, f"s{senders}")
            cpu = sum(psutil.Process(receiver.pid).cpu_times()[:2]) - cpu_before
            with engine.connect() as conn:
                stored = conn.execute(sa.text("SELECT count(*) FROM ops.webhook_inbox")).scalar_one()
            if stored != len(bodies):
                raise SystemExit(f"{senders} senders: {stored} rows in the inbox for {len(bodies)} deliveries")
            rates[senders] = len(bodies) / seconds
            rows.append(
                f"| {senders} | {len(bodies):,} | {seconds:.2f} | {rates[senders]:,.0f} | "
                f"{1000 * percentile(latencies, 50):.1f} | {1000 * percentile(latencies, 99):.1f} | "
                f"{1000 * cpu / len(bodies):.2f} | {100 * cpu / seconds:.0f} % | {stored:,} |"
            )
        receiver_rss = psutil.Process(receiver.pid).memory_info().rss / 2**20
    finally:
        receiver.terminate()
        receiver.wait(timeout=20)
    first, last = args.senders[0], args.senders[-1]
    ratio = rates[last] / rates[first]
    lines = [
        f"`python bench/webhooks.py --deliveries {args.deliveries} --senders {' '.join(map(str, args.senders))}` — "
        "receiver = `storepipe webhooks serve` (one uvicorn process) in a subprocess, senders = threads with "
        f"keep-alive sessions in the benchmark process, same machine; signed WooCommerce order.updated bodies of "
        f"real emulator orders ({statistics.mean(sizes) / 1024:.1f} KiB mean, {max(sizes) / 1024:.1f} KiB max); "
        "each delivery verified on the raw bytes and committed to ops.webhook_inbox before its 200.",
        "",
        "| senders | deliveries | seconds | deliveries/s | p50 ms | p99 ms | receiver CPU ms/delivery | receiver CPU "
        "| rows in inbox |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"{last} senders vs {first}: {ratio:.2f}x the throughput. Receiver RSS at the end {receiver_rss:.0f} MB.",
    ]
    append_results("Webhook receiver (storepipe webhooks serve)", lines)


if __name__ == "__main__":
    main()
