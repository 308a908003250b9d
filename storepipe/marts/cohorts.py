"""cohorts: customers grouped by the month and the week of their first counted order, followed period by period.

Long format, one row per (grain, cohort_start, period) with period 0-indexed; `cohort_matrix` pivots it
into the familiar triangle with pandas (the frame is small: cohorts × periods).
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from storepipe.marts.base import Mart

# Periods run from 0 to the period of the shop's latest counted order, so every cohort's row for the
# latest period exists (zero when nobody ordered) and cumulative figures carry forward. When the latest
# order enters a new period, every cohort of that grain gains a row: mark them all.
_PERIOD = {
    "month": "(extract(year FROM {d}) * 12 + extract(month FROM {d}))::int"
    " - (extract(year FROM {s}) * 12 + extract(month FROM {s}))::int",
    "week": "((date_trunc('week', {d})::date - {s}) / 7)",
}
_LAST_DATE = "(SELECT max(order_date) FROM marts.order_facts WHERE shop_key = :shop AND counted)"


def _period(grain: str, day: str, start: str) -> str:
    return _PERIOD[grain].format(d=day, s=start)


_EXTEND = tuple(
    f"""
INSERT INTO dirty_cohorts
SELECT '{grain}', c.cohort_start FROM marts.cohorts c
WHERE c.shop_key = :shop AND c.grain = '{grain}'
GROUP BY c.cohort_start
HAVING max(c.period) IS DISTINCT FROM {_period(grain, _LAST_DATE, "c.cohort_start")}
"""
    for grain in ("month", "week")
)

# Both grains in one statement: the join of members with their orders (the expensive part) is done once.
_INSERT = f"""
WITH members AS (
    SELECT m.customer_key, m.cohort_month, m.cohort_week FROM marts.customer_metrics m
    WHERE m.shop_key = :shop
      AND (('month', m.cohort_month) IN (SELECT grain, cohort_start FROM dirty_cohorts)
           OR ('week', m.cohort_week) IN (SELECT grain, cohort_start FROM dirty_cohorts))
), orders AS (
    SELECT mb.customer_key, mb.cohort_month, mb.cohort_week, f.order_date, f.net_sales
    FROM members mb
    JOIN marts.order_facts f ON f.shop_key = :shop AND f.customer_key = mb.customer_key AND f.counted
), activity AS (
    -- One row per customer and period first, so active customers are a count, not a sorted DISTINCT.
    SELECT grain, cohort_start, period, count(*) AS active, sum(orders) AS orders, sum(net_sales) AS net_sales
    FROM (
        SELECT 'month' AS grain, cohort_month AS cohort_start,
               {_period("month", "order_date", "cohort_month")} AS period, customer_key, count(*) AS orders,
               sum(net_sales) AS net_sales
        FROM orders WHERE ('month', cohort_month) IN (SELECT grain, cohort_start FROM dirty_cohorts)
        GROUP BY 2, 3, 4
        UNION ALL
        SELECT 'week', cohort_week, {_period("week", "order_date", "cohort_week")}, customer_key, count(*),
               sum(net_sales)
        FROM orders WHERE ('week', cohort_week) IN (SELECT grain, cohort_start FROM dirty_cohorts)
        GROUP BY 2, 3, 4
    ) per_customer
    GROUP BY 1, 2, 3
), sizes AS (
    SELECT 'month' AS grain, cohort_month AS cohort_start, count(*) AS cohort_size FROM members GROUP BY 2
    UNION ALL
    SELECT 'week', cohort_week, count(*) FROM members GROUP BY 2
), grid AS (
    SELECT s.grain, s.cohort_start, s.cohort_size, g.period
    FROM sizes s, generate_series(0, CASE s.grain WHEN 'month' THEN {_period("month", _LAST_DATE, "s.cohort_start")}
                                                  ELSE {_period("week", _LAST_DATE, "s.cohort_start")} END) g(period)
    WHERE (s.grain, s.cohort_start) IN (SELECT grain, cohort_start FROM dirty_cohorts)
), filled AS (
    SELECT g.grain, g.cohort_start, g.period, g.cohort_size, coalesce(a.active, 0) AS active,
           coalesce(a.orders, 0) AS orders, coalesce(a.net_sales, 0) AS net_sales,
           sum(coalesce(a.net_sales, 0)) OVER w AS cumulative_net,
           sum(coalesce(a.orders, 0)) OVER w AS cumulative_orders
    FROM grid g
    LEFT JOIN activity a ON a.grain = g.grain AND a.cohort_start = g.cohort_start AND a.period = g.period
    WINDOW w AS (PARTITION BY g.grain, g.cohort_start ORDER BY g.period)
)
INSERT INTO marts.cohorts (shop_key, grain, cohort_start, period, cohort_size, active_customers, retention, orders,
                           net_sales, cumulative_net_sales, ltv, aov, cumulative_orders_per_customer)
SELECT :shop, grain, cohort_start, period, cohort_size, active, round(active::numeric / cohort_size, 4), orders,
       net_sales, cumulative_net, round(cumulative_net / cohort_size, 2),
       CASE WHEN orders > 0 THEN round(net_sales / orders, 2) END, round(cumulative_orders / cohort_size, 4)
FROM filled
"""


def _contributions(grain: str) -> str:
    """Per cohort cell, what the dirty customers add now (+1) and added before (−1): active, orders, net."""
    column = f"cohort_{grain}"
    return f"""
    SELECT '{grain}' AS grain, {column} AS cohort_start, {_period(grain, "order_date", column)} AS period,
           sign * count(DISTINCT customer_key) AS active, sign * count(*) AS orders, sign * sum(net_sales) AS net
    FROM signed GROUP BY {column}, 3, sign"""


# An incremental refresh after scattered changes touches every cohort, but only the dirty customers' share
# of each cell changes: add their contribution now and subtract the one they had (their old cohort, their
# orders before the change: unchanged orders plus the old versions of the changed ones). Then re-count
# sizes, zero-fill periods, and recompute the derived columns of the touched cohorts only.
_APPLY_DELTA = f"""
WITH signed AS (
    SELECT 1 AS sign, m.customer_key, m.cohort_month, m.cohort_week, f.order_date, f.net_sales
    FROM marts.customer_metrics m
    JOIN marts.order_facts f ON f.shop_key = :shop AND f.customer_key = m.customer_key AND f.counted
    WHERE m.shop_key = :shop AND m.customer_key IN (SELECT customer_key FROM dirty_customers)
    UNION ALL
    SELECT -1, om.customer_key, om.cohort_month, om.cohort_week, o.order_date, o.net_sales
    FROM old_members om
    JOIN (
        SELECT f.customer_key, f.order_date, f.net_sales FROM marts.order_facts f
        WHERE f.shop_key = :shop AND f.counted AND f.customer_key IN (SELECT customer_key FROM old_members)
          AND f.order_id NOT IN (SELECT order_id FROM changed_orders)
        UNION ALL
        SELECT customer_key, order_date, net_sales FROM old_facts
    ) o ON o.customer_key = om.customer_key
), delta AS (
    SELECT grain, cohort_start, period, sum(active) AS active, sum(orders) AS orders, sum(net) AS net
    FROM ({_contributions("month")} UNION ALL {_contributions("week")}) c
    GROUP BY 1, 2, 3
)
INSERT INTO marts.cohorts AS t (shop_key, grain, cohort_start, period, cohort_size, active_customers, retention,
                                orders, net_sales, cumulative_net_sales, ltv, cumulative_orders_per_customer)
SELECT :shop, grain, cohort_start, period, 0, active, 0, orders, net, 0, 0, 0 FROM delta
ON CONFLICT (shop_key, grain, cohort_start, period) DO UPDATE SET
    active_customers = t.active_customers + EXCLUDED.active_customers, orders = t.orders + EXCLUDED.orders,
    net_sales = t.net_sales + EXCLUDED.net_sales
"""

# Sizes, the period grid (0 .. the period of the shop's latest counted order) and the derived columns of
# the touched cohorts, with the same formulas as _INSERT.
_SIZES = """
CREATE TEMP TABLE cohort_sizes ON COMMIT DROP AS
SELECT d.grain, d.cohort_start, coalesce(n.cohort_size, 0) AS cohort_size
FROM (SELECT DISTINCT grain, cohort_start FROM dirty_cohorts) d
LEFT JOIN (
    SELECT 'month' AS grain, cohort_month AS cohort_start, count(*) AS cohort_size FROM marts.customer_metrics
    WHERE shop_key = :shop GROUP BY cohort_month
    UNION ALL
    SELECT 'week', cohort_week, count(*) FROM marts.customer_metrics WHERE shop_key = :shop GROUP BY cohort_week
) n ON n.grain = d.grain AND n.cohort_start = d.cohort_start
"""
_DROP_EMPTY = """
DELETE FROM marts.cohorts t USING cohort_sizes s
WHERE t.shop_key = :shop AND t.grain = s.grain AND t.cohort_start = s.cohort_start
  AND (s.cohort_size = 0 OR t.period > CASE s.grain WHEN 'month' THEN {month} ELSE {week} END)
""".format(
    month=_period("month", _LAST_DATE, "s.cohort_start"), week=_period("week", _LAST_DATE, "s.cohort_start")
)
_FILL = f"""
INSERT INTO marts.cohorts (shop_key, grain, cohort_start, period, cohort_size, active_customers, retention, orders,
                           net_sales, cumulative_net_sales, ltv, cumulative_orders_per_customer)
SELECT :shop, s.grain, s.cohort_start, g.period, 0, 0, 0, 0, 0, 0, 0, 0
FROM cohort_sizes s,
     generate_series(0, CASE s.grain WHEN 'month' THEN {_period("month", _LAST_DATE, "s.cohort_start")}
                                     ELSE {_period("week", _LAST_DATE, "s.cohort_start")} END) g(period)
WHERE s.cohort_size > 0
ON CONFLICT DO NOTHING
"""
_DERIVE = """
UPDATE marts.cohorts t SET
    cohort_size = x.cohort_size, retention = round(t.active_customers::numeric / x.cohort_size, 4),
    cumulative_net_sales = x.cumulative_net, ltv = round(x.cumulative_net / x.cohort_size, 2),
    aov = CASE WHEN t.orders > 0 THEN round(t.net_sales / t.orders, 2) END,
    cumulative_orders_per_customer = round(x.cumulative_orders::numeric / x.cohort_size, 4)
FROM (
    SELECT c.grain, c.cohort_start, c.period, s.cohort_size,
           sum(c.net_sales) OVER w AS cumulative_net, sum(c.orders) OVER w AS cumulative_orders
    FROM marts.cohorts c JOIN cohort_sizes s ON s.grain = c.grain AND s.cohort_start = c.cohort_start
    WHERE c.shop_key = :shop AND s.cohort_size > 0
    WINDOW w AS (PARTITION BY c.grain, c.cohort_start ORDER BY c.period)
) x
WHERE t.shop_key = :shop AND t.grain = x.grain AND t.cohort_start = x.cohort_start AND t.period = x.period
"""

COHORTS = Mart(
    name="cohorts",
    table="cohorts",
    description="Customers by month and week of their first counted order (shop-local): cohort size, retention "
    "by 0-indexed period, orders, net sales, cumulative net sales per customer (LTV), AOV, orders per customer.",
    in_scope="(t.grain, t.cohort_start) IN (SELECT grain, cohort_start FROM dirty_cohorts)",
    before=(*_EXTEND, "ANALYZE dirty_cohorts"),
    insert=_INSERT,
    incremental=(_APPLY_DELTA, _SIZES, _DROP_EMPTY, _FILL, _DERIVE),
)


def cohort_matrix(engine: sa.Engine, shop_key: str, *, grain: str = "month", value: str = "retention") -> pd.DataFrame:
    """The cohort triangle: one row per cohort (with its size), one column per period, `value` in the cells."""
    if value not in {"retention", "ltv", "active_customers", "net_sales", "cumulative_orders_per_customer", "aov"}:
        raise ValueError(f"unknown cohort value {value!r}")
    frame = pd.read_sql_query(
        sa.text(
            f"SELECT cohort_start, cohort_size, period, {value} AS value FROM marts.cohorts "
            "WHERE shop_key = :shop AND grain = :grain ORDER BY cohort_start, period"
        ),
        engine,
        params={"shop": shop_key, "grain": grain},
    )
    if frame.empty:
        return frame
    # Younger cohorts have fewer periods: their cells beyond today stay empty (NaN), not zero.
    return frame.pivot(index=["cohort_start", "cohort_size"], columns="period", values="value")
