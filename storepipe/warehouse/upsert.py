"""Monotonic bulk upsert: COPY rows into a staging table, then merge them on the natural key.

A staged row replaces the stored one only when its version (e.g. the record's modification time) is
at least as new; an equal version replaces it only when the content differs, so re-importing the same
data writes nothing, and an older version never wins. Rows staged twice in one batch keep the newest.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

_stage_counter = itertools.count()


@dataclass(frozen=True)
class UpsertResult:
    """What a merge did: rows newly inserted, rows replaced, and staged rows that changed nothing."""

    inserted: int
    updated: int
    unchanged: int

    @property
    def written(self) -> int:
        return self.inserted + self.updated

    def __add__(self, other: UpsertResult) -> UpsertResult:
        return UpsertResult(
            self.inserted + other.inserted, self.updated + other.updated, self.unchanged + other.unchanged
        )


EMPTY = UpsertResult(0, 0, 0)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def bulk_upsert(
    conn: sa.Connection,
    table: sa.Table,
    rows: Iterable[Sequence[Any]],
    *,
    columns: Sequence[str],
    key: Sequence[str],
    version: str,
    ignore_on_compare: Sequence[str] = ("fetched_at",),
) -> UpsertResult:
    """Merge `rows` (tuples in `columns` order) into `table` inside the caller's transaction.

    `key` is the natural key (it must have a unique index), `version` the column that orders versions
    (NULL counts as oldest). Columns in `ignore_on_compare` are written but do not by themselves make a
    row "different" (a new fetched_at alone is not a change). JSON columns take already-serialised text.
    """
    missing = [c for c in (*key, version) if c not in columns]
    if missing:
        raise ValueError(f"columns must include the key and version columns; missing {missing}")
    target = f"{_q(table.schema)}.{_q(table.name)}" if table.schema else _q(table.name)
    stage = f"_stage_{table.name}_{next(_stage_counter)}"
    cols = ", ".join(_q(c) for c in columns)
    keys = ", ".join(_q(c) for c in key)
    v = _q(version)
    compared = [c for c in columns if c not in key and c not in ignore_on_compare]
    changed = (
        f"(t.{v} IS NOT DISTINCT FROM EXCLUDED.{v} AND "
        f"({', '.join('t.' + _q(c) for c in compared)}) IS DISTINCT FROM "
        f"({', '.join('EXCLUDED.' + _q(c) for c in compared)}))"
        if len(compared) > 1
        else "FALSE"
    )
    newer = f"(EXCLUDED.{v} > t.{v} OR (t.{v} IS NULL AND EXCLUDED.{v} IS NOT NULL))"
    updates = ", ".join(f"{_q(c)} = EXCLUDED.{_q(c)}" for c in columns if c not in key)

    driver = conn.connection.driver_connection
    with driver.cursor() as cur:
        # The staging table copies the target's column types, so COPY parses JSON and timestamps once.
        cur.execute(f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {cols} FROM {target} WITH NO DATA")
        with cur.copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(f"SELECT count(DISTINCT ({keys})) FROM {stage}")
        staged = cur.fetchone()[0]
        cur.execute(
            f"INSERT INTO {target} AS t ({cols}) "
            f"SELECT DISTINCT ON ({keys}) {cols} FROM {stage} ORDER BY {keys}, {v} DESC NULLS LAST "
            f"ON CONFLICT ({keys}) DO UPDATE SET {updates} WHERE {newer} OR {changed} "
            f"RETURNING (xmax = 0)"
        )
        flags = [r[0] for r in cur.fetchall()]
        cur.execute(f"DROP TABLE {stage}")
    inserted = sum(flags)
    updated = len(flags) - inserted
    return UpsertResult(inserted=inserted, updated=updated, unchanged=staged - len(flags))
