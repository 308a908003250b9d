"""subscriptions_monthly: per shop-local month, active, new and churned subscriptions, MRR and churn rate.

core keeps each subscription's current state, not its history, so a subscription is active over one
interval [began, ended): began = start (else creation); ended = open for active ones, the end date for
pending-cancel (paid up until then), the cancellation or end date for cancelled/expired/switched ones, and
the missed payment date for on-hold ones (on hold is not active, as in Metorik's default). Pending and
deleted subscriptions never started. The mart is small (months × one row), so every refresh rebuilds it.
"""

from __future__ import annotations

from storepipe.marts.base import Mart

# Monthly value of one billing cycle: day × 365/12, week × 52/12, month × 1, year ÷ 12, each ÷ interval.
_MONTHLY = """
CASE s.billing_period WHEN 'day' THEN s.recurring_total * 365 / 12 WHEN 'week' THEN s.recurring_total * 52 / 12
     WHEN 'year' THEN s.recurring_total / 12 ELSE s.recurring_total END / greatest(coalesce(s.billing_interval, 1), 1)
"""

SUBSCRIPTIONS = Mart(
    name="subscriptions",
    table="subscriptions_monthly",
    description="Per shop-local month: subscriptions active at its start and end, new, churned, MRR at the end "
    "(normalised to monthly, to the cent) and churn rate = churned / active at the start.",
    in_scope="true",
    insert=f"""
WITH subs AS (
    -- An end before the start means never active; greatest() alone would turn an open end (NULL) into the start.
    SELECT began, CASE WHEN ended IS NOT NULL THEN greatest(began, ended) END AS ended, monthly FROM (
        SELECT coalesce(s.start_at, s.created_at) AS began,
               CASE WHEN s.status = 'active' THEN NULL
                    WHEN s.status = 'pending-cancel' THEN s.end_at
                    WHEN s.status = 'on-hold' THEN coalesce(s.next_payment_at, s.start_at, s.created_at)
                    ELSE coalesce(s.cancelled_at, s.end_at, s.start_at, s.created_at) END AS ended,
               coalesce({_MONTHLY}, 0) AS monthly
        FROM core.subscriptions s
        WHERE s.shop_key = :shop AND NOT s.deleted AND s.status NOT IN ('pending', 'trash', 'auto-draft')
          AND coalesce(s.start_at, s.created_at) IS NOT NULL
    ) x
), months AS (
    SELECT m::date AS month, (m AT TIME ZONE :tz) AS starts, ((m + interval '1 month') AT TIME ZONE :tz) AS ends
    FROM generate_series(
        (SELECT date_trunc('month', min(began) AT TIME ZONE :tz) FROM subs),
        (SELECT date_trunc('month', greatest(now(), max(began), max(ended)) AT TIME ZONE :tz) FROM subs),
        interval '1 month') m
), counted AS (
    SELECT mo.month,
           count(*) FILTER (WHERE s.began < mo.starts AND (s.ended IS NULL OR s.ended >= mo.starts)) AS active_start,
           count(*) FILTER (WHERE s.began >= mo.starts AND s.began < mo.ends) AS new_subscriptions,
           count(*) FILTER (WHERE s.ended >= mo.starts AND s.ended < mo.ends) AS churned,
           count(*) FILTER (WHERE s.began < mo.ends AND (s.ended IS NULL OR s.ended >= mo.ends)) AS active_end,
           coalesce(sum(s.monthly) FILTER (WHERE s.began < mo.ends AND (s.ended IS NULL OR s.ended >= mo.ends)), 0)
               AS mrr
    FROM months mo CROSS JOIN subs s
    GROUP BY mo.month
)
INSERT INTO marts.subscriptions_monthly (shop_key, month, active_at_start, new_subscriptions, churned,
                                         active_at_end, mrr, churn_rate)
SELECT :shop, month, active_start, new_subscriptions, churned, active_end, round(mrr, 2),
       CASE WHEN active_start > 0 THEN round(churned::numeric / active_start, 4) END
FROM counted
""",
)
