"""Benchmark loyalty: ledger and tiers from scratch over a large shop in core, then a sync after 1 % of orders change.

The shop is the marts benchmark's (bench/marts.py: 1,000,000 orders over three years, 200,000 customers,
~2.5 lines per order, 5 % refunded, generated in SQL with a fixed seed), with an ANNUAL program of three
tiers. In one run:
  1. sync_shop from scratch: every paid order taken in, tier histories, earn and clawback entries;
  2. 1 % of the orders change as in the marts benchmark (status flips, new refunds, re-keyed customers),
     spread at random over the history, then the newest 1 %; each incremental sync is timed;
  3. a sync with reconcile_ledger (every order compared with the ledger), twice: the second writes nothing;
  4. recalculate_tiers re-derives every customer: the incremental spend and tiers must be the same.
Targets (issue 7): ledger and tiers from scratch <= 60 s; after 1 % of orders change <= 5 s.
    python bench/loyalty.py [--orders 1000000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

import psutil
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))

from _common import append_results, drop_scratch, peak_rss_mb, scratch_settings
from marts import CHANGE, GENERATE, PICK, SHOP, BackendPeak

AS_OF = date(2026, 11, 1)  # the day after the generated history ends
PROGRAM = {
    "tiers": [
        {"name": "Bronze", "min_spend": "0", "cashback_percent": "1"},
        {"name": "Silver", "min_spend": "250", "cashback_percent": "3"},
        {"name": "Gold", "min_spend": "1000", "cashback_percent": "5"},
    ],
    "base_tier": "Bronze",
    "evaluation_period": "ANNUAL",
}
METRICS = """
SELECT (SELECT count(*) FROM loyalty.customer_spend), (SELECT sum(period_spend) FROM loyalty.customer_spend),
       (SELECT sum(lifetime_spend) FROM loyalty.customer_spend), (SELECT sum(tier_rank) FROM loyalty.tier_placements),
       (SELECT count(*) FROM loyalty.tier_changes)
"""


def execute(engine: sa.Engine, script: str) -> None:
    with engine.begin() as conn:
        for statement in script.split(";\n"):
            if statement.strip():
                conn.execute(sa.text(statement))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--no-append", action="store_true", help="print the results without appending them")
    args = parser.parse_args()
    customers, subscriptions = args.orders // 5, max(10, args.orders * 14 // 1000)

    from storepipe.loyalty.checks import run_checks
    from storepipe.loyalty.program import LoyaltyProgram, set_program
    from storepipe.loyalty.sync import SyncOptions, recalculate_tiers, sync_shop
    from storepipe.shops import get_shop
    from storepipe.warehouse.engine import warehouse_engine

    settings = scratch_settings("storepipe_bench_loyalty")
    engine = warehouse_engine(settings)
    # One connection in the pool: the sampled backend is the one that runs the sync.
    engine = sa.create_engine(engine.url, pool_size=1, max_overflow=0)
    started = time.perf_counter()
    execute(engine, GENERATE.format(orders=args.orders, customers=customers, subscriptions=subscriptions))
    with engine.connect() as conn:
        counts = "SELECT (SELECT count(*) FROM core.order_lines), (SELECT count(*) FROM core.refunds), pg_backend_pid()"
        lines, refunds, pid = conn.execute(sa.text(counts)).one()
    print(f"generated {args.orders:,} orders, {lines:,} lines in {time.perf_counter() - started:.0f} s", flush=True)
    shop = get_shop(engine, SHOP)
    set_program(engine, SHOP, LoyaltyProgram.from_dict(PROGRAM))

    table: list[str] = []
    failed: list[str] = []

    def timed(label: str, target: str, run) -> object:
        cpu0 = sum(psutil.Process(pid).cpu_times()[:2])
        load = os.getloadavg()[0]
        with BackendPeak(pid) as backend:
            t0 = time.perf_counter()
            result = run()
            seconds = time.perf_counter() - t0
        cpu = sum(psutil.Process(pid).cpu_times()[:2]) - cpu0  # user + system of the backend: what the sync cost
        t0 = time.perf_counter()
        failed.extend(f"{o.check.name} ({label})" for o in run_checks(engine, shop) if not o.passed)
        checks = time.perf_counter() - t0
        steps = ", ".join(f"{k} {v:.2f}" for k, v in sorted(result.seconds.items(), key=lambda kv: -kv[1])[:3])
        entries = ", ".join(f"{k} {v:,}" for k, v in sorted(result.entries.items())) or "none"
        print(f"{label}: {seconds:.1f} s, checks {checks:.1f} s, entries {entries}, steps {steps}", flush=True)
        table.append(
            f"| {label} | {result.orders_synced:,} | {result.customers_updated:,} | {entries} | {seconds:.1f} "
            f"| {target} | {cpu:.1f} | {load:.1f} | {checks:.1f} | {backend.peak / 2**20:.0f} | {steps} |"
        )
        return result

    scratch = timed("from scratch", "<= 60", lambda: sync_shop(engine, shop, as_of=AS_OF))
    for label, pick in PICK.items():
        execute(engine, CHANGE.format(pick=pick.format(limit=args.orders // 100), customers=customers))
        timed(f"1 % changed: {label}", "<= 5", lambda: sync_shop(engine, shop, as_of=AS_OF))
    reconcile = SyncOptions(reconcile_ledger=True)
    timed("reconcile_ledger", "", lambda: sync_shop(engine, shop, reconcile, as_of=AS_OF))
    again = timed("reconcile_ledger again", "", lambda: sync_shop(engine, shop, reconcile, as_of=AS_OF))
    with engine.connect() as conn:
        incremental = tuple(conn.execute(sa.text(METRICS)).one())
    timed("recalculate_tiers (every customer)", "", lambda: recalculate_tiers(engine, shop, as_of=AS_OF))
    with engine.connect() as conn:
        recalculated = tuple(conn.execute(sa.text(METRICS)).one())
        entries, balance = conn.execute(sa.text("SELECT count(*), sum(amount) FROM loyalty.cashback_ledger")).one()
    same = incremental == recalculated
    print(f"incremental {incremental} == recalculated {recalculated}: {same}; failed checks: {failed}")

    lines_out = [
        f"`python bench/loyalty.py --orders {args.orders}` — the marts benchmark's generated shop: {args.orders:,} "
        f"orders, {lines:,} lines, {refunds:,} refunds, {customers:,} customers; ANNUAL program with three tiers, "
        f"as of {AS_OF}. Seconds = sync_shop wall time (one transaction); checks = the six asset checks, run "
        "after it and timed apart; backend CPU = user + system seconds of the PostgreSQL backend that ran the sync "
        "(what it cost, whatever else shares the 2 cores); load avg = the machine's 1-minute load when it started; "
        "RSS backend = that backend's peak (sampled every 50 ms); "
        f"peak RSS of this process {peak_rss_mb():.0f} MB.",
        "",
        "| sync | orders synced | customers updated | ledger entries written | seconds | target | backend CPU s "
        "| load avg | checks s | peak RSS backend MB | slowest steps (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *table,
        "",
        f"From scratch: {scratch.customers_updated:,} customers placed, {scratch.orders_synced:,} paid orders taken "
        f"in. Ledger at the end: {entries:,} entries, balance {balance}. The second reconcile wrote "
        f"{again.entries_written} entries. Incremental spend and tiers equal a recalculation of every customer: "
        f"{'yes' if same else 'NO'}; checks failed: {', '.join(failed) or 'none'}.",
    ]
    if args.no_append:
        print("\n".join(lines_out))
    else:
        append_results("Loyalty (sync_shop over core, one transaction)", lines_out)
    engine.dispose()
    drop_scratch(settings)  # the temporary embedded server: 3 GB at 1M orders


if __name__ == "__main__":
    main()
