"""The set-based SQL of a loyalty sync: take orders in, derive tier histories, write ledger entries, reconcile.

Rules decided here (docs/loyalty.md explains them with examples):

    basis(order)   = Σ line total (after discounts, excluding tax) of lines whose product is not excluded
                     [+ their tax if include_tax] [+ shipping (+ its tax if include_tax) if include_shipping]
    refund basis   = Σ refunded amount of the refund's lines on eligible products [+ their tax]; a refund
                     without lines counts whole. Cumulated per order in refund order and capped at the basis.
    earn           = round(basis × rate / 100, 2), half away from zero (PostgreSQL's numeric round)
    clawbacks      = cumulative: after refund k the order has given back round(earn × refunded_k / basis, 2),
                     so each clawback is the growth of that amount; the sum never exceeds the earn, and a
                     full refund gives back exactly the earn.
    rate           = the cashback_percent of the tier the customer held at the start of the paid day (tiers
                     are re-derived at the end of every shop-local day), frozen when the order is taken in.

Every statement gets :shop, :today and the program's parameters (see sync.params).
"""

from __future__ import annotations

from storepipe.loyalty.program import ANNUAL_DAYS

# Orders that identify nobody are sales of no customer, as in the marts (storepipe.marts.facts).
_CUSTOMER = "CASE WHEN o.customer_key IS NULL OR o.customer_key = 'email:' THEN NULL ELSE o.customer_key END"

CREATE_WORK_TABLES = """
CREATE TEMP TABLE changed_orders (order_id text PRIMARY KEY) ON COMMIT DROP;
CREATE TEMP TABLE dirty_customers (customer_key text PRIMARY KEY) ON COMMIT DROP;
CREATE TEMP TABLE written (customer_key text NOT NULL, kind text NOT NULL, amount numeric NOT NULL,
                           entries integer NOT NULL) ON COMMIT DROP;
CREATE TEMP TABLE left_orders (order_id text NOT NULL, customer_key text NOT NULL) ON COMMIT DROP;
CREATE TEMP TABLE arrivals (order_id text NOT NULL, customer_key text NOT NULL, paid_at timestamptz,
                            paid_date date NOT NULL, basis numeric NOT NULL, refunded_basis numeric NOT NULL,
                            refunds integer NOT NULL) ON COMMIT DROP
"""

CHANGED_SINCE = """
INSERT INTO changed_orders
SELECT order_id FROM core.order_changes
WHERE shop_key = :shop AND change_id > :last_change AND change_id <= :high_change
"""


def refund_rows(source: str) -> str:
    """One row per refund of the orders `source` names (a FROM item with alias o and column order_id),
    with its basis (raw), and its cumulative refunded basis and clawback (needs o.basis, o.earn)."""
    return f"""
    SELECT r.order_id, r.refund_id, r.created_at, r.created_date AS refund_date, raw,
           least(o.basis, sum(raw) OVER w) AS refunded_cum
    FROM {source}
    JOIN core.refunds r ON r.shop_key = :shop AND r.order_id = o.order_id
    CROSS JOIN LATERAL (
        SELECT CASE WHEN count(*) = 0 THEN r.amount
                    ELSE coalesce(sum(rl.amount + CASE WHEN :include_tax THEN rl.tax ELSE 0 END)
                                  FILTER (WHERE coalesce(rl.product_key, '') <> ALL(CAST(:excluded AS text[]))), 0)
               END AS raw
        FROM core.refund_lines rl WHERE rl.shop_key = :shop AND rl.refund_id = r.refund_id
    ) b
    WINDOW w AS (PARTITION BY r.order_id ORDER BY r.created_at, r.refund_id)
    """


# The candidate orders as core has them now: paid or not, their customer and spend basis. `scoped` (from
# the marts) joins every core table to changed_orders for an incremental sync, or scans for a full one.
CURRENT_ORDERS = f"""
CREATE TEMP TABLE cur ON COMMIT DROP AS
WITH lines AS (
    SELECT l.order_id, sum(l.total + CASE WHEN :include_tax THEN l.total_tax ELSE 0 END) AS amount
    FROM core.order_lines l /*changed l*/
    WHERE l.shop_key = :shop AND coalesce(l.product_key, '') <> ALL(CAST(:excluded AS text[]))
    GROUP BY l.order_id
), refund_lines AS (
    SELECT rl.refund_id,
           sum(rl.amount + CASE WHEN :include_tax THEN rl.tax ELSE 0 END)
               FILTER (WHERE coalesce(rl.product_key, '') <> ALL(CAST(:excluded AS text[]))) AS eligible
    FROM core.refund_lines rl /*changed rl*/ WHERE rl.shop_key = :shop GROUP BY rl.refund_id
), refunded AS (
    SELECT r.order_id, sum(CASE WHEN rl.refund_id IS NULL THEN r.amount ELSE coalesce(rl.eligible, 0) END) AS raw,
           count(*) AS refunds
    FROM core.refunds r /*changed r*/ LEFT JOIN refund_lines rl ON rl.refund_id = r.refund_id
    WHERE r.shop_key = :shop GROUP BY r.order_id
), base AS (
    SELECT o.order_id, {_CUSTOMER} AS customer_key, o.paid_at,
           CASE WHEN o.paid_date IS NOT NULL THEN o.paid_date WHEN NOT :require_paid THEN o.created_date END
               AS paid_date,
           NOT o.deleted AND o.status = ANY(CAST(:statuses AS text[])) AND (o.paid_at IS NOT NULL OR NOT :require_paid)
               AS paid,
           greatest(coalesce(l.amount, 0)
                    + CASE WHEN :include_shipping
                           THEN o.shipping_total + CASE WHEN :include_tax THEN o.shipping_tax ELSE 0 END ELSE 0 END,
                    0) AS basis,
           coalesce(rf.raw, 0) AS refunded_raw, coalesce(rf.refunds, 0)::integer AS refunds
    FROM core.orders o /*changed o*/
    LEFT JOIN lines l ON l.order_id = o.order_id
    LEFT JOIN refunded rf ON rf.order_id = o.order_id
    WHERE o.shop_key = :shop
)
SELECT order_id, customer_key, paid_at, paid_date, paid, paid AND customer_key IS NOT NULL AS eligible,
       basis, least(basis, refunded_raw) AS refunded_basis, refunds
FROM base
"""

# Take the candidates in: synced orders that are no longer eligible leave, synced ones follow core, and
# eligible ones paid inside the window arrive (inserted by ARRIVE once their rate is known). Every customer
# whose orders moved becomes dirty.
TAKE_IN = (
    """
    WITH gone AS (
        DELETE FROM loyalty.orders lo USING cur c
        WHERE lo.shop_key = :shop AND lo.order_id = c.order_id AND NOT c.eligible
        RETURNING lo.order_id, lo.customer_key
    ), noted AS (
        INSERT INTO left_orders SELECT order_id, customer_key FROM gone
    )
    INSERT INTO dirty_customers SELECT DISTINCT customer_key FROM gone ON CONFLICT DO NOTHING
    """,
    # Orders gone from core altogether (the model drops an order that fails its checks) leave too.
    """
    WITH gone AS (
        DELETE FROM loyalty.orders lo
        WHERE lo.shop_key = :shop AND (:full OR lo.order_id IN (SELECT order_id FROM changed_orders))
          AND NOT EXISTS (SELECT 1 FROM cur c WHERE c.order_id = lo.order_id)
        RETURNING lo.order_id, lo.customer_key
    ), noted AS (
        INSERT INTO left_orders SELECT order_id, customer_key FROM gone
    )
    INSERT INTO dirty_customers SELECT DISTINCT customer_key FROM gone ON CONFLICT DO NOTHING
    """,
    # Synced orders whose loyalty fields changed (most candidates of a reconcile have not), then follow core.
    """
    CREATE TEMP TABLE moved ON COMMIT DROP AS
    SELECT c.order_id, c.customer_key, c.paid_at, c.paid_date, c.basis, c.refunded_basis, c.refunds,
           lo.customer_key AS old_key
    FROM cur c JOIN loyalty.orders lo ON lo.shop_key = :shop AND lo.order_id = c.order_id
    WHERE c.eligible
      AND (lo.customer_key, lo.paid_at, lo.paid_date, lo.basis, lo.refunded_basis, lo.refunds)
          IS DISTINCT FROM (c.customer_key, c.paid_at, c.paid_date, c.basis, c.refunded_basis, c.refunds)
    """,
    """
    UPDATE loyalty.orders lo
    SET customer_key = m.customer_key, paid_at = m.paid_at, paid_date = m.paid_date, basis = m.basis,
        refunded_basis = m.refunded_basis, refunds = m.refunds, synced_at = now()
    FROM moved m WHERE lo.shop_key = :shop AND lo.order_id = m.order_id
    """,
    "INSERT INTO dirty_customers SELECT old_key FROM moved UNION SELECT customer_key FROM moved ON CONFLICT DO NOTHING",
    """
    INSERT INTO arrivals
    SELECT c.order_id, c.customer_key, c.paid_at, c.paid_date, c.basis, c.refunded_basis, c.refunds
    FROM cur c
    WHERE c.eligible AND (CAST(:window_start AS date) IS NULL OR c.paid_date >= :window_start)
      AND NOT EXISTS (SELECT 1 FROM loyalty.orders lo WHERE lo.shop_key = :shop AND lo.order_id = c.order_id)
    """,
    "INSERT INTO dirty_customers SELECT DISTINCT customer_key FROM arrivals ON CONFLICT DO NOTHING",
)

# Customers whose tier may drop today without any order changing: an order of theirs left the annual period.
DUE_FOR_REVIEW = """
INSERT INTO dirty_customers
SELECT customer_key FROM loyalty.tier_placements WHERE shop_key = :shop AND next_review <= :today
ON CONFLICT DO NOTHING
"""

# The dirty customers' synced orders and refunds, and their spend per day: +basis on the paid day, −refunded
# basis on the refund day, and (ANNUAL) −what is left of the order on the day it leaves the period.
HISTORY = (
    """
    CREATE TEMP TABLE h_orders ON COMMIT DROP AS
    SELECT lo.order_id, lo.customer_key, lo.paid_date, lo.basis, lo.refunded_basis
    FROM loyalty.orders lo JOIN dirty_customers d ON d.customer_key = lo.customer_key
    WHERE lo.shop_key = :shop
    UNION ALL
    SELECT order_id, customer_key, paid_date, basis, refunded_basis FROM arrivals
    """,
    f"""
    CREATE TEMP TABLE h_refunds ON COMMIT DROP AS
    SELECT order_id, refund_id, refund_date, refunded_cum - coalesce(lag(refunded_cum) OVER w, 0) AS refunded
    FROM ({refund_rows("(SELECT order_id, basis FROM h_orders WHERE refunded_basis > 0) o")}) x
    WINDOW w AS (PARTITION BY order_id ORDER BY created_at, refund_id)
    """,
    f"""
    CREATE TEMP TABLE h_days ON COMMIT DROP AS
    WITH refunds AS (
        SELECT o.customer_key, greatest(r.refund_date, o.paid_date) AS day, r.refunded,
               o.paid_date + {ANNUAL_DAYS + 1} AS expiry
        FROM h_refunds r JOIN h_orders o ON o.order_id = r.order_id
        WHERE r.refunded <> 0
          AND (NOT :annual OR greatest(r.refund_date, o.paid_date) < o.paid_date + {ANNUAL_DAYS + 1})
    ), events AS (
        -- ANNUAL: an order leaves the period with its whole basis, and each refund counted while it was in
        -- the period leaves with it (so together they subtract what was left); a later refund does nothing.
        SELECT customer_key, paid_date AS day, basis AS delta, 1 AS kind FROM h_orders
        UNION ALL
        SELECT customer_key, paid_date + {ANNUAL_DAYS + 1}, -basis, 4 FROM h_orders WHERE :annual
        UNION ALL
        SELECT customer_key, day, -refunded, 2 FROM refunds
        UNION ALL
        SELECT customer_key, expiry, refunded, 4 FROM refunds WHERE :annual
    ), days AS (
        SELECT customer_key, day, sum(delta) AS delta, bit_or(kind) AS kinds FROM events GROUP BY customer_key, day
    ), running AS (
        SELECT customer_key, day, kinds, sum(delta) OVER (PARTITION BY customer_key ORDER BY day) AS spend
        FROM days
    ), ranked AS (
        SELECT *, greatest(width_bucket(spend, CAST(:thresholds AS numeric[])), 1) AS rank FROM running
    )
    SELECT customer_key, day, kinds, spend, rank,
           coalesce(lag(rank) OVER (PARTITION BY customer_key ORDER BY day), 1) AS prev_rank
    FROM ranked
    """,
    "CREATE UNIQUE INDEX ON h_days (customer_key, day)",
    "ANALYZE h_orders",
    "ANALYZE h_days",
)

# Arriving orders get the rate of the tier the customer held at the end of the day before they were paid,
# frozen from now on (set once on insert: updating a million rows afterwards would double the write).
ARRIVE = """
INSERT INTO loyalty.orders (shop_key, order_id, customer_key, paid_at, paid_date, basis, refunded_basis, refunds, tier,
                            cashback_percent)
SELECT :shop, a.order_id, a.customer_key, a.paid_at, a.paid_date, a.basis, a.refunded_basis, a.refunds,
       (CAST(:tier_names AS text[]))[d.prev_rank], (CAST(:rates AS numeric[]))[d.prev_rank]
FROM arrivals a JOIN h_days d ON d.customer_key = a.customer_key AND d.day = a.paid_date
"""

_EARN = "round(lo.basis * lo.cashback_percent / 100, 2)"

# The entries the candidate orders (`scoped`: the changed ones, or all) call for that the ledger does not have
# yet: one earn per order, one clawback per refund. An anti-join rather than ON CONFLICT DO NOTHING (a
# speculative insertion per row costs seconds over a million); the unique entry key still makes writing one
# twice impossible, and the sync's advisory lock keeps two syncs of a shop from racing to it.
WRITE_ENTRIES = (
    f"""
    WITH added AS (
        INSERT INTO loyalty.cashback_ledger (shop_key, entry_key, customer_key, kind, order_id, amount, entry_date,
                                             basis, cashback_percent, source, run_id)
        SELECT :shop, 'earn:' || lo.order_id, lo.customer_key, 'earn', lo.order_id, {_EARN}, lo.paid_date,
               lo.basis, lo.cashback_percent, :source, :run_id
        FROM loyalty.orders lo /*changed lo*/
        WHERE lo.shop_key = :shop AND {_EARN} > 0 AND NOT EXISTS (SELECT 1 FROM loyalty.cashback_ledger e
                                          WHERE e.shop_key = :shop AND e.entry_key = 'earn:' || lo.order_id)
        RETURNING customer_key, kind, amount
    )
    INSERT INTO written SELECT customer_key, kind, sum(amount), count(*) FROM added GROUP BY customer_key, kind
    """,
    f"""
    WITH orders AS (
        SELECT lo.order_id, lo.customer_key, lo.basis, {_EARN} AS earn
        FROM loyalty.orders lo /*changed lo*/
        WHERE lo.shop_key = :shop AND lo.refunds > 0 AND lo.basis > 0
    ), cumulative AS (
        SELECT o.customer_key, x.order_id, x.refund_id, x.created_at, x.refund_date, x.refunded_cum,
               round(o.earn * x.refunded_cum / o.basis, 2) AS clawed_cum
        FROM ({refund_rows("orders o")}) x JOIN orders o ON o.order_id = x.order_id
    ), refunds AS (
        SELECT *, clawed_cum - coalesce(lag(clawed_cum) OVER w, 0) AS clawback,
               refunded_cum - coalesce(lag(refunded_cum) OVER w, 0) AS refunded
        FROM cumulative WINDOW w AS (PARTITION BY order_id ORDER BY created_at, refund_id)
    ), added AS (
        INSERT INTO loyalty.cashback_ledger (shop_key, entry_key, customer_key, kind, order_id, refund_id, amount,
                                             entry_date, basis, source, run_id)
        SELECT :shop, 'clawback:' || refund_id, customer_key, 'clawback', order_id, refund_id, -clawback,
               refund_date, refunded, :source, :run_id
        FROM refunds r
        WHERE clawback > 0 AND NOT EXISTS (SELECT 1 FROM loyalty.cashback_ledger e
                                           WHERE e.shop_key = :shop AND e.entry_key = 'clawback:' || r.refund_id)
        RETURNING customer_key, kind, amount
    )
    INSERT INTO written SELECT customer_key, kind, sum(amount), count(*) FROM added GROUP BY customer_key, kind
    """,
)

# What the synced orders imply per (order, customer): the earn less what their refunds gave back.
IMPLIED = f"""
    SELECT lo.order_id, lo.customer_key,
           {_EARN} - CASE WHEN lo.basis > 0 THEN round({_EARN} * lo.refunded_basis / lo.basis, 2) ELSE 0 END AS amount
    FROM loyalty.orders lo WHERE lo.shop_key = :shop AND lo.cashback_percent IS NOT NULL
"""
BOOKED = """
    SELECT order_id, customer_key, sum(amount) AS amount, count(*) FILTER (WHERE kind = 'correction') AS corrections
    FROM loyalty.cashback_ledger WHERE shop_key = :shop AND order_id IS NOT NULL GROUP BY order_id, customer_key
"""
DIFFERENCES = f"""
    SELECT coalesce(i.order_id, b.order_id) AS order_id, coalesce(i.customer_key, b.customer_key) AS customer_key,
           coalesce(i.amount, 0) - coalesce(b.amount, 0) AS amount, coalesce(b.corrections, 0) AS corrections
    FROM ({IMPLIED}) i FULL JOIN ({BOOKED}) b ON b.order_id = i.order_id AND b.customer_key = i.customer_key
"""

# Reconcile: one correction per (order, customer) whose entries do not add up to what the order implies
# (an order edited or re-keyed after it earned, one no longer paid). A second run finds no difference.
RECONCILE = f"""
WITH added AS (
    INSERT INTO loyalty.cashback_ledger (shop_key, entry_key, customer_key, kind, order_id, amount, entry_date,
                                         source, note, run_id)
    SELECT :shop, 'correction:' || order_id || ':' || customer_key || ':' || (corrections + 1), customer_key,
           'correction', order_id, amount, :today, 'reconcile',
           CASE WHEN amount > 0 THEN 'the order implies more cashback than booked'
                ELSE 'the order implies less cashback than booked' END, :run_id
    FROM ({DIFFERENCES}) d WHERE amount <> 0
    RETURNING customer_key, kind, amount
)
INSERT INTO written SELECT customer_key, kind, sum(amount), count(*) FROM added GROUP BY customer_key, kind
"""

BALANCES = """
INSERT INTO loyalty.balances AS b (shop_key, customer_key, balance, entries)
SELECT :shop, customer_key, sum(amount), sum(entries) FROM written GROUP BY customer_key
ON CONFLICT (shop_key, customer_key) DO UPDATE SET
    balance = b.balance + EXCLUDED.balance, entries = b.entries + EXCLUDED.entries, updated_at = now()
"""

# Spend, placement and tier history of the dirty customers, replaced as a whole (derived from the orders;
# the ledger is the only book).
_REASON = """concat_ws(', ', CASE WHEN d.kinds & 1 > 0 THEN 'order paid' END,
                       CASE WHEN d.kinds & 2 > 0 THEN 'refund' END,
                       CASE WHEN d.kinds & 4 > 0 THEN 'left the evaluation period' END)"""
METRICS = (
    *(
        f"DELETE FROM loyalty.{table} t USING dirty_customers d "
        "WHERE t.shop_key = :shop AND t.customer_key = d.customer_key"
        for table in ("customer_spend", "tier_placements", "tier_changes")
    ),
    """
    CREATE TEMP TABLE h_now ON COMMIT DROP AS
    SELECT DISTINCT ON (customer_key) customer_key, spend, rank FROM h_days WHERE day <= :today
    ORDER BY customer_key, day DESC
    """,
    """
    INSERT INTO loyalty.customer_spend (shop_key, customer_key, orders, first_paid_date, last_paid_date, gross_spend,
                                        refunded, lifetime_spend, period_spend, evaluated_on)
    SELECT :shop, o.customer_key, count(*), min(o.paid_date), max(o.paid_date), sum(o.basis), sum(o.refunded_basis),
           sum(o.basis) - sum(o.refunded_basis), coalesce(min(n.spend), 0), :today
    FROM h_orders o LEFT JOIN h_now n ON n.customer_key = o.customer_key
    GROUP BY o.customer_key
    """,
    f"""
    INSERT INTO loyalty.tier_changes (shop_key, customer_key, change_date, from_tier, to_tier, period_spend, reason)
    SELECT :shop, d.customer_key, d.day, (CAST(:tier_names AS text[]))[d.prev_rank],
           (CAST(:tier_names AS text[]))[d.rank], d.spend, {_REASON}
    FROM h_days d WHERE d.day <= :today AND d.rank <> d.prev_rank
    """,
    """
    INSERT INTO loyalty.tier_placements (shop_key, customer_key, tier, tier_rank, cashback_percent, period_spend, since,
                                         next_review, evaluated_on)
    SELECT :shop, d.customer_key, (CAST(:tier_names AS text[]))[r.rank], r.rank, (CAST(:rates AS numeric[]))[r.rank],
           coalesce(n.spend, 0), d.since, d.next_review, :today
    FROM (SELECT customer_key, max(day) FILTER (WHERE day <= :today AND rank <> prev_rank) AS since,
                 min(day) FILTER (WHERE day > :today) AS next_review
          FROM h_days GROUP BY customer_key) d
    LEFT JOIN h_now n ON n.customer_key = d.customer_key
    CROSS JOIN LATERAL (SELECT coalesce(n.rank, 1) AS rank) r
    """,
)

# Loyalty's discrepancies live with the import's in ops.discrepancies (entity loyalty_orders).
NO_CUSTOMER = "paid order without a customer (no customer id and no email): not eligible for cashback"
LEFT_AFTER_EARNING = "order earned cashback but is no longer paid: run a sync with reconcile_ledger"
DISCREPANCIES = (
    f"""
    INSERT INTO ops.discrepancies AS d (shop_key, entity, source_id, reason, run_id)
    SELECT :shop, 'loyalty_orders', order_id, '{NO_CUSTOMER}', :run_id FROM cur WHERE paid AND customer_key IS NULL
    ON CONFLICT ON CONSTRAINT discrepancies_one_per_reason DO UPDATE SET
        run_id = EXCLUDED.run_id, last_seen_at = now(), resolved_at = NULL
    """,
    f"""
    UPDATE ops.discrepancies d SET resolved_at = now() FROM cur c
    WHERE d.shop_key = :shop AND d.entity = 'loyalty_orders' AND d.source_id = c.order_id
      AND d.reason = '{NO_CUSTOMER}' AND d.resolved_at IS NULL AND NOT (c.paid AND c.customer_key IS NULL)
    """,
    f"""
    INSERT INTO ops.discrepancies AS d (shop_key, entity, source_id, reason, run_id)
    SELECT DISTINCT :shop, 'loyalty_orders', l.order_id, '{LEFT_AFTER_EARNING}', :run_id
    FROM left_orders l
    WHERE NOT :reconcile AND EXISTS (SELECT 1 FROM loyalty.cashback_ledger e
                                     WHERE e.shop_key = :shop AND e.entry_key = 'earn:' || l.order_id)
    ON CONFLICT ON CONSTRAINT discrepancies_one_per_reason DO UPDATE SET
        run_id = EXCLUDED.run_id, last_seen_at = now(), resolved_at = NULL
    """,
    f"""
    UPDATE ops.discrepancies SET resolved_at = now()
    WHERE :reconcile AND shop_key = :shop AND entity = 'loyalty_orders' AND reason = '{LEFT_AFTER_EARNING}'
      AND resolved_at IS NULL
    """,
)

OPEN_DISCREPANCIES = """
SELECT entity, count(*) FROM ops.discrepancies
WHERE shop_key = :shop AND resolved_at IS NULL AND entity IN ('loyalty_orders', 'orders') GROUP BY entity
"""
