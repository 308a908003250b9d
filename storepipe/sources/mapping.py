"""SQL building blocks shared by the platforms' raw-to-core mappings: safe money, changed records, quarantine."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa


@dataclass(frozen=True)
class ModelResult:
    """Rows (re)mapped into core by one run of a platform's model, and records quarantined."""

    orders: int
    order_lines: int
    refunds: int
    customers: int
    products: int
    quarantined: int
    rebuild: bool


def money(expr: str) -> str:
    """A money field that may be missing: zero then (a malformed one is caught by the record's checks)."""
    return f"coalesce(core.try_numeric({expr}), 0)"


def excluded(*columns: str) -> str:
    """The SET list of an upsert that takes the incoming row's value of each column."""
    return ", ".join(f"{c} = EXCLUDED.{c}" for c in columns)


def changed(table: str) -> str:
    """The FROM clause of one shop's raw records fetched since :since (all of them when :since is NULL)."""
    return f"raw.{table} r WHERE r.shop_key = :shop AND (CAST(:since AS timestamptz) IS NULL OR r.fetched_at >= :since)"


# {checked} is a temp table with columns id, p (the payload) and problem (NULL when the record maps).
QUARANTINE = """
INSERT INTO ops.discrepancies AS d (shop_key, entity, source_id, reason, payload, run_id)
SELECT :shop, :entity, id::text, problem, p, :run_id FROM {checked} WHERE problem IS NOT NULL
ON CONFLICT ON CONSTRAINT discrepancies_one_per_reason DO UPDATE SET
    payload = EXCLUDED.payload, run_id = EXCLUDED.run_id, last_seen_at = now(), resolved_at = NULL
"""

# A later good version of a quarantined record resolves its discrepancy.
RESOLVE = """
UPDATE ops.discrepancies d SET resolved_at = now()
FROM {checked} c
WHERE c.problem IS NULL AND d.shop_key = :shop AND d.entity = :entity AND d.source_id = c.id::text
  AND d.resolved_at IS NULL
"""


def sql_runner(conn: sa.Connection, params: Mapping[str, object], log: logging.Logger) -> Callable[..., int]:
    """`run(sql, **extra)`: execute one statement with the mapping's parameters, log its time, return its rowcount."""

    def run(sql: str, **extra: object) -> int:
        started = time.perf_counter()
        count = conn.execute(sa.text(sql), {**params, **extra}).rowcount
        log.debug("%.3f s, %d rows: %s", time.perf_counter() - started, count, " ".join(sql.split())[:80])
        return count

    return run


def quarantine(run: Callable[..., int], checked: str, entity: str) -> int:
    """Quarantine the checked records that have a problem and resolve the discrepancies of those that map now."""
    count = run(QUARANTINE.format(checked=checked), entity=entity)
    run(RESOLVE.format(checked=checked), entity=entity)
    return count
