"""Profit and loss marts of platforms that pay out through statements (TikTok Shop): per order, statement, fee type.

They read core.order_fees, core.settlements and core.statements (docs/tiktok_shop.md "## Profit and loss"):
- order_pnl: one row per order with finance data; the settled figures once a statement paid it, the estimate
  until then; a settled order keeps its estimate and shows difference_vs_estimate = settled - estimated.
  Refreshed for the changed orders (core.order_fees writes note their orders in core.order_changes).
- statement_reconciliation: per statement, its totals against the sum of its transactions, and its orders'
  settled amounts against their estimates. Statements and order-less adjustments are not orders, so no change
  map sees them: the mart (one row a day) is rebuilt on every refresh.
- fee_breakdown: per month and fee type, settled amounts, what the estimates of those orders said, and the
  open estimates. Rebuilt on every refresh for the same reason (months x fee types rows).
Registered only for lanes that pass them to the marts factory (`mart_assets(..., extra_marts=PNL_MARTS,
extra_checks=PNL_CHECKS)`).
"""

from __future__ import annotations

from storepipe.marts.base import Mart
from storepipe.marts.checks import EXAMPLES, MartCheck

# Components of a settlement that are not fees; everything else in core.order_fees is a fee or tax.
_NOT_FEES = "('revenue', 'shipping_cost', 'adjustment')"
_FEE_GROUP = """CASE WHEN f.fee_type IN ('revenue', 'shipping_cost', 'adjustment') THEN f.fee_type ELSE 'fee_tax' END"""

ORDER_PNL = Mart(
    name="order_pnl",
    table="order_pnl",
    description="Per order with finance data: revenue, shipping cost, fees and taxes (each fee type), adjustments "
    "and settlement — settled figures once a statement paid the order, estimated until then — with the tax and "
    "shipping the buyer paid, refunds, the estimate and the settled difference to it.",
    in_scope="t.order_id IN (SELECT order_id FROM changed_orders)",
    insert=f"""
WITH per_state AS (
    SELECT f.order_id, f.state,
           coalesce(sum(f.amount) FILTER (WHERE f.fee_type = 'revenue'), 0) AS revenue,
           coalesce(sum(f.amount) FILTER (WHERE f.fee_type = 'shipping_cost'), 0) AS shipping_cost,
           coalesce(sum(f.amount) FILTER (WHERE f.fee_type NOT IN {_NOT_FEES}), 0) AS fees,
           coalesce(sum(f.amount) FILTER (WHERE f.fee_type = 'adjustment'), 0) AS adjustments,
           sum(f.amount) AS settlement,
           coalesce(jsonb_object_agg(f.fee_type, f.amount) FILTER (WHERE f.fee_type NOT IN ('revenue', 'adjustment')),
                    '{{}}') AS fee_types,
           max(f.statement_id) AS statement_id, max(f.settled_at) AS settled_at
    FROM core.order_fees f /*changed f*/
    WHERE f.shop_key = :shop
    GROUP BY f.order_id, f.state
)
INSERT INTO marts.order_pnl (shop_key, order_id, order_date, status_group, settlement_state, statement_id, settled_at,
    revenue, shipping_cost, fees, adjustments, settlement, fee_types, tax, shipping, refunds, estimated_settlement,
    difference_vs_estimate)
SELECT :shop, s.order_id, o.created_date, o.status_group, s.state, s.statement_id, s.settled_at, s.revenue,
       s.shipping_cost, s.fees, s.adjustments, s.settlement, s.fee_types, coalesce(o.total_tax, 0),
       coalesce(o.shipping_total, 0), coalesce(o.refunded_total, 0), e.settlement,
       CASE WHEN s.state = 'settled' THEN s.settlement - e.settlement END
FROM (SELECT DISTINCT ON (order_id) * FROM per_state ORDER BY order_id, state = 'settled' DESC) s
LEFT JOIN per_state e ON e.order_id = s.order_id AND e.state = 'estimated'
LEFT JOIN core.orders o ON o.shop_key = :shop AND o.order_id = s.order_id
""",
)

STATEMENT_RECONCILIATION = Mart(
    name="statement_reconciliation",
    table="statement_reconciliation",
    description="Per statement: its settlement, revenue, fee and adjustment totals against the sums of its "
    "transactions (difference), its order-less adjustments, and its orders' settled amounts against their "
    "estimates.",
    in_scope="true",
    insert="""
WITH tx AS (
    SELECT statement_id, count(*) AS transactions, count(DISTINCT order_id) AS orders,
           sum(settlement_amount) AS settlement, sum(revenue_amount) AS revenue, sum(fee_amount) AS fee,
           sum(adjustment_amount) AS adjustment,
           coalesce(sum(settlement_amount) FILTER (WHERE order_id IS NULL), 0) AS order_less
    FROM core.settlements WHERE shop_key = :shop GROUP BY statement_id
), estimated AS (
    SELECT statement_id, count(*) AS orders, sum(estimated_settlement) AS estimate,
           sum(difference_vs_estimate) AS difference
    FROM marts.order_pnl
    WHERE shop_key = :shop AND settlement_state = 'settled' AND estimated_settlement IS NOT NULL
    GROUP BY statement_id
)
INSERT INTO marts.statement_reconciliation (shop_key, statement_id, statement_time, statement_date, payment_status,
    settlement_amount, revenue_amount, fee_amount, adjustment_amount, transactions, orders, transactions_settlement,
    transactions_revenue, transactions_fee, transactions_adjustment, order_less_adjustments, difference,
    estimated_orders, estimated_settlement, settled_vs_estimate)
SELECT :shop, st.statement_id, st.statement_time, st.statement_date, st.payment_status, st.settlement_amount,
       st.revenue_amount, st.fee_amount, st.adjustment_amount, coalesce(tx.transactions, 0), coalesce(tx.orders, 0),
       coalesce(tx.settlement, 0), coalesce(tx.revenue, 0), coalesce(tx.fee, 0), coalesce(tx.adjustment, 0),
       coalesce(tx.order_less, 0), st.settlement_amount - coalesce(tx.settlement, 0), coalesce(e.orders, 0),
       coalesce(e.estimate, 0), coalesce(e.difference, 0)
FROM core.statements st
LEFT JOIN tx ON tx.statement_id = st.statement_id
LEFT JOIN estimated e ON e.statement_id = st.statement_id
WHERE st.shop_key = :shop
""",
)

FEE_BREAKDOWN = Mart(
    name="fee_breakdown",
    table="fee_breakdown",
    description="Per month (the order's shop-local month; the statement's for order-less adjustments) and fee "
    "type: settled amounts and orders, what the estimates of those orders said, and the open estimates.",
    in_scope="true",
    insert=f"""
WITH components AS (
    -- Whether the order settled, by a window over its rows (a join to the settled orders was planned as a
    -- nested loop over a misestimated set: 20 s at 30K orders).
    SELECT date_trunc('month', coalesce(o.created_date, (f.settled_at AT TIME ZONE :tz)::date))::date AS month,
           f.fee_type, {_FEE_GROUP} AS fee_group, f.state, f.amount,
           bool_or(f.state = 'settled') OVER (PARTITION BY f.order_id) AS order_settled
    FROM core.order_fees f
    LEFT JOIN core.orders o ON o.shop_key = f.shop_key AND o.order_id = f.order_id
    WHERE f.shop_key = :shop
    UNION ALL
    SELECT date_trunc('month', st.statement_date)::date, lower(coalesce(t.type, 'adjustment')), 'adjustment',
           'settled', t.settlement_amount, true
    FROM core.settlements t
    JOIN core.statements st ON st.shop_key = t.shop_key AND st.statement_id = t.statement_id
    WHERE t.shop_key = :shop AND t.order_id IS NULL
)
INSERT INTO marts.fee_breakdown (shop_key, month, fee_type, fee_group, settled_amount, settled_orders,
                                 estimate_of_settled, open_estimate, open_orders)
SELECT :shop, month, fee_type, min(fee_group),
       coalesce(sum(amount) FILTER (WHERE state = 'settled'), 0), count(*) FILTER (WHERE state = 'settled'),
       coalesce(sum(amount) FILTER (WHERE state = 'estimated' AND order_settled), 0),
       coalesce(sum(amount) FILTER (WHERE state = 'estimated' AND NOT order_settled), 0),
       count(*) FILTER (WHERE state = 'estimated' AND NOT order_settled)
FROM components WHERE month IS NOT NULL
GROUP BY month, fee_type
""",
)

# In dependency order: statement_reconciliation reads order_pnl.
PNL_MARTS: tuple[Mart, ...] = (ORDER_PNL, STATEMENT_RECONCILIATION, FEE_BREAKDOWN)

_SETTLED_BY_ORDER = """
    SELECT order_id, sum(settlement_amount) AS settlement, sum(revenue_amount) AS revenue, sum(fee_amount) AS fee,
           sum(adjustment_amount) AS adjustment
    FROM core.settlements WHERE shop_key = :shop AND order_id IS NOT NULL GROUP BY order_id
"""


def _verdict(checked: str, source: str, bad: str) -> str:
    """The last SELECT of a check over CTE `bad` (one row per wrong key): passed, and how many of what were wrong."""
    return f"""SELECT count(*) = 0, jsonb_build_object('{checked}', (SELECT count(*) FROM {source}), '{bad}', count(*),
                                              'examples', {EXAMPLES})
        FROM bad"""


PNL_CHECKS: tuple[MartCheck, ...] = (
    MartCheck(
        "statement_totals_match_transactions",
        "statement_reconciliation",
        "Every statement's settlement, revenue, fee and adjustment totals equal the sums of its transactions, to "
        "the cent, every transaction belongs to a known statement, and the mart shows no difference.",
        f"""
        WITH tx AS (
            SELECT statement_id, sum(settlement_amount) AS settlement, sum(revenue_amount) AS revenue,
                   sum(fee_amount) AS fee, sum(adjustment_amount) AS adjustment
            FROM core.settlements WHERE shop_key = :shop GROUP BY statement_id
        ), st AS (SELECT * FROM core.statements WHERE shop_key = :shop),
        bad AS (
            SELECT coalesce(st.statement_id, tx.statement_id) AS key FROM st FULL JOIN tx USING (statement_id)
            WHERE st.statement_id IS NULL
               OR (st.settlement_amount, st.revenue_amount, st.fee_amount, st.adjustment_amount)
                  IS DISTINCT FROM (coalesce(tx.settlement, 0), coalesce(tx.revenue, 0), coalesce(tx.fee, 0),
                                    coalesce(tx.adjustment, 0))
            UNION
            SELECT statement_id FROM marts.statement_reconciliation WHERE shop_key = :shop AND difference <> 0
        )
        {_verdict("statements", "st", "bad_statements")}
        """,
    ),
    MartCheck(
        "settled_orders_reconcile",
        "order_pnl",
        "Every order with statement transactions is settled in the P&L, and its revenue, fees (shipping included), "
        "adjustments and settlement equal the sums of its transactions, to the cent; the components add up.",
        f"""
        WITH tx AS ({_SETTLED_BY_ORDER}),
        pnl AS (SELECT * FROM marts.order_pnl WHERE shop_key = :shop AND settlement_state = 'settled'),
        bad AS (
            SELECT coalesce(p.order_id, tx.order_id) AS key FROM pnl p FULL JOIN tx USING (order_id)
            WHERE (p.revenue, p.shipping_cost + p.fees, p.adjustments, p.settlement)
                  IS DISTINCT FROM (tx.revenue, tx.fee, tx.adjustment, tx.settlement)
               OR p.revenue + p.shipping_cost + p.fees + p.adjustments <> p.settlement
        )
        {_verdict("settled_orders", "pnl", "bad_orders")}
        """,
    ),
    MartCheck(
        "fee_breakdown_matches_statements",
        "fee_breakdown",
        "The settled amounts of the fee breakdown add up to the statements' settlements, to the cent.",
        """
        WITH f AS (SELECT coalesce(sum(settled_amount), 0) AS settled FROM marts.fee_breakdown WHERE shop_key = :shop),
        s AS (SELECT coalesce(sum(settlement_amount), 0) AS settled FROM core.statements WHERE shop_key = :shop)
        SELECT f.settled = s.settled, jsonb_build_object('fee_breakdown', f.settled, 'statements', s.settled)
        FROM f, s
        """,
    ),
)
