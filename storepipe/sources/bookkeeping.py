"""Per (shop, entity) bookkeeping in ops: live progress with rate and ETA, checkpoints, quarantined records."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from storepipe.http import AuthError, HttpError
from storepipe.warehouse import tables
from storepipe.warehouse.upsert import EMPTY, UpsertResult

if TYPE_CHECKING:
    from storepipe.shops import Shop

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


@dataclass
class StreamResult:
    """What a stream's sync did, for metadata, the summary and tests."""

    stream: str
    fetched: int = 0
    written: UpsertResult = EMPTY
    quarantined: int = 0
    not_imported: int = 0  # trashed before storepipe first saw them: counted, not stored
    already_done: bool = False  # finished by an earlier, killed run of the same sync
    requests: int = 0
    seconds: float = 0.0
    skipped: str | None = None
    sweeps: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int | float | str]:
        """Figures for ops.sync_progress.summary and the asset's (numeric, plottable) metadata."""
        figures: dict[str, int | float | str] = {
            "fetched": self.fetched,
            "inserted": self.written.inserted,
            "updated": self.written.updated,
            "unchanged": self.written.unchanged,
            "quarantined": self.quarantined,
            "trashed_before_first_import": self.not_imported,
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "records_per_second": round(self.fetched / self.seconds, 1) if self.seconds else 0.0,
        }
        if self.skipped:
            figures["skipped"] = self.skipped
        return figures


_summary = tables.sync_progress.c.summary
# Records of a stream that are now in raw (fetched, minus those trashed before the first import).
stored_records = (
    _summary["inserted"].as_integer() + _summary["updated"].as_integer() + _summary["unchanged"].as_integer()
)


class ModelRun(Protocol):
    """What a lane's model reports: rows (re)mapped into core and records quarantined."""

    orders: int
    order_lines: int
    refunds: int
    customers: int
    quarantined: int
    rebuild: bool


MapShop = Callable[..., ModelRun]  # map_shop(engine, shop, since, run_id=...)


def complete_sync(
    engine: sa.Engine,
    shop: Shop,
    map_shop: MapShop,
    session_entity: str,
    *,
    rebuild: bool = False,
    run_id: str | None = None,
    report: Callable[[str], None] | None = None,
    extra: Callable[[], dict[str, int | float | str | None]] | None = None,
    last_sync_entity: str | None = None,
) -> dict[str, int | float | str | None]:
    """Map what this sync fetched into core, close the session, and record the sync's summary.

    The session checkpoint (`session_entity`) holds `local_started`, our clock when the sync began: raw
    records fetched since then are what the sync changed. Without an open session (the model materialized
    on its own) or with `rebuild`, every raw record of the shop is mapped again: core is rebuildable from
    raw without calling the API. `extra()` adds lane-specific figures to the summary. With
    `last_sync_entity`, the closed session's server start is kept there: the next incremental sync of a lane
    that windows by the sync's start (TikTok) begins from it, minus its lookback.
    """
    progress = ProgressTracker(engine, shop.key, "model", run_id=run_id, report=report)
    progress.start()
    t0 = datetime.now(UTC)
    session = load_checkpoint(engine, shop.key, session_entity)
    since = None if rebuild or not session else datetime.fromisoformat(session["local_started"])
    try:
        result = map_shop(engine, shop, since, run_id=run_id)
    except Exception as exc:
        progress.failed(f"{type(exc).__name__}: {exc}")
        raise
    with engine.begin() as conn:
        clear_checkpoint(conn, shop.key, session_entity)
        if last_sync_entity and session:
            save_checkpoint(conn, shop.key, last_sync_entity, {"started": session["started"]}, run_id)
    sync_began = datetime.fromisoformat(session["local_started"]) if session else t0
    with engine.connect() as conn:
        # This sync's figures, whichever runs did the work (a killed run's streams count too).
        fetched = dict(
            conn.execute(
                sa.select(tables.sync_progress.c.entity, stored_records).where(
                    tables.sync_progress.c.shop_key == shop.key,
                    # started_at is the database's clock, local_started ours: a minute of slack for skew.
                    tables.sync_progress.c.started_at >= sync_began - timedelta(minutes=1),
                    tables.sync_progress.c.entity != "model",
                )
            ).all()
        )
        open_discrepancies = conn.execute(
            sa.select(sa.func.count())
            .select_from(tables.discrepancies)
            .where(tables.discrepancies.c.shop_key == shop.key, tables.discrepancies.c.resolved_at.is_(None))
        ).scalar_one()
    summary: dict[str, int | float | str | None] = {
        "orders_synced": fetched.get("orders"),
        # Lanes without a customers listing (TikTok) identify customers from orders: those the model mapped.
        "customers_updated": fetched.get("customers", result.customers),
        "orders_mapped": result.orders,
        "order_lines_mapped": result.order_lines,
        "refunds_mapped": result.refunds,
        "customers_mapped": result.customers,
        "quarantined_now": result.quarantined,
        "open_discrepancies": open_discrepancies,
        "duration_seconds": round((datetime.now(UTC) - sync_began).total_seconds(), 1),
        "rebuild": "yes" if result.rebuild else "no",
    }
    if extra:
        summary |= extra()
    progress.advance(result.orders)
    progress.completed(summary)
    return summary


@contextmanager
def failures_recorded(progress: ProgressTracker, shop_key: str) -> Iterator[None]:
    """Mark the entity Failed with a reason a user can act on, then let the error end the step."""
    try:
        yield
    except AuthError as exc:  # already names the shop and the variable or command that fixes it
        progress.failed(str(exc))
        raise
    except HttpError as exc:
        progress.failed(f"shop {shop_key!r}: {exc}")
        raise
    except Exception as exc:
        progress.failed(f"{type(exc).__name__}: {exc}")
        raise
