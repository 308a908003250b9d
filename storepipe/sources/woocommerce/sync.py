"""The WooCommerce import engine: plans sweeps per stream, fetches pages concurrently, upserts raw, checkpoints.

A *sweep* pages through one listing (path + filters) ordered by id ascending. WooCommerce pages are
addressable, so the pages of a sweep are fetched concurrently; rows are written by the calling
thread in batches, and each batch commits together with the checkpoint that lists its pages as done,
so a killed run resumes without refetching a completed page. Sorting by id keeps pages stable while
records are added (they land at the end, which the tail pass collects); a drop in X-WP-Total during
a sweep means something was trashed or deleted and earlier pages shifted, so a gap check lists ids
(`_fields=id`) and fetches whatever raw does not have.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import sqlalchemy as sa

from storepipe.shops import Shop
from storepipe.sources.bookkeeping import ProgressTracker, load_checkpoint, quarantine, save_checkpoint
from storepipe.sources.woocommerce.client import Page, RouteMissing, StoreInfo, WooClient
from storepipe.sources.woocommerce.streams import Stream
from storepipe.warehouse.tables import woocommerce_raw
from storepipe.warehouse.upsert import EMPTY, UpsertResult, bulk_upsert

RAW_COLUMNS = ("shop_key", "id", "parent_id", "modified_gmt", "payload", "fetched_at", "deleted_at")
_WC_DATE = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True)
class SyncOptions:
    """What one sync of one shop does; built from the Dagster run config or the CLI."""

    mode: str = "incremental"  # "full" re-reads everything; "incremental" reads what changed since last time
    created_after: datetime | None = None  # window/since: only orders and subscriptions created after this
    lookback: timedelta = timedelta(hours=72)
    full_refresh: frozenset[str] = frozenset()
    per_page: int = 100
    concurrency: int = 4
    resweep: timedelta = timedelta(days=7)
    customers_full_every: timedelta = timedelta(days=7)
    batch_rows: int = 1000


@dataclass
class StreamResult:
    """What a stream's sync did, for metadata, the summary and tests."""

    stream: str
    fetched: int = 0
    written: UpsertResult = EMPTY
    quarantined: int = 0
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
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "records_per_second": round(self.fetched / self.seconds, 1) if self.seconds else 0.0,
        }
        if self.skipped:
            figures["skipped"] = self.skipped
        return figures


def wc_date(moment: datetime) -> str:
    """A naive UTC timestamp for filters sent with dates_are_gmt=true.

    An offset or 'Z' would be shifted to the site's timezone by WP_Date_Query even against the _gmt
    columns (research sheet §3), so the value is sent without one.
    """
    return moment.astimezone(UTC).strftime(_WC_DATE)


def parse_gmt(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value[:19], _WC_DATE).replace(tzinfo=UTC)
    except ValueError:
        return None


def _ranges(pages: set[int]) -> list[list[int]]:
    """Completed pages as [first, last] ranges: a 2,500-page sweep checkpoints in a few bytes."""
    out: list[list[int]] = []
    for p in sorted(pages):
        if out and p == out[-1][1] + 1:
            out[-1][1] = p
        else:
            out.append([p, p])
    return out


def _unranges(ranges: list[list[int]]) -> set[int]:
    return {p for first, last in ranges for p in range(first, last + 1)}


@dataclass
class Sweep:
    """One listing to page through completely; `key` names it in the checkpoint."""

    key: str
    path: str
    params: dict[str, Any]
    parent_id: int | None = None
    # Id-descending sweep that stops at the first page reaching this id (new customers only).
    stop_at_id: int | None = None


class StreamSync:
    """Runs one stream for one shop: plan (or resume) sweeps, fetch, write raw, checkpoint, report progress."""

    def __init__(
        self,
        engine: sa.Engine,
        client: WooClient,
        shop: Shop,
        stream: Stream,
        store: StoreInfo,
        options: SyncOptions,
        progress: ProgressTracker,
        *,
        run_id: str | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.client = client
        self.shop = shop
        self.stream = stream
        self.store = store
        self.options = options
        self.progress = progress
        self.run_id = run_id
        self.now = now
        self.table = woocommerce_raw[stream.name]
        self.result = StreamResult(stream.name)

    # ------------------------------------------------------------------ planning

    def _full(self, state: dict[str, Any]) -> bool:
        return (
            self.options.mode == "full"
            or self.stream.name in self.options.full_refresh
            or not state.get("hwm")
            or (self.stream.name == "customers" and self._customers_due(state))
        )

    def _customers_due(self, state: dict[str, Any]) -> bool:
        last = state.get("last_full_at")
        return last is None or self.now() - datetime.fromisoformat(last) >= self.options.customers_full_every

    def _base_params(self, status: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"orderby": "id", "order": "asc", "dates_are_gmt": "true", **dict(self.stream.params)}
        if status:
            params["status"] = status
        if self.stream.created_filter and self.options.created_after:
            # `after` is strict; one second earlier keeps an order created exactly at the boundary.
            params["after"] = wc_date(self.options.created_after - timedelta(seconds=1))
        return params

    def plan(self, state: dict[str, Any], started: datetime) -> list[Sweep]:
        """The sweeps of this sync, computed once and saved in the checkpoint so a resume repeats them."""
        stream = self.stream
        if stream.parent:
            return self._plan_children(state, started)
        full = self._full(state)
        sweeps: list[Sweep] = []
        for status in stream.status_sweeps:
            params = self._base_params(status)
            label = f"{stream.name}:{status or 'all'}"
            if full:
                sweeps.append(Sweep(f"{label}:full", stream.path, params))
            elif stream.modified_filter and self.store.has_modified_filter:
                since = datetime.fromisoformat(state["hwm"]) - self.options.lookback
                window = {"modified_after": wc_date(since), "modified_before": wc_date(started)}
                sweeps.append(Sweep(f"{label}:modified", stream.path, params | window))
            elif stream.name == "customers":
                sweeps.extend(self._plan_customers(params, state))
            else:
                # Stores older than 5.8 have no modified filter: an id sweep is the only complete answer.
                sweeps.append(Sweep(f"{label}:full", stream.path, params))
        if stream.resweep and not full and status is not None:
            since = started - self.options.resweep
            created_after = max(since, self.options.created_after) if self.options.created_after else since
            params = self._base_params("any") | {"after": wc_date(created_after)}
            sweeps.append(Sweep(f"{stream.name}:resweep", stream.path, params))
        return sweeps

    def _plan_customers(self, params: dict[str, Any], state: dict[str, Any]) -> list[Sweep]:
        """Customers changed since the last sync, without a date filter: the newest ids, then everyone an
        order changed in this sync points at. (A weekly full sweep catches profile edits of customers
        who did not order; see Stream CUSTOMERS.)"""
        customers, orders = self.table, woocommerce_raw["orders"]
        since = datetime.fromisoformat(state["sync_started"]) - timedelta(minutes=5)
        with self.engine.connect() as conn:
            newest = conn.execute(
                sa.select(sa.func.max(customers.c.id)).where(customers.c.shop_key == self.shop.key)
            ).scalar_one()
            referenced = sorted(
                conn.execute(
                    sa.select(sa.distinct(orders.c.payload["customer_id"].as_integer())).where(
                        orders.c.shop_key == self.shop.key,
                        orders.c.fetched_at >= since,
                        orders.c.payload["customer_id"].as_integer() > 0,
                    )
                ).scalars()
            )
        sweeps = [Sweep("customers:newest", self.stream.path, params | {"order": "desc"}, stop_at_id=newest or 0)]
        for start in range(0, len(referenced), self.options.per_page):
            chunk = referenced[start : start + self.options.per_page]
            sweeps.append(
                Sweep(
                    f"customers:referenced:{chunk[0]}",
                    self.stream.path,
                    params | {"include": ",".join(map(str, chunk))},
                )
            )
        return sweeps

    def _plan_children(self, state: dict[str, Any], started: datetime) -> list[Sweep]:
        """Variations per variable product; refunds store-wide where the store has /refunds, else per order."""
        stream = self.stream
        full = self._full(state)
        if stream.name == "refunds" and self.store.has_refunds_endpoint:
            params = self._base_params(None)
            if not full:
                since = datetime.fromisoformat(state["hwm"]) - self.options.lookback
                params |= {"modified_after": wc_date(since), "modified_before": wc_date(started)}
            return [Sweep(f"refunds:{'full' if full else 'modified'}", "/refunds", params)]
        parent_table = woocommerce_raw[stream.parent or ""]
        if stream.name == "variations":
            wanted = parent_table.c.payload["type"].astext.in_(("variable", "variable-subscription"))
        else:  # refunds of orders whose summary lists refunds
            wanted = (
                sa.func.jsonb_array_length(sa.func.coalesce(parent_table.c.payload["refunds"], sa.text("'[]'::jsonb")))
                > 0
            )
        query = (
            sa.select(parent_table.c.id)
            .where(parent_table.c.shop_key == self.shop.key, wanted)
            .order_by(parent_table.c.id)
        )
        if not full:
            since = datetime.fromisoformat(state["sync_started"]) if state.get("sync_started") else started
            query = query.where(parent_table.c.fetched_at >= since - timedelta(minutes=5))
        with self.engine.connect() as conn:
            parents = list(conn.execute(query).scalars())
        path = stream.path if stream.name == "variations" else "/orders/{parent_id}/refunds"
        return [
            Sweep(f"{stream.name}:parent:{pid}", path.format(parent_id=pid), {"orderby": "id", "order": "asc"}, pid)
            for pid in parents
        ]

    # ------------------------------------------------------------------ running

    def run(self, *, sync_started: datetime) -> StreamResult:
        t0 = time.monotonic()
        requests_before = self.client.requests_sent
        state = load_checkpoint(self.engine, self.shop.key, self.stream.name) or {}
        in_progress = state.get("current_sync")
        if in_progress and in_progress.get("sync_started") == sync_started.isoformat():
            plan = [Sweep(**s) for s in in_progress["plan"]]
        else:
            try:
                plan = self.plan(state | {"sync_started": sync_started.isoformat()}, sync_started)
            except RouteMissing:
                plan = []
            in_progress = {
                "sync_started": sync_started.isoformat(),
                "full": self._full(state),
                "plan": [s.__dict__ for s in plan],
                "done": [],
                "pages": {},
                "fetched": 0,
            }
            self._save(state | {"current_sync": in_progress})
        self.progress.start(total=None, processed=in_progress["fetched"])
        try:
            for sweep in plan:
                if sweep.key in in_progress["done"]:
                    continue
                self.result.sweeps.append(sweep.key)
                self._run_sweep(sweep, state, in_progress)
        except RouteMissing as exc:
            if not self.stream.optional:
                raise
            self.result.skipped = f"endpoint not available on this store ({exc.url}); plugin not active?"
        finished = {k: v for k, v in state.items() if k not in ("current_sync",)} | {"hwm": sync_started.isoformat()}
        if in_progress["full"]:
            finished["last_full_at"] = sync_started.isoformat()
        self._save(finished)
        self.result.requests = self.client.requests_sent - requests_before
        self.result.seconds = time.monotonic() - t0
        return self.result

    def _save(self, state: dict[str, Any], conn: sa.Connection | None = None) -> None:
        if conn is not None:
            save_checkpoint(conn, self.shop.key, self.stream.name, state, self.run_id)
            return
        with self.engine.begin() as own:
            save_checkpoint(own, self.shop.key, self.stream.name, state, self.run_id)

    def _fetch(self, sweep: Sweep, page: int) -> Page:
        return self.client.page(sweep.path, sweep.params, page, self.options.per_page)

    def _run_sweep(self, sweep: Sweep, state: dict[str, Any], in_progress: dict[str, Any]) -> None:
        per_page = self.options.per_page
        pages_state = in_progress["pages"].setdefault(sweep.key, {"planned": None, "done": [], "totals": []})
        if sweep.stop_at_id is not None:
            self._run_newest(sweep, pages_state, state, in_progress)
            return
        done = _unranges(pages_state["done"])
        pending: dict[int, Page] = {}
        if pages_state["planned"] is None:
            first = self._fetch(sweep, 1)
            pages_state["planned"] = max(1, first.total_pages or 1)
            pages_state["totals"] = [first.total or 0]
            pending[1] = first
        planned = pages_state["planned"]
        self.progress.set_total(self._estimated_total(in_progress))
        todo = [p for p in range(1, planned + 1) if p not in done and p not in pending]

        def write(batch: dict[int, Page]) -> None:
            self._write(sweep, batch, pages_state, done, state, in_progress)

        # Concurrent fetches; the calling thread writes batches as pages arrive.
        with ThreadPoolExecutor(max_workers=max(1, self.options.concurrency), thread_name_prefix="woo") as pool:
            futures: dict[Future[Page], int] = {}
            queue: Iterator[int] = iter(todo)
            for page in queue:
                futures[pool.submit(self._fetch, sweep, page)] = page
                if len(futures) >= self.options.concurrency * 2:
                    break
            while futures:
                finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in finished:
                    page = futures.pop(future)
                    pending[page] = future.result()
                    nxt = next(queue, None)
                    if nxt is not None:
                        futures[pool.submit(self._fetch, sweep, nxt)] = nxt
                if sum(len(p.records) for p in pending.values()) >= self.options.batch_rows:
                    write(pending)
                    pending = {}
        if pending:
            write(pending)

        # Tail: records created while we paged land after the planned pages (id ascending). Re-read the
        # last planned page (it may have filled up) and continue until a page comes back short.
        page = planned
        while True:
            result = self._fetch(sweep, page)
            write({page: result})
            if len(result.records) < per_page:
                break
            page += 1
        totals = pages_state["totals"]
        if any(later < earlier for earlier, later in pairwise(totals)):
            self._gap_check(sweep, state, in_progress)
        in_progress["done"].append(sweep.key)
        in_progress["pages"].pop(sweep.key, None)
        self._save(state | {"current_sync": in_progress})

    def _run_newest(
        self, sweep: Sweep, pages_state: dict[str, Any], state: dict[str, Any], in_progress: dict[str, Any]
    ) -> None:
        """Page an id-descending listing until it reaches an id raw already has."""
        page = 1
        while True:
            result = self._fetch(sweep, page)
            new = [r for r in result.records if isinstance(r.get("id"), int) and r["id"] > (sweep.stop_at_id or 0)]
            self._write(
                sweep, {page: Page(new, result.total, result.total_pages)}, pages_state, set(), state, in_progress
            )
            if len(new) < len(result.records) or len(result.records) < self.options.per_page:
                break
            page += 1
        in_progress["done"].append(sweep.key)
        in_progress["pages"].pop(sweep.key, None)
        self._save(state | {"current_sync": in_progress})

    def _estimated_total(self, in_progress: dict[str, Any]) -> int | None:
        pages = in_progress["pages"]
        if not pages:
            return None
        remaining = sum(
            max(0, (p["totals"][-1] if p["totals"] else 0) - len(_unranges(p["done"])) * self.options.per_page)
            for p in pages.values()
        )
        return in_progress["fetched"] + remaining

    def _write(
        self,
        sweep: Sweep,
        batch: dict[int, Page],
        pages_state: dict[str, Any],
        done: set[int],
        state: dict[str, Any],
        in_progress: dict[str, Any],
    ) -> None:
        rows, bad = self._rows(sweep, [r for p in batch.values() for r in p.records])
        fetched = sum(len(p.records) for p in batch.values())
        with self.engine.begin() as conn:
            result = (
                bulk_upsert(conn, self.table, rows, columns=RAW_COLUMNS, key=("shop_key", "id"), version="modified_gmt")
                if rows
                else EMPTY
            )
            for record, reason in bad:
                quarantine(
                    conn, self.shop.key, self.stream.name, str(record.get("id", "?")), reason, record, self.run_id
                )
            done.update(batch)
            pages_state["done"] = _ranges(done)
            pages_state["totals"].extend(p.total for p in batch.values() if p.total is not None)
            in_progress["fetched"] += fetched
            self._save(state | {"current_sync": in_progress}, conn)
        self.result.fetched += fetched
        self.result.written = self.result.written + result
        self.result.quarantined += len(bad)
        self.progress.advance(fetched)

    def _rows(self, sweep: Sweep, records: list[dict[str, Any]]) -> tuple[list[tuple], list[tuple[dict, str]]]:
        """Raw rows as delivered. Only a record without a usable id cannot be stored: it is quarantined."""
        now = datetime.now(UTC)
        rows: list[tuple] = []
        bad: list[tuple[dict, str]] = []
        for record in records:
            rid = record.get("id") if isinstance(record, dict) else None
            if not isinstance(rid, int) or isinstance(rid, bool):
                bad.append((record if isinstance(record, dict) else {"value": record}, "record has no integer id"))
                continue
            modified = parse_gmt(record.get("date_modified_gmt")) or parse_gmt(record.get("date_created_gmt"))
            parent = sweep.parent_id if sweep.parent_id is not None else record.get("parent_id")
            deleted = now if record.get("status") == "trash" else None
            rows.append(
                (
                    self.shop.key,
                    rid,
                    parent if isinstance(parent, int) and self.stream.parent else None,
                    modified,
                    json.dumps(record, separators=(",", ":")),
                    now,
                    deleted,
                )
            )
        return rows, bad

    def _gap_check(self, sweep: Sweep, state: dict[str, Any], in_progress: dict[str, Any]) -> None:
        """List every id of the sweep cheaply and fetch any that raw lacks (pages shifted under a deletion)."""
        listed: set[int] = set()
        params = sweep.params | {"_fields": "id"}
        page = 1
        while True:
            result = self.client.page(sweep.path, params, page, self.options.per_page)
            listed.update(r["id"] for r in result.records if isinstance(r.get("id"), int))
            if len(result.records) < self.options.per_page:
                break
            page += 1
        with self.engine.connect() as conn:
            known = set(
                conn.execute(
                    sa.select(self.table.c.id).where(
                        self.table.c.shop_key == self.shop.key, self.table.c.id.in_(listed)
                    )
                ).scalars()
            )
        missing = sorted(listed - known)
        for start in range(0, len(missing), self.options.per_page):
            chunk = missing[start : start + self.options.per_page]
            include = {k: v for k, v in sweep.params.items() if k not in ("after", "modified_after", "modified_before")}
            include["include"] = ",".join(map(str, chunk))
            result = self.client.page(sweep.path, include, 1, self.options.per_page)
            pages_state = {"done": [], "totals": []}
            self._write(sweep, {0: result}, pages_state, set(), state, in_progress)
