"""The TikTok Shop import engine: plans each listing into units, pages them in parallel, upserts raw, checkpoints.

A unit is one cursor chain (a time window, a parent's transactions), one detail GET or one id chunk. Units
run on a thread pool; every page is written in one transaction together with the checkpoint that records
its unit's next page token, so a killed run resumes each chain where it stopped and never refetches a
committed page. Plans are stored once per sync (ops.checkpoints `<listing>:plan`), progress per page
(`<listing>`): the index below which every unit is done, the finished units above it, open chains' tokens.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from storepipe.shops import Shop
from storepipe.sources.bookkeeping import (
    ProgressTracker,
    StreamResult,
    clear_checkpoint,
    load_checkpoint,
    quarantine,
    save_checkpoint,
)
from storepipe.sources.tiktok_shop.client import RouteMissing, TikTokClient
from storepipe.sources.tiktok_shop.streams import Listing, TimeFilter, field_at
from storepipe.sources.windows import window_start
from storepipe.warehouse.tables import tiktok_shop_raw
from storepipe.warehouse.upsert import EMPTY, bulk_upsert

RAW_COLUMNS = ("shop_key", "id", "parent_id", "modified_at", "payload", "fetched_at", "deleted_at")
# TikTok Shop opened in 2021 and finance data starts 2023-07-01 (research §4): an import from 2020 misses nothing.
HISTORY_START = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp())
_DAY = 86400


@dataclass(frozen=True)
class TikTokSyncOptions:
    """What one sync of one TikTok shop does; built from the Dagster run config or the CLI."""

    mode: str = "incremental"  # "full": every record; "incremental": what changed since the last sync - lookback
    window: str | None = None  # "30d" | "90d" | "365d": only records of the last N shop-local days (full mode)
    since: str | None = None  # or from this shop-local date
    lookback: timedelta = timedelta(hours=72)  # Dashboardly's 3-day lookback
    page_size: int = 100
    concurrency: int = 4
    requests_per_second: int | None = None  # per API; None: the client's default
    full_refresh: frozenset[str] = frozenset()  # listings read in full even in an incremental sync
    windows: int = 8  # time windows a full import pages in parallel


@dataclass
class Plan:
    """The units of one listing in one sync. A unit is (window start, window end) or a parent id / id chunk."""

    units: list[Any]
    mode: str  # "created" | "updated" | "none" | "parents"


@dataclass
class _Progress:
    next: int = 0  # every unit below this index is done
    done: set[int] = field(default_factory=set)  # finished units at or above `next`
    tokens: dict[int, str] = field(default_factory=dict)  # open cursor chains

    def finish(self, index: int) -> None:
        self.tokens.pop(index, None)
        self.done.add(index)
        while self.next in self.done:
            self.done.discard(self.next)
            self.next += 1

    def as_state(self) -> dict[str, Any]:
        return {"next": self.next, "done": sorted(self.done), "tokens": {str(k): v for k, v in self.tokens.items()}}

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> _Progress:
        if not state:
            return cls()
        return cls(state["next"], set(state["done"]), {int(k): v for k, v in state["tokens"].items()})

    def is_done(self, index: int) -> bool:
        return index < self.next or index in self.done


@dataclass(frozen=True)
class SyncContext:
    """What every listing of one sync shares: the shop's clock at the start and the previous sync's start."""

    started: int  # server unix seconds when this sync began
    local_started: datetime  # our clock then: raw rows fetched since are "changed in this sync"
    previous_started: int | None  # None: no completed sync yet, everything is read in full

    @property
    def session(self) -> str:
        """Names this sync in checkpoints: our clock in microseconds (the server's may not have moved)."""
        return self.local_started.isoformat()


def _raw_row(shop: Shop, listing: Listing, record: dict[str, Any], parent: str | None) -> tuple[Any, ...] | str:
    """A raw row, or the reason the record cannot be stored."""
    record_id = listing.record_id(record)
    if record_id is None:
        return f"record without {listing.id_field}"
    modified: datetime | None = None
    if listing.modified_field:
        value = record.get(listing.modified_field)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return f"{listing.modified_field} is not a unix time: {value!r}"
        modified = datetime.fromtimestamp(value, UTC)
    if listing.parent_field:
        parent = str(record.get(listing.parent_field) or "") or parent
    return (shop.key, record_id, parent, modified, orjson.dumps(record).decode(), datetime.now(UTC), None)


class ListingSync:
    """Reads one listing of one shop completely (or its changes), writing raw and checkpoints as it goes."""

    def __init__(
        self,
        engine: sa.Engine,
        client: TikTokClient,
        shop: Shop,
        listing: Listing,
        options: TikTokSyncOptions,
        context: SyncContext,
        progress: ProgressTracker,
        result: StreamResult,
        *,
        run_id: str | None = None,
    ) -> None:
        self.engine, self.client, self.shop, self.listing = engine, client, shop, listing
        self.options, self.context, self.progress, self.result = options, context, progress, result
        self.run_id = run_id
        self.table = tiktok_shop_raw[listing.name]
        self._write_lock = threading.Lock()
        self._state = _Progress()

    # ------------------------------------------------------------------ planning

    def _full(self) -> bool:
        return (
            self.options.mode == "full"
            or self.context.previous_started is None
            or self.listing.name in self.options.full_refresh
        )

    def plan(self) -> Plan:
        listing, end = self.listing, self.context.started + 1
        if listing.kind in ("per_parent", "detail", "id_chunks"):
            parents = self._changed_parents()
            if listing.kind == "id_chunks":
                size = listing.chunk_size
                return Plan([parents[i : i + size] for i in range(0, len(parents), size)], "parents")
            return Plan(parents, "parents")
        if listing.kind == "date_ranges":
            return Plan(self._date_ranges(end), "dates")
        if listing.kind == "single" or (listing.created is None and listing.updated is None):
            return Plan([None], "none")
        if self._full() or listing.updated is None:
            first = self._history_start()
            if not self._full() and listing.lookback_days:
                first = max(first, end - listing.lookback_days * _DAY)
            count = max(1, self.options.windows)
            step = max(1, -(-(end - first) // count))
            return Plan([[s, min(s + step, end)] for s in range(first, end, step)], "created")
        assert self.context.previous_started is not None
        first = self.context.previous_started - int(self.options.lookback.total_seconds())
        return Plan([[first, end]], "updated")

    def _history_start(self) -> int:
        """Where a full read begins: the window or `since` the user asked for, else the start of TikTok history."""
        start = window_start(self.shop, self.options.window, self.options.since)
        return int(start.timestamp()) if start else HISTORY_START

    def _date_ranges(self, end: int) -> list[list[int]]:
        """Whole UTC days up to today, in ranges of at most max_days; the last lookback_days when incremental."""
        today = end - end % _DAY
        first = self._history_start()
        if not self._full():
            first = max(first, today - (self.listing.lookback_days or 1) * _DAY)
        first -= first % _DAY
        step = self.listing.max_days * _DAY
        return [[s, min(s + step, today + _DAY)] for s in range(first, today + _DAY, step)]

    def _changed_parents(self) -> list[str]:
        """Ids of the parent listing's records written in this sync (all of them in a full sync)."""
        parent = tiktok_shop_raw[self.listing.parent or ""]
        query = sa.select(parent.c.id).where(parent.c.shop_key == self.shop.key, parent.c.deleted_at.is_(None))
        if not self._full():
            query = query.where(parent.c.fetched_at >= self.context.local_started)
        with self.engine.connect() as conn:
            return sorted(conn.execute(query).scalars())

    # ------------------------------------------------------------------ running

    def done(self) -> bool:
        """Finished by an earlier (killed) run of this same sync."""
        stored = load_checkpoint(self.engine, self.shop.key, f"{self.listing.name}:plan")
        return bool(stored and stored.get("session") == self.context.session and stored.get("completed"))

    def run(self) -> None:
        key = self.listing.name
        stored = load_checkpoint(self.engine, self.shop.key, f"{key}:plan")
        if stored and stored.get("session") == self.context.session and stored.get("completed"):
            return
        if stored and stored.get("session") == self.context.session:
            plan = Plan(stored["units"], stored["mode"])
            self._state = _Progress.from_state(load_checkpoint(self.engine, self.shop.key, key))
        else:
            plan = self.plan()
            with self.engine.begin() as conn:
                state = {"session": self.context.session, "units": plan.units, "mode": plan.mode}
                save_checkpoint(conn, self.shop.key, f"{key}:plan", state, self.run_id)
                clear_checkpoint(conn, self.shop.key, key)
        todo = [i for i in range(len(plan.units)) if not self._state.is_done(i)]
        try:
            self._run_units(plan, todo)
        except RouteMissing as missing:
            if not self.listing.optional:
                raise
            self.result.skipped = f"{key}: endpoint not available ({missing.code})"
            self.progress.report(f"{self.shop.key}/{key}: skipped, the API has no such endpoint ({missing.code})")
        with self.engine.begin() as conn:  # a resumed run of this sync skips the listing
            done = {"session": self.context.session, "completed": True}
            save_checkpoint(conn, self.shop.key, f"{key}:plan", done, self.run_id)
            clear_checkpoint(conn, self.shop.key, key)

    def _run_units(self, plan: Plan, todo: list[int]) -> None:
        if len(todo) <= 1 or self.options.concurrency <= 1:
            for index in todo:
                self._run_unit(plan, index)
            return
        with ThreadPoolExecutor(self.options.concurrency, thread_name_prefix=f"tts-{self.listing.name}") as pool:
            futures = [pool.submit(self._run_unit, plan, index) for index in todo]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def _run_unit(self, plan: Plan, index: int) -> None:
        unit = plan.units[index]
        listing = self.listing
        if listing.kind == "detail":
            data = self.client.call(listing.method, listing.path.format(id=unit), api=listing.api)
            self._write(index, [data] if data else [], None, str(unit))
            return
        if listing.kind == "id_chunks":
            data = self.client.call(listing.method, listing.path, body={listing.chunk_field: unit}, api=listing.api)
            self._write(index, field_at(data, listing.list_key or "") or [], None, None)
            return
        if listing.kind in ("single", "date_ranges"):
            query = _date_query(unit) if listing.kind == "date_ranges" else None
            data = self.client.call(listing.method, listing.path, query, api=listing.api)
            self._write(index, field_at(data, listing.list_key or "") or [], None, None)
            return
        self._run_chain(plan, index, unit)

    def _run_chain(self, plan: Plan, index: int, unit: Any) -> None:
        listing = self.listing
        path = listing.path.format(id=unit) if listing.kind == "per_parent" else listing.path
        parent = str(unit) if listing.kind == "per_parent" else None
        time_filter = {"created": listing.created, "updated": listing.updated}.get(plan.mode)
        filters = _window(time_filter, unit) if time_filter else {}
        with self._write_lock:
            token = self._state.tokens.get(index, "")
        counted = bool(token)  # a resumed chain's total was counted by the run that started it
        while True:
            query: dict[str, Any] = dict(listing.sort)
            if listing.page_size:
                query["page_size"] = min(listing.page_size, self.options.page_size)
            if token:
                query["page_token"] = token
            body: dict[str, Any] | None = None
            if time_filter and time_filter.in_query:
                query |= filters
            elif listing.method == "POST":
                body = dict(filters)
            data = self.client.call(listing.method, path, query, body, api=listing.api)
            total = data.get("total_count")
            if not counted and isinstance(total, int):
                counted = True
                if listing.cap and total > listing.cap and plan.mode != "parents":
                    self._split(plan, index, unit, total)
                    return
                self.progress.set_total((self.progress.total or 0) + total)
            records = field_at(data, listing.list_key or "") or []
            token = str(data.get("next_page_token") or "")
            self._write(index, records, token or None, parent)
            if not token:
                return

    def _split(self, plan: Plan, index: int, unit: list[int], total: int) -> None:
        """A window holding more than the search serves (10,000 products [C1]) becomes two new units.

        The halves join the stored plan and this unit is marked done in one transaction, so a resumed run
        pages the halves, never the window that cannot be read whole."""
        first, end = unit
        if end - first < 2:
            raise RuntimeError(
                f"shop {self.shop.key!r}: {total} {self.listing.name} share one second of update_time; "
                f"the search serves {self.listing.cap}"
            )
        middle = (first + end) // 2
        with self._write_lock, self.engine.begin() as conn:
            halves = [len(plan.units), len(plan.units) + 1]
            plan.units.extend([[first, middle], [middle, end]])
            state = {"session": self.context.session, "units": plan.units, "mode": plan.mode}
            save_checkpoint(conn, self.shop.key, f"{self.listing.name}:plan", state, self.run_id)
            self._state.finish(index)
            save_checkpoint(conn, self.shop.key, self.listing.name, self._state.as_state(), self.run_id)
        for half in halves:
            self._run_chain(plan, half, plan.units[half])

    def _write(self, index: int, records: list[dict[str, Any]], next_token: str | None, parent: str | None) -> None:
        rows, bad = [], []
        for record in records:
            row = _raw_row(self.shop, self.listing, record, parent) if isinstance(record, dict) else "not an object"
            (bad.append((record, row)) if isinstance(row, str) else rows.append(row))
        with self._write_lock, self.engine.begin() as conn:
            written = (
                bulk_upsert(conn, self.table, rows, columns=RAW_COLUMNS, key=("shop_key", "id"), version="modified_at")
                if rows
                else EMPTY
            )
            for record, reason in bad:
                source = self.listing.record_id(record) if isinstance(record, dict) else None
                quarantine(conn, self.shop.key, self.listing.name, source or "?", reason, record, self.run_id)
            if next_token:
                self._state.tokens[index] = next_token
            else:
                self._state.finish(index)
            save_checkpoint(conn, self.shop.key, self.listing.name, self._state.as_state(), self.run_id)
            self.result.fetched += len(records)
            self.result.written = self.result.written + written
            self.result.quarantined += len(bad)
        self.progress.advance(len(records))


def _date_query(unit: list[int]) -> dict[str, str]:
    first, end = (datetime.fromtimestamp(t, UTC).date().isoformat() for t in unit)
    return {"start_date_ge": first, "end_date_lt": end, "granularity": "1D", "currency": "LOCAL"}


def _window(time_filter: TimeFilter, unit: list[int]) -> dict[str, int]:
    first, end = unit
    upper = end - 1 if time_filter.inclusive_upper else end
    return {time_filter.ge: first, time_filter.lt: upper}


def run_listings(
    engine: sa.Engine,
    client: TikTokClient,
    shop: Shop,
    listings: tuple[Listing, ...],
    options: TikTokSyncOptions,
    context: SyncContext,
    progress: ProgressTracker,
    *,
    run_id: str | None = None,
) -> StreamResult:
    """Read a stage's listings in order; the figures of all of them in one result.

    A stage that an earlier, killed run of the same sync finished is not read again, and its progress row
    keeps that run's figures (`already_done`)."""
    result = StreamResult(stream=progress.entity)
    started = time.monotonic()
    requests_before = client.requests_sent
    syncs = [ListingSync(engine, client, shop, listing, options, context, progress, result, run_id=run_id)
             for listing in listings]  # fmt: skip
    if all(sync.done() for sync in syncs):
        result.already_done = True
        return result
    progress.start()
    for sync in syncs:
        sync.run()
    result.requests = client.requests_sent - requests_before
    result.seconds = time.monotonic() - started
    return result
