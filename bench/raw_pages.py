"""Benchmark writing WooCommerce order pages into raw: PostgreSQL splitting the JSON array vs Python parse + COPY.

Real pages of 100 orders from the emulator (~415 KB each) are written into raw.woocommerce_orders of a scratch
warehouse, in transactions of 8 pages as the importer commits them, by:
  - `sql array`: storepipe.sources.woocommerce.raw.write_array (the page's text as one parameter; PostgreSQL
    parses it once, splits it, merges);
  - `python + COPY`: orjson parses the page, every record is serialised again and COPYed into a staging table,
    then merged with storepipe.warehouse.upsert.bulk_upsert (the importer's path before raw.py);
  - `sql array, STORAGE EXTERNAL`: the first with payload compression off (more disk for less CPU).
For each: CPU per page in this process and in its PostgreSQL backend, wall per page, for new rows and for a
re-import of the same pages (nothing changes), and the table's size; ratios against `sql array` in one run.
    python bench/raw_pages.py [--pages 150]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import orjson
import requests
import sqlalchemy as sa
from _common import append_results, drop_scratch, scratch_settings
from emulator import free_port, start_emulator

from storepipe.sources.woocommerce.raw import write_array
from storepipe.warehouse.engine import warehouse_engine
from storepipe.warehouse.tables import woocommerce_raw
from storepipe.warehouse.upsert import bulk_upsert

COLUMNS = ("shop_key", "id", "parent_id", "modified_gmt", "payload", "fetched_at", "deleted_at")
SHOP = "bench"


def python_copy(conn: sa.Connection, body: str) -> None:
    """The former path: parse, serialise each record again, COPY into a staging table, merge."""
    now = datetime.now(UTC)
    rows = []
    for record in orjson.loads(body):
        modified = record.get("date_modified_gmt") or record.get("date_created_gmt")
        stamp = datetime.fromisoformat(modified[:19]).replace(tzinfo=UTC) if modified else None
        rows.append((SHOP, record["id"], None, stamp, orjson.dumps(record).decode(), now, None))
    bulk_upsert(conn, woocommerce_raw["orders"], rows, columns=COLUMNS, key=("shop_key", "id"), version="modified_gmt")


def sql_array(conn: sa.Connection, body: str) -> None:
    write_array(conn, SHOP, "orders", body, fetched_at=datetime.now(UTC))


def backend_cpu(conn: sa.Connection) -> float:
    """CPU seconds of this connection's PostgreSQL backend (same machine only)."""
    pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(engine: sa.Engine, write: Callable[[sa.Connection, str], None], bodies: list[str]) -> tuple[float, ...]:
    """(client CPU, backend CPU, wall) in ms per page, writing 8 pages per transaction."""
    with engine.connect() as conn:
        backend_before = backend_cpu(conn)
        conn.commit()
        cpu_before, wall_before = own_cpu(), time.perf_counter()
        for start in range(0, len(bodies), 8):
            with conn.begin():
                for body in bodies[start : start + 8]:
                    write(conn, body)
        cpu_after, wall_after = own_cpu(), time.perf_counter()
        backend_after = backend_cpu(conn)
        conn.commit()
    n = len(bodies)
    return (
        1000 * (cpu_after - cpu_before) / n,
        1000 * (backend_after - backend_before) / n,
        1000 * (wall_after - wall_before) / n,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=150)
    args = parser.parse_args()
    settings = scratch_settings("storepipe_bench_raw_pages")
    port = free_port()
    emulator, _ = start_emulator(args.pages * 100, port, time.monotonic() + 600)
    try:
        engine = warehouse_engine(settings)
        session = requests.Session()
        session.auth = ("ck_demo", "cs_demo")
        url = f"http://127.0.0.1:{port}/wp-json/wc/v3/orders"
        bodies = [
            session.get(url, params={"per_page": 100, "page": p, "orderby": "id", "order": "asc"}, timeout=60).text
            for p in range(1, args.pages + 1)
        ]
        kb = sum(map(len, bodies)) / len(bodies) / 1024
        variants = (
            ("sql array", sql_array, "MAIN"),
            ("python + COPY", python_copy, "MAIN"),
            ("sql array, STORAGE EXTERNAL", sql_array, "EXTERNAL"),
        )
        rows, base = [], {}
        for name, write, storage in variants:
            with engine.begin() as conn:
                conn.execute(sa.text("TRUNCATE raw.woocommerce_orders"))
                conn.execute(sa.text(f"ALTER TABLE raw.woocommerce_orders ALTER COLUMN payload SET STORAGE {storage}"))
            for phase in ("new rows", "re-import, unchanged"):
                client, backend, wall = measure(engine, write, bodies)
                total = client + backend
                base.setdefault(phase, total)
                rows.append(
                    f"| {name} | {phase} | {client:.2f} | {backend:.2f} | {total:.2f} | {total / base[phase]:.2f}x "
                    f"| {wall:.2f} |"
                )
                print(rows[-1], flush=True)
            with engine.connect() as conn:
                size = conn.execute(sa.text("SELECT pg_total_relation_size('raw.woocommerce_orders')")).scalar_one()
            rows[-1] += f" {size / 2**20:.0f} MB |"
            rows[-2] += " |"
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE raw.woocommerce_orders ALTER COLUMN payload SET STORAGE MAIN"))
    finally:
        emulator.kill()
        drop_scratch(settings)
    append_results(
        "Writing order pages into raw (storepipe.sources.woocommerce.raw)",
        [
            f"`python bench/raw_pages.py --pages {args.pages}` — {args.pages} emulator pages of 100 orders "
            f"({kb:.0f} KB each), 8 pages per transaction; CPU of this process and of its PostgreSQL backend per "
            "page; ratio = (client + backend CPU) against `sql array` in the same phase.",
            "",
            "| path | phase | client CPU ms/page | PostgreSQL CPU ms/page | total CPU ms/page | ratio | wall ms/page "
            "| raw size |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
        ],
    )


if __name__ == "__main__":
    main()
