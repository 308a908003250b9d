"""Checks that the ledger, spend and tiers agree with each other and with the synced orders, to the cent.

Each check is one SQL query returning (passed, details as JSON), attached to one loyalty asset, as the
marts' checks are (storepipe.marts.checks). `ledger_matches_orders` only warns: a difference there is
what reconcile_ledger exists to correct (an order edited or no longer paid after it earned).
"""

from __future__ import annotations

import json
from datetime import date

import sqlalchemy as sa

from storepipe.loyalty import sql
from storepipe.loyalty.program import get_program
from storepipe.loyalty.sync import params
from storepipe.marts.checks import CheckOutcome, MartCheck
from storepipe.shops import Shop

# Up to ten keys of the rows a check found wrong (CTE `bad` with a column `key`).
_EXAMPLES = "(SELECT coalesce(jsonb_agg(key), '[]') FROM (SELECT key FROM bad LIMIT 10) e)"

CHECKS: tuple[MartCheck, ...] = (
    MartCheck(
        "balance_is_sum_of_entries",
        "cashback_ledger",
        "Every customer's balance is the sum of their ledger entries, and every customer with entries has one.",
        f"""
        WITH sums AS (SELECT customer_key, sum(amount) AS amount, count(*) AS entries FROM loyalty.cashback_ledger
                      WHERE shop_key = :shop GROUP BY customer_key),
        b AS (SELECT customer_key, balance, entries FROM loyalty.balances WHERE shop_key = :shop),
        bad AS (SELECT coalesce(s.customer_key, b.customer_key) AS key FROM sums s FULL JOIN b USING (customer_key)
                WHERE (s.amount, s.entries) IS DISTINCT FROM (b.balance, b.entries))
        SELECT (SELECT count(*) FROM bad) = 0,
               jsonb_build_object('customers', (SELECT count(*) FROM b), 'wrong_balances', (SELECT count(*) FROM bad),
                                  'total_balance', (SELECT coalesce(sum(balance), 0) FROM b), 'examples', {_EXAMPLES})
        """,
    ),
    MartCheck(
        "clawbacks_within_earn",
        "cashback_ledger",
        "No order's clawbacks add up to more than the cashback it earned.",
        f"""
        WITH c AS (SELECT order_id, -sum(amount) AS clawed FROM loyalty.cashback_ledger
                   WHERE shop_key = :shop AND kind = 'clawback' GROUP BY order_id),
        -- only the orders with clawbacks, and their earn by its key: not a million-group aggregate
        o AS (SELECT c.order_id AS key, c.clawed, e.amount AS earned FROM c
              LEFT JOIN loyalty.cashback_ledger e ON e.shop_key = :shop AND e.entry_key = 'earn:' || c.order_id),
        bad AS (SELECT key FROM o WHERE clawed > coalesce(earned, 0))
        SELECT (SELECT count(*) FROM bad) = 0,
               jsonb_build_object('orders_with_clawbacks', (SELECT count(*) FROM o),
                                  'over_clawed', (SELECT count(*) FROM bad), 'examples', {_EXAMPLES})
        """,
    ),
    MartCheck(
        "every_synced_order_earned",
        "cashback_ledger",
        "Every synced paid order whose cashback is above zero has its earn entry.",
        f"""
        WITH bad AS (SELECT lo.order_id AS key FROM loyalty.orders lo
                     WHERE lo.shop_key = :shop AND round(lo.basis * coalesce(lo.cashback_percent, 1) / 100, 2) > 0
                       AND NOT EXISTS (SELECT 1 FROM loyalty.cashback_ledger e
                                       WHERE e.shop_key = :shop AND e.entry_key = 'earn:' || lo.order_id))
        SELECT (SELECT count(*) FROM bad) = 0,
               jsonb_build_object('synced_orders', (SELECT count(*) FROM loyalty.orders WHERE shop_key = :shop),
                                  'without_earn', (SELECT count(*) FROM bad), 'examples', {_EXAMPLES})
        """,
    ),
    MartCheck(
        "ledger_matches_orders",
        "cashback_ledger",
        "Per order and customer, the ledger adds up to what the order implies (earn less pro-rata clawbacks); "
        "a difference is corrected by a sync with reconcile_ledger.",
        f"""
        WITH d AS ({sql.DIFFERENCES}), bad AS (SELECT order_id || ' ' || customer_key AS key, amount FROM d
                                                WHERE amount <> 0)
        SELECT (SELECT count(*) FROM bad) = 0,
               jsonb_build_object('differences', (SELECT count(*) FROM bad),
                                  'net_difference', (SELECT coalesce(sum(amount), 0) FROM bad), 'examples', {_EXAMPLES})
        """,
    ),
    MartCheck(
        "tiers_match_spend",
        "tiers",
        "Every customer with spend has one placement, in the tier the program gives their period spend.",
        f"""
        WITH s AS (SELECT customer_key, period_spend FROM loyalty.customer_spend WHERE shop_key = :shop),
        p AS (SELECT customer_key, tier, tier_rank, cashback_percent, period_spend FROM loyalty.tier_placements
              WHERE shop_key = :shop),
        bad AS (SELECT coalesce(s.customer_key, p.customer_key) AS key FROM s FULL JOIN p USING (customer_key)
                WHERE s.customer_key IS NULL OR p.customer_key IS NULL OR s.period_spend <> p.period_spend
                   OR p.tier_rank <> greatest(width_bucket(s.period_spend, CAST(:thresholds AS numeric[])), 1)
                   OR p.tier <> (CAST(:tier_names AS text[]))[p.tier_rank]
                   OR p.cashback_percent <> (CAST(:rates AS numeric[]))[p.tier_rank])
        SELECT (SELECT count(*) FROM bad) = 0,
               jsonb_build_object('placements', (SELECT count(*) FROM p), 'wrong', (SELECT count(*) FROM bad),
                                  'by_tier', (SELECT coalesce(jsonb_object_agg(tier, n), '{{}}') FROM
                                              (SELECT tier, count(*) AS n FROM p GROUP BY tier) t),
                                  'examples', {_EXAMPLES})
        """,
    ),
    MartCheck(
        "spend_matches_orders",
        "customer_spend",
        "Customer spend adds up to the synced orders (customers waiting for update_customer_metrics aside).",
        """
        WITH o AS (SELECT count(DISTINCT customer_key) AS customers, count(*) AS orders,
                          coalesce(sum(basis - refunded_basis), 0) AS spend
                   FROM loyalty.orders lo WHERE shop_key = :shop AND NOT EXISTS
                       (SELECT 1 FROM loyalty.pending_customers p WHERE p.shop_key = :shop
                        AND p.customer_key = lo.customer_key)),
        s AS (SELECT count(*) AS customers, coalesce(sum(orders), 0) AS orders,
                     coalesce(sum(lifetime_spend), 0) AS spend
              FROM loyalty.customer_spend cs WHERE shop_key = :shop AND NOT EXISTS
                  (SELECT 1 FROM loyalty.pending_customers p WHERE p.shop_key = :shop
                   AND p.customer_key = cs.customer_key))
        SELECT (o.customers, o.orders, o.spend) = (s.customers, s.orders, s.spend),
               jsonb_build_object('customers', s.customers, 'order_customers', o.customers, 'orders', s.orders,
                                  'synced_orders', o.orders, 'lifetime_spend', s.spend, 'order_spend', o.spend,
                                  'pending_customers', (SELECT count(*) FROM loyalty.pending_customers
                                                        WHERE shop_key = :shop))
        FROM o, s
        """,
    ),
)
WARN_ONLY = frozenset({"ledger_matches_orders"})


def run_checks(engine: sa.Engine, shop: Shop, checks: tuple[MartCheck, ...] = CHECKS) -> list[CheckOutcome]:
    """Run the checks for one shop; a shop without a loyalty program passes them all (there is nothing to check)."""
    with engine.connect() as conn:
        program = get_program(conn, shop.key)
        if program is None:
            return [CheckOutcome(c, True, {"skipped": "the shop has no loyalty program"}) for c in checks]
        bound = params(shop, program, date.today())
        outcomes = []
        for check in checks:
            passed, details = conn.execute(sa.text(check.sql), bound).one()
            details = details if isinstance(details, dict) else json.loads(details)
            outcomes.append(CheckOutcome(check, bool(passed), details))
    return outcomes
