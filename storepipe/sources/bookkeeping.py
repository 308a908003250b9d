"""Per (shop, entity) bookkeeping in ops: live progress with rate and ETA, checkpoints, quarantined records."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from storepipe.warehouse import tables

log = logging.getLogger(__name__)


class ProgressTracker:
    """Keeps ops.sync_progress current for one entity of one shop, from any number of fetch threads.

    Writes are throttled (every `flush_every` seconds) so progress costs nothing measurable; status
    changes (Paused, Completed, Failed) are written at once. `report` receives a log line every
    `log_every` seconds (the Dagster context's logger in assets).
    """

    def __init__(
        self,
        engine: sa.Engine,
        shop_key: str,
        entity: str,
        *,
        run_id: str | None = None,
        report: Callable[[str], None] | None = None,
        flush_every: float = 1.0,
        log_every: float = 5.0,
    ) -> None:
        self.engine = engine
        self.shop_key = shop_key
        self.entity = entity
        self.run_id = run_id
        self.report = report or log.info
        self.flush_every = flush_every
        self.log_every = log_every
        self.processed = 0
        self.total: int | None = None
        self.status = "Running"
        self.reason: str | None = None
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._baseline = 0  # processed before this run (a resumed import); excluded from the rate
        self._last_flush = 0.0
        self._last_log = 0.0

    # -- derived figures

    @property
    def rate(self) -> float | None:
        elapsed = time.monotonic() - self._started
        done = self.processed - self._baseline
        return done / elapsed if elapsed > 0.5 and done > 0 else None

    @property
    def eta_seconds(self) -> float | None:
        rate = self.rate
        if rate is None or self.total is None:
            return None
        return max(0.0, (self.total - self.processed) / rate)

    # -- transitions

    def start(self, *, total: int | None = None, processed: int = 0) -> None:
        with self._lock:
            self.total, self.processed, self._baseline = total, processed, processed
            self.status, self.reason = "Running", None
            self._started = time.monotonic()
        self._write(started=True)

    def set_total(self, total: int | None) -> None:
        with self._lock:
            self.total = total
        self._maybe_flush(force=True)

    def advance(self, count: int) -> None:
        with self._lock:
            self.processed += count
            if self.status == "Paused":  # a request got through: no longer waiting
                self.status, self.reason = "Running", None
        self._maybe_flush()

    def paused(self, reason: str) -> None:
        with self._lock:
            self.status, self.reason = "Paused", reason
        self._write()  # before the log line: whoever reads the log can already see it in ops.sync_progress
        self.report(f"{self.shop_key}/{self.entity}: Paused — {reason}")

    def resumed(self) -> None:
        with self._lock:
            if self.status != "Paused":
                return
            self.status, self.reason = "Running", None
        self._write()

    def completed(self, summary: dict[str, Any] | None = None) -> None:
        with self._lock:
            self.status, self.reason = "Completed", None
            if self.total is None or self.total < self.processed:
                self.total = self.processed
        self._write(finished=True, summary=summary)
        self.report(f"{self.shop_key}/{self.entity}: Completed, {self.processed:,} records")

    def failed(self, error: str) -> None:
        with self._lock:
            self.status, self.reason = "Failed", None
        self._write(finished=True, error=error)
        self.report(f"{self.shop_key}/{self.entity}: Failed — {error}")

    # -- persistence

    def _maybe_flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_flush >= self.flush_every:
            self._last_flush = now
            self._write()
        if now - self._last_log >= self.log_every:
            self._last_log = now
            eta = self.eta_seconds
            total = f"{self.total:,}" if self.total is not None else "?"
            rate = self.rate
            self.report(
                f"{self.shop_key}/{self.entity}: {self.status} {self.processed:,}/{total}"
                + (f", {rate:,.0f}/s" if rate else "")
                + (f", ETA {eta:,.0f} s" if eta is not None else "")
            )

    def _write(
        self,
        *,
        started: bool = False,
        finished: bool = False,
        error: str | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        with self._lock:
            values: dict[str, Any] = {
                "shop_key": self.shop_key,
                "entity": self.entity,
                "status": self.status,
                "run_id": self.run_id,
                "processed": self.processed,
                "total": self.total,
                "rate_per_second": self.rate,
                "eta_seconds": 0.0 if finished else self.eta_seconds,
                "status_reason": self.reason,
                "updated_at": sa.func.now(),
            }
        if started:
            values |= {"started_at": sa.func.now(), "finished_at": None, "last_error": None, "summary": None}
        if finished:
            values["finished_at"] = sa.func.now()
        if error is not None:
            values["last_error"] = error
        if summary is not None:
            values["summary"] = summary
        statement = insert(tables.sync_progress).values(**values)
        update = {k: statement.excluded[k] for k in values if k not in ("shop_key", "entity")}
        with self.engine.begin() as conn:
            conn.execute(statement.on_conflict_do_update(index_elements=["shop_key", "entity"], set_=update))


def load_checkpoint(engine: sa.Engine, shop_key: str, entity: str) -> dict[str, Any] | None:
    t = tables.checkpoints
    with engine.connect() as conn:
        return conn.execute(
            sa.select(t.c.state).where(t.c.shop_key == shop_key, t.c.entity == entity)
        ).scalar_one_or_none()


def save_checkpoint(conn: sa.Connection, shop_key: str, entity: str, state: dict[str, Any], run_id: str | None) -> None:
    """Write inside the caller's transaction, so the checkpoint commits with the page batch it describes."""
    statement = insert(tables.checkpoints).values(
        shop_key=shop_key, entity=entity, state=state, run_id=run_id, updated_at=sa.func.now()
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["shop_key", "entity"],
            set_={"state": statement.excluded.state, "run_id": statement.excluded.run_id, "updated_at": sa.func.now()},
        )
    )


def clear_checkpoint(conn: sa.Connection, shop_key: str, entity: str) -> None:
    t = tables.checkpoints
    conn.execute(sa.delete(t).where(t.c.shop_key == shop_key, t.c.entity == entity))


def quarantine(
    conn: sa.Connection,
    shop_key: str,
    entity: str,
    source_id: str,
    reason: str,
    payload: Any,
    run_id: str | None = None,
) -> None:
    """Record a record that cannot be mapped; seeing the same problem again only refreshes last_seen_at."""
    statement = insert(tables.discrepancies).values(
        shop_key=shop_key,
        entity=entity,
        source_id=str(source_id),
        reason=reason,
        payload=payload if not isinstance(payload, str) else json.loads(payload),
        run_id=run_id,
    )
    conn.execute(
        statement.on_conflict_do_update(
            constraint="discrepancies_one_per_reason",
            set_={
                "payload": statement.excluded.payload,
                "run_id": statement.excluded.run_id,
                "last_seen_at": sa.func.now(),
                "resolved_at": None,
            },
        )
    )
