"""Benchmark the marts: a full build over a large shop in core, then an incremental refresh after 1 % of orders change.

The shop is generated in core with set-based SQL (deterministic, setseed): by default 1,000,000 orders over
three years, 200,000 registered customers, 500 products (a third with 3 variations), ~2.5 lines per order,
5 % of orders refunded (half of them partially, by line), 10 % with a coupon, 70 % with attribution,
14,000 subscriptions. Then, in one run:
  1. refresh_shop(full=True): wall seconds per step, peak RSS of this process and of the PostgreSQL backend;
  2. 1 % of the orders, at random over the history, change (status flips, new refunds, re-keyed customers)
     through plain UPDATE/INSERT on core, as a model run would; the incremental refresh is timed;
  3. a full rebuild afterwards must give the same row counts and sums (printed).
Targets (issue 5): all marts <= 60 s; after 1 % of orders change <= 10 s; peak RSS <= 1 GB.
    python bench/marts.py [--orders 1000000]
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from pathlib import Path

import psutil
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))

from _common import append_results, peak_rss_mb, scratch_settings

SHOP = "bench"

GENERATE = """
SELECT setseed(0.42);
INSERT INTO ops.shops (shop_key, platform, display_name, base_url, timezone, currency, credentials_env)
VALUES ('bench', 'woocommerce', 'bench', 'http://127.0.0.1:9', 'Europe/Berlin', 'EUR', '{{}}');
INSERT INTO core.products (shop_key, product_key, product_id, name, price, in_catalog)
SELECT 'bench', p::text, p::text, 'Product ' || p, round((5 + random() * 95)::numeric, 2), true
FROM generate_series(1, 500) p;
INSERT INTO core.variations (shop_key, variation_key, product_key, variation_id, in_catalog)
SELECT 'bench', (p * 1000 + v)::text, p::text, (p * 1000 + v)::text, true
FROM generate_series(1, 500, 3) p, generate_series(1, 3) v;
INSERT INTO core.customers (shop_key, customer_key, customer_id, email, registered)
SELECT 'bench', 'id:' || c, c::text, 'c' || c || '@example.com', true FROM generate_series(1, {customers}) c;
INSERT INTO core.orders (shop_key, order_id, platform, status, status_group, currency, customer_key, customer_id,
    email, created_at, created_date, paid_at, paid_date, subtotal, discount_total, discount_tax, shipping_total,
    shipping_tax, fee_total, fee_tax, cart_tax, total_tax, total, item_count)
SELECT 'bench', o::text, 'woocommerce', s.status, s.grp, 'EUR', 'id:' || c, c::text, 'c' || c || '@example.com',
       t, (t AT TIME ZONE 'Europe/Berlin')::date,
       CASE WHEN s.grp IN ('paid', 'refunded') THEN t END,
       CASE WHEN s.grp IN ('paid', 'refunded') THEN (t AT TIME ZONE 'Europe/Berlin')::date END,
       0, 0, 0, ship, 0, 0, 0, 0, 0, 0, 0
FROM (
    SELECT o, 1 + floor(power(random(), 1.6) * {customers})::int AS c,
           timestamptz '2023-11-01 00:00+00' + random() * interval '1095 days' AS t,
           random() AS r, CASE WHEN random() < 0.6 THEN 4.90 ELSE 0 END AS ship
    FROM generate_series(1, {orders}) o
) x
CROSS JOIN LATERAL (
    SELECT CASE WHEN x.r < 0.86 THEN 'completed' WHEN x.r < 0.90 THEN 'processing' WHEN x.r < 0.94 THEN 'cancelled'
                WHEN x.r < 0.97 THEN 'failed' WHEN x.r < 0.99 THEN 'pending' ELSE 'refunded' END AS status,
           CASE WHEN x.r < 0.90 THEN 'paid' WHEN x.r < 0.94 THEN 'cancelled' WHEN x.r < 0.97 THEN 'failed'
                WHEN x.r < 0.99 THEN 'pending' ELSE 'refunded' END AS grp
) s;
INSERT INTO core.order_lines (shop_key, order_id, line_id, product_key, variation_key, name, quantity, subtotal,
                              subtotal_tax, total, total_tax)
SELECT 'bench', o.order_id, (o.order_id::bigint * 10 + n)::text, p.product_key,
       CASE WHEN p.product_id::int % 3 = 1 THEN (p.product_id::int * 1000 + 1 + n % 3)::text END, p.name, q,
       p.price * q, round(p.price * q * 0.19, 2),
       CASE WHEN cpn THEN round(p.price * q * 0.9, 2) ELSE p.price * q END,
       round(CASE WHEN cpn THEN round(p.price * q * 0.9, 2) ELSE p.price * q END * 0.19, 2)
FROM (SELECT order_id, hashint4(order_id::int) AS h, hashint4(order_id::int) % 10 = 0 AS cpn
      FROM core.orders WHERE shop_key = 'bench') o
CROSS JOIN LATERAL generate_series(1, 1 + abs(o.h) % 4) n
JOIN core.products p ON p.shop_key = 'bench' AND p.product_key = (1 + abs(hashint4(o.h + n)) % 500)::text
CROSS JOIN LATERAL (SELECT 1 + abs(hashint4(o.h - n)) % 3 AS q) qq;
UPDATE core.orders o SET subtotal = l.sub, discount_total = l.sub - l.tot, total_tax = l.tax, cart_tax = l.tax,
       item_count = l.qty, total = l.tot + l.tax + o.shipping_total
FROM (SELECT order_id, sum(subtotal) sub, sum(total) tot, sum(total_tax) tax, sum(quantity) qty
      FROM core.order_lines WHERE shop_key = 'bench' GROUP BY order_id) l
WHERE o.shop_key = 'bench' AND o.order_id = l.order_id;
INSERT INTO core.coupon_redemptions (shop_key, order_id, coupon_key, discount, discount_tax)
SELECT 'bench', order_id, 'code' || (abs(hashint4(order_id::int)) % 50), discount_total, 0
FROM core.orders WHERE shop_key = 'bench' AND discount_total > 0;
INSERT INTO core.coupons (shop_key, coupon_key, code, in_catalog)
SELECT 'bench', 'code' || c, 'CODE' || c, true FROM generate_series(0, 49) c;
INSERT INTO core.order_attribution (shop_key, order_id, source_type, referrer, utm_source, utm_medium, device_type)
SELECT 'bench', order_id, (ARRAY['organic', 'utm', 'referral', 'typein', 'admin'])[1 + abs(h) % 5],
       CASE WHEN abs(h) % 5 = 2 THEN 'https://site' || (abs(h) % 40) || '.example/' END,
       CASE WHEN abs(h) % 5 = 1 THEN (ARRAY['google', 'facebook', 'newsletter', 'tiktok'])[1 + abs(h) % 4] END,
       CASE WHEN abs(h) % 5 = 1 THEN (ARRAY['cpc', 'social', 'email'])[1 + abs(h) % 3] END,
       (ARRAY['Desktop', 'Mobile', 'Tablet'])[1 + abs(h) % 3]
FROM (SELECT order_id, hashint4(order_id::int + 7) AS h FROM core.orders WHERE shop_key = 'bench') o
WHERE abs(h) % 10 < 7;
INSERT INTO core.refunds (shop_key, refund_id, order_id, created_at, created_date, amount)
SELECT 'bench', 'r' || order_id, order_id, created_at + interval '9 days',
       ((created_at + interval '9 days') AT TIME ZONE 'Europe/Berlin')::date,
       CASE WHEN status_group = 'refunded' THEN total ELSE round(total / 3, 2) END
FROM core.orders WHERE shop_key = 'bench' AND (status_group = 'refunded' OR (status_group = 'paid'
                                                AND abs(hashint4(order_id::int + 3)) % 100 < 4));
INSERT INTO core.refund_lines (shop_key, refund_id, line_id, order_id, order_line_id, product_key, quantity, amount,
                               tax)
SELECT 'bench', r.refund_id, 'rl' || l.line_id, l.order_id, l.line_id, l.product_key, 1, round(l.total / l.quantity, 2),
       0
FROM core.refunds r JOIN core.order_lines l ON l.shop_key = r.shop_key AND l.order_id = r.order_id
WHERE r.shop_key = 'bench' AND r.refund_id LIKE 'r%' AND l.line_id LIKE '%1' AND abs(hashint4(r.order_id::int)) % 2 = 0
  AND r.amount >= round(l.total / l.quantity, 2);
UPDATE core.orders o SET refunded_total = r.amount FROM core.refunds r
WHERE o.shop_key = 'bench' AND r.shop_key = 'bench' AND r.order_id = o.order_id;
INSERT INTO core.subscriptions (shop_key, subscription_id, customer_key, status, billing_period, billing_interval,
                                recurring_total, created_at, start_at, cancelled_at, end_at)
SELECT 'bench', s::text, 'id:' || (1 + s * 13 % {customers}),
       CASE WHEN s % 5 = 0 THEN 'cancelled' WHEN s % 11 = 0 THEN 'on-hold' ELSE 'active' END,
       (ARRAY['month', 'year', 'week'])[1 + s % 3], 1 + s % 2, round((5 + s % 40)::numeric, 2), t, t,
       CASE WHEN s % 5 = 0 THEN t + interval '120 days' END, CASE WHEN s % 5 = 0 THEN t + interval '120 days' END
FROM (SELECT s, timestamptz '2023-11-01 00:00+00' + (s % 1000) * interval '1 day' AS t
      FROM generate_series(1, {subscriptions}) s) x;
ANALYZE;
"""

# 1 % of the orders change the way a sync changes them: a status flip, a new partial refund, a customer re-keyed.
CHANGE = """
SELECT setseed(0.7);
CREATE TEMP TABLE picked AS
SELECT order_id, row_number() OVER () AS n FROM ({pick}) x;
UPDATE core.orders o SET status = 'cancelled', status_group = 'cancelled', modified_at = now()
FROM picked p WHERE o.shop_key = 'bench' AND o.order_id = p.order_id AND p.n % 3 = 0;
INSERT INTO core.refunds (shop_key, refund_id, order_id, created_at, created_date, amount)
SELECT 'bench', 'x' || o.order_id, o.order_id, o.created_at + interval '20 days',
       ((o.created_at + interval '20 days') AT TIME ZONE 'Europe/Berlin')::date, 1.00
FROM core.orders o JOIN picked p ON p.order_id = o.order_id AND p.n % 3 = 1
WHERE o.shop_key = 'bench' ON CONFLICT DO NOTHING;
UPDATE core.orders o SET customer_key = 'id:' || (1 + (p.n * 7919) % {customers}), modified_at = now()
FROM picked p WHERE o.shop_key = 'bench' AND o.order_id = p.order_id AND p.n % 3 = 2;
DROP TABLE picked;
"""
# Which 1 %: spread at random over the three years (every day, source, coupon and cohort is touched: the
# worst case), or the newest orders (what a twice-daily sync with a 72 h lookback actually changes).
PICK = {
    "random over the history": "SELECT order_id FROM core.orders WHERE shop_key = 'bench' AND random() < 0.01",
    "the newest orders": "SELECT order_id FROM core.orders WHERE shop_key = 'bench' "
    "ORDER BY created_at DESC LIMIT {limit}",
}

SUMS = """
SELECT (SELECT count(*) FROM marts.order_facts WHERE counted), (SELECT sum(net_sales) FROM marts.daily_summary),
       (SELECT count(*) FROM marts.customer_metrics), (SELECT sum(net_sales) FROM marts.product_sales),
       (SELECT count(*) FROM marts.cohorts), (SELECT sum(new_customers) FROM marts.source_attribution)
"""


class BackendPeak:
    """Samples the RSS of one PostgreSQL backend process (the refresh's connection) every 50 ms."""

    def __init__(self, pid: int) -> None:
        self.process, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.05)

    def __enter__(self) -> BackendPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--statements", action="store_true", help="log every statement's seconds")
    args = parser.parse_args()
    if args.statements:
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        logging.getLogger("storepipe.marts.refresh").setLevel(logging.DEBUG)
    customers, subscriptions = args.orders // 5, max(10, args.orders * 14 // 1000)

    from storepipe.marts.checks import run_checks
    from storepipe.marts.refresh import refresh_shop
    from storepipe.shops import get_shop
    from storepipe.warehouse.engine import warehouse_engine

    settings = scratch_settings("storepipe_bench_marts")
    # One connection in the pool: the sampled backend is the one that runs the refresh.
    engine = warehouse_engine(settings)
    engine = sa.create_engine(engine.url, pool_size=1, max_overflow=0)
    started = time.perf_counter()
    with engine.begin() as conn:
        for statement in GENERATE.format(orders=args.orders, customers=customers, subscriptions=subscriptions).split(
            ";\n"
        ):
            if statement.strip():
                conn.execute(sa.text(statement))
    generated = time.perf_counter() - started
    with engine.connect() as conn:
        lines = conn.execute(sa.text("SELECT count(*) FROM core.order_lines")).scalar_one()
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    print(f"generated {args.orders:,} orders, {lines:,} lines in {generated:.0f} s", flush=True)
    shop = get_shop(engine, SHOP)

    with BackendPeak(pid) as backend:
        t0 = time.perf_counter()
        full = refresh_shop(engine, shop, full=True)
        full_s = time.perf_counter() - t0
    print(f"full: {full_s:.1f} s { ({k: round(v, 1) for k, v in full.seconds.items()}) }", flush=True)
    failed = [o.check.name for o in run_checks(engine, SHOP) if not o.passed]

    incremental_rows = []
    for label, pick in PICK.items():
        with engine.begin() as conn:
            sql = CHANGE.format(pick=pick.format(limit=args.orders // 100), customers=customers)
            for statement in sql.split(";\n"):
                if statement.strip():
                    conn.execute(sa.text(statement))
        with BackendPeak(pid) as backend_inc:
            t0 = time.perf_counter()
            incremental = refresh_shop(engine, shop)
            inc_s = time.perf_counter() - t0
        print(f"incremental ({label}): {inc_s:.1f} s { ({k: round(v, 2) for k, v in incremental.seconds.items()}) }")
        failed += [o.check.name for o in run_checks(engine, SHOP) if not o.passed]
        steps = ", ".join(f"{k} {v:.2f}" for k, v in sorted(incremental.seconds.items(), key=lambda kv: -kv[1])[:4])
        incremental_rows.append(
            f"| incremental, 1 % changed: {label} | {incremental.changed_orders:,} | {inc_s:.1f} | <= 10 "
            f"| {peak_rss_mb():.0f} | {backend_inc.peak / 2**20:.0f} | {steps} |"
        )
    with engine.connect() as conn:
        after_incremental = tuple(conn.execute(sa.text(SUMS)).one())
    refresh_shop(engine, shop, full=True)
    with engine.connect() as conn:
        after_rebuild = tuple(conn.execute(sa.text(SUMS)).one())
    same = after_incremental == after_rebuild
    print(f"incremental sums {after_incremental} == rebuild {after_rebuild}: {same}; failed checks: {failed}")

    steps = ", ".join(f"{k} {v:.1f}" for k, v in sorted(full.seconds.items(), key=lambda kv: -kv[1])[:4])
    append_results(
        "Marts (refresh_shop over core, one transaction)",
        [
            f"`python bench/marts.py --orders {args.orders}` — generated shop: {args.orders:,} orders, {lines:,} "
            f"lines, {customers:,} customers, {subscriptions:,} subscriptions; RSS = this process and the "
            "PostgreSQL backend that ran the refresh (sampled every 50 ms).",
            "",
            "| refresh | orders re-derived | seconds | target | peak RSS python MB | peak RSS backend MB "
            "| slowest steps (s) |",
            "|---|---|---|---|---|---|---|",
            f"| full build | {full.changed_orders:,} | {full_s:.1f} | <= 60 | {peak_rss_mb():.0f} "
            f"| {backend.peak / 2**20:.0f} | {steps} |",
            *incremental_rows,
            "",
            f"Incremental equals a rebuild (counts and sums of every mart): {'yes' if same else 'NO'}; "
            f"checks failed: {', '.join(failed) or 'none'}.",
        ],
    )


if __name__ == "__main__":
    main()
