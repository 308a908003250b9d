"""Benchmark the monotonic bulk upsert with ~3 KB JSONB payloads: rows/s for inserts, no-op re-imports and updates.

Compares COPY-into-staging + INSERT … ON CONFLICT (storepipe.warehouse.upsert) with a plain executemany
INSERT … ON CONFLICT in the same run, as a ratio. Target: >= 20,000 rows/s.
    python bench/upsert.py [--rows 200000] [--batch 5000]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import sqlalchemy as sa
from _common import append_results, peak_rss_mb, scratch_settings

from storepipe.warehouse.engine import warehouse_engine
from storepipe.warehouse.tables import raw_table
from storepipe.warehouse.upsert import UpsertResult, bulk_upsert

COLUMNS = ("shop_key", "id", "modified_gmt", "payload", "fetched_at")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def payload(i: int, rng: random.Random, version: int = 0) -> str:
    """An order-shaped JSON document of about 3 KB."""
    lines = [
        {
            "id": i * 10 + n,
            "name": f"Product {rng.randrange(1000)} – {rng.choice(['red', 'blue', 'green'])}",
            "product_id": rng.randrange(1, 5000),
            "variation_id": rng.randrange(0, 9000),
            "quantity": rng.randrange(1, 4),
            "subtotal": f"{rng.uniform(5, 200):.2f}",
            "total": f"{rng.uniform(5, 200):.2f}",
            "total_tax": f"{rng.uniform(0, 30):.2f}",
            "sku": f"SKU-{rng.randrange(10**6):06d}",
            "meta_data": [{"id": n, "key": "pa_size", "value": rng.choice("SMLX")}],
        }
        for n in range(3)
    ]
    doc = {
        "id": i,
        "status": rng.choice(["completed", "processing", "refunded"]),
        "version": version,
        "total": f"{rng.uniform(10, 500):.2f}",
        "billing": {
            "first_name": "Alex",
            "last_name": f"Tester{i}",
            "email": f"customer{i % 50000}@example.com",
            "address_1": f"{rng.randrange(1, 200)} Market Street",
            "city": "Berlin",
            "postcode": f"{rng.randrange(10000, 99999)}",
            "country": "DE",
        },
        "line_items": lines,
        "meta_data": [{"id": k, "key": f"_wc_order_attribution_{k}", "value": "x" * 40} for k in range(8)],
        "customer_note": "n" * 1250,
    }
    return json.dumps(doc)


def rows_for(ids: range, version: int) -> list[tuple]:
    rng = random.Random(version)
    now = datetime.now(UTC)
    return [("bench", i, T0 + timedelta(seconds=version), payload(i, rng, version), now) for i in ids]


def run_copy(engine: sa.Engine, table: sa.Table, rows: list[tuple], batch: int) -> tuple[float, UpsertResult]:
    total = UpsertResult(0, 0, 0)
    start = time.perf_counter()
    for k in range(0, len(rows), batch):
        with engine.begin() as conn:  # one transaction per page batch, as the importers commit
            total = total + bulk_upsert(
                conn, table, rows[k : k + batch], columns=COLUMNS, key=("shop_key", "id"), version="modified_gmt"
            )
    return time.perf_counter() - start, total


def run_executemany(engine: sa.Engine, table: sa.Table, rows: list[tuple], batch: int) -> float:
    sql = (
        f"INSERT INTO raw.{table.name} (shop_key, id, modified_gmt, payload, fetched_at) "
        "VALUES (%s, %s, %s, %s::jsonb, %s) ON CONFLICT (shop_key, id) DO UPDATE SET payload = EXCLUDED.payload, "
        f"modified_gmt = EXCLUDED.modified_gmt WHERE {table.name}.modified_gmt <= EXCLUDED.modified_gmt"
    )
    start = time.perf_counter()
    for k in range(0, len(rows), batch):
        with engine.begin() as conn, conn.connection.driver_connection.cursor() as cur:
            cur.executemany(sql, rows[k : k + batch])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--baseline-rows", type=int, default=20_000, help="rows for the executemany comparison")
    args = parser.parse_args()

    settings = scratch_settings("storepipe_bench_upsert")
    engine = warehouse_engine(settings)
    meta = sa.MetaData()
    table = raw_table("bench_orders", meta=meta)
    baseline = raw_table("bench_orders_baseline", meta=meta)
    meta.create_all(engine)

    v1 = rows_for(range(args.rows), 1)
    size = sum(len(r[3]) for r in v1[:1000]) / 1000
    t_insert, r_insert = run_copy(engine, table, v1, args.batch)
    t_noop, r_noop = run_copy(engine, table, v1, args.batch)
    v2 = rows_for(range(args.rows), 2)
    t_update, r_update = run_copy(engine, table, v2, args.batch)
    t_stale, r_stale = run_copy(engine, table, v1, args.batch)  # older versions: all refused
    assert r_insert.inserted == args.rows and r_noop.unchanged == args.rows
    assert r_update.updated == args.rows and r_stale.unchanged == args.rows

    n = min(args.baseline_rows, args.rows)
    t_base = run_executemany(engine, baseline, v1[:n], args.batch)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE raw.bench_orders"))
    t_copy_n, _ = run_copy(engine, table, v1[:n], args.batch)

    rate = lambda count, secs: f"{count / secs:,.0f} rows/s"  # noqa: E731
    lines = [
        f"`python bench/upsert.py --rows {args.rows} --batch {args.batch}` — payload {size / 1024:.1f} KB JSON per row",
        "",
        "| operation | rows | seconds | rate |",
        "|---|---|---|---|",
        f"| insert new (COPY + merge) | {args.rows:,} | {t_insert:.1f} | {rate(args.rows, t_insert)} |",
        f"| re-import unchanged (no writes) | {args.rows:,} | {t_noop:.1f} | {rate(args.rows, t_noop)} |",
        f"| newer versions (update) | {args.rows:,} | {t_update:.1f} | {rate(args.rows, t_update)} |",
        f"| older versions (refused) | {args.rows:,} | {t_stale:.1f} | {rate(args.rows, t_stale)} |",
        f"| insert, executemany INSERT ON CONFLICT | {n:,} | {t_base:.1f} | {rate(n, t_base)} |",
        f"| insert, COPY + merge, same rows | {n:,} | {t_copy_n:.1f} | {rate(n, t_copy_n)} |",
        "",
        f"COPY + merge is {t_base / t_copy_n:.1f}x the speed of executemany on the same {n:,} rows. "
        f"Peak RSS of the benchmark process {peak_rss_mb():,.0f} MB (holds all {2 * args.rows:,} payloads).",
        f"Target >= 20,000 rows/s for inserts: {'met' if args.rows / t_insert >= 20_000 else 'NOT met'}.",
    ]
    append_results("Bulk upsert (storepipe.warehouse.upsert)", lines)


if __name__ == "__main__":
    main()
