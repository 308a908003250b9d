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

COHORTS = Mart(
    name="cohorts",
    table="cohorts",
    description="Customers by month and week of their first counted order (shop-local): cohort size, retention "
    "by 0-indexed period, orders, net sales, cumulative net sales per customer (LTV), AOV, orders per customer.",
    in_scope="(t.grain, t.cohort_start) IN (SELECT grain, cohort_start FROM dirty_cohorts)",
    before=(*_EXTEND, "ANALYZE dirty_cohorts"),
    insert=_INSERT,
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
