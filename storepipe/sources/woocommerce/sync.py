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

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import sqlalchemy as sa

from storepipe.http import HttpError
from storepipe.shops import Shop
from storepipe.sources.bookkeeping import ProgressTracker, StreamResult, load_checkpoint, save_checkpoint
from storepipe.sources.woocommerce.client import Page, RouteMissing, StoreInfo, WooClient
from storepipe.sources.woocommerce.options import SyncOptions, window_start
from storepipe.sources.woocommerce.raw import InvalidJson, array_text, write_array
from storepipe.sources.woocommerce.streams import Stream
from storepipe.warehouse.tables import woocommerce_raw

_WC_DATE = "%Y-%m-%dT%H:%M:%S"


def wc_date(moment: datetime) -> str:
    """A naive UTC timestamp for filters sent with dates_are_gmt=true.

    An offset or 'Z' would be shifted to the site's timezone by WP_Date_Query even against the _gmt
    columns (research sheet §3), so the value is sent without one.
    """
    return moment.astimezone(UTC).strftime(_WC_DATE)


REFETCH_INVALID = 4


class InvalidPage(Exception):
    """Array `index` of a write was refused by PostgreSQL as JSON."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index, self.reason = index, reason


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


class WriteBehind:
    """Commits batches one at a time on a thread of its own, so pages keep arriving while a batch is written.

    Any thread may submit (a stream's sweeps run concurrently): writes run in submission order on the one
    writer thread, so two sweeps' transactions never lock the same raw rows in opposite orders, and the
    checkpoint is only ever changed and saved there. At most `depth` writes wait, which bounds memory. The first
    failure is raised by every later submit() and at exit; writes already submitted still commit (less to
    fetch again on resume)."""

    def __init__(self, depth: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="woo-writer")
        self._slots = threading.Semaphore(depth)
        self._failure: BaseException | None = None

    def submit(self, write: Callable[[], None]) -> Future[None]:
        """Queue `write`; its future raises what the write raised."""
        if self._failure is not None:
            raise self._failure
        self._slots.acquire()
        return self._pool.submit(self._run, write)

    def _run(self, write: Callable[[], None]) -> None:
        try:
            write()
        except BaseException as exc:
            self._failure = self._failure or exc
            raise
        finally:
            self._slots.release()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)
        if exc[0] is None and self._failure is not None:
            raise self._failure


@dataclass
class Sweep:
    """One listing to page through completely; `key` names it in the checkpoint."""

    key: str
    path: str
    params: dict[str, Any]
    # Id-descending sweep that stops at the first page reaching this id (new customers only).
    stop_at_id: int | None = None
    # Only update records raw already has: a status=trash sweep marks known records deleted, but does not
    # import records that were trashed before storepipe ever saw them (they are counted, not stored).
    known_only: bool = False


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
    ) -> None:
        self.engine = engine
        self.client = client
        self.shop = shop
        self.stream = stream
        self.store = store
        self.options = options
        self.progress = progress
        self.run_id = run_id
        self.table = woocommerce_raw[stream.name]
        self.result = StreamResult(stream.name)
        self.local_started = self.sync_started = datetime.now(UTC)  # set for real by run()
        self.created_after: datetime | None = None
        self._in_flight = threading.BoundedSemaphore(max(1, options.concurrency))
        self._writer = WriteBehind()  # replaced by run()'s, which every write of a sync goes through

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
        return last is None or self.sync_started - datetime.fromisoformat(last) >= self.options.customers_full_every

    def _base_params(self, status: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"orderby": "id", "order": "asc", "dates_are_gmt": "true", **dict(self.stream.params)}
        if status:
            params["status"] = status
        if self.stream.created_filter and self.created_after:
            # `after` is strict; one second earlier keeps an order created exactly at the boundary.
            params["after"] = wc_date(self.created_after - timedelta(seconds=1))
        return params

    def plan(self, state: dict[str, Any], started: datetime) -> list[Sweep]:
        """The sweeps of this sync, computed once and saved in the checkpoint so a resume repeats them."""
        stream = self.stream
        full = self._full(state)
        if stream.name == "refunds":  # store-wide /refunds (WC >= 9.0); the refunds' own dates filter it
            params = self._base_params(None)
            if not full:
                since = datetime.fromisoformat(state["hwm"]) - self.options.lookback
                params |= {"modified_after": wc_date(since), "modified_before": wc_date(started)}
            return [Sweep(f"refunds:{'full' if full else 'modified'}", "/refunds", params)]
        sweeps: list[Sweep] = []
        for status in stream.status_sweeps:
            params = self._base_params(status)
            label = f"{stream.name}:{status or 'all'}"
            trash = status == "trash"
            if full:
                sweeps.append(Sweep(f"{label}:full", stream.path, params, known_only=trash))
            elif stream.modified_filter and self.store.has_modified_filter:
                since = datetime.fromisoformat(state["hwm"]) - self.options.lookback
                window = {"modified_after": wc_date(since), "modified_before": wc_date(started)}
                sweeps.append(Sweep(f"{label}:modified", stream.path, params | window, known_only=trash))
            elif stream.name == "customers":
                sweeps.extend(self._plan_customers(params, state))
            else:
                # Stores older than 5.8 have no modified filter: an id sweep is the only complete answer.
                sweeps.append(Sweep(f"{label}:full", stream.path, params, known_only=trash))
        if stream.resweep and not full:
            since = started - (
                self.options.resweep_with_refunds_endpoint if self.store.has_refunds_endpoint else self.options.resweep
            )
            created_after = max(since, self.created_after) if self.created_after else since
            params = self._base_params("any") | {"after": wc_date(created_after)}
            sweeps.append(Sweep(f"{stream.name}:resweep", stream.path, params))
        return sweeps

    def _plan_customers(self, params: dict[str, Any], state: dict[str, Any]) -> list[Sweep]:
        """Customers changed since the last sync, without a date filter: the newest ids, then everyone an
        order changed in this sync points at. (A weekly full sweep catches profile edits of customers
        who did not order; see Stream CUSTOMERS.)"""
        customers, orders = self.table, woocommerce_raw["orders"]
        since = self.local_started  # raw.fetched_at is on this machine's clock
        with self.engine.connect() as conn:
            newest = conn.execute(
                sa.select(sa.func.max(customers.c.id)).where(customers.c.shop_key == self.shop.key)
            ).scalar_one()
            referenced = sorted(
                conn.execute(
                    sa.select(orders.c.payload["customer_id"].as_integer())
                    .distinct()
                    .where(
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

    def _plan_children(self, state: dict[str, Any], started: datetime) -> tuple[str, list[int]]:
        """Variations per variable product; refunds per order on stores without /refunds (before 9.0).

        A full sync reads the children of every such parent; an incremental one only of the parents
        changed in this sync (a new refund re-saves its order, a variation edit does not bump its
        product: the weekly customers-style full pass is left to `full_refresh`)."""
        stream = self.stream
        parent_table = woocommerce_raw[stream.parent or ""]
        if stream.name == "variations":
            wanted = parent_table.c.payload["type"].astext.in_(("variable", "variable-subscription"))
            path = stream.path
        else:  # refunds of orders whose summary lists refunds
            refunds = sa.func.coalesce(parent_table.c.payload["refunds"], sa.text("'[]'::jsonb"))
            wanted = sa.func.jsonb_array_length(refunds) > 0
            path = "/orders/{parent_id}/refunds"
        query = sa.select(parent_table.c.id).where(parent_table.c.shop_key == self.shop.key, wanted)
        if not self._full(state):
            query = query.where(parent_table.c.fetched_at >= self.local_started)
        with self.engine.connect() as conn:
            return path, list(conn.execute(query).scalars())

    # ------------------------------------------------------------------ running

    def run(self, *, sync_started: datetime, local_started: datetime) -> StreamResult:
        """Sync the stream. `sync_started` is the sync's start on the store's clock (API windows);
        `local_started` the same moment on this machine's clock (compared with raw.fetched_at)."""
        t0 = time.monotonic()
        self.local_started = local_started
        self.sync_started = sync_started
        self.created_after = window_start(self.shop, self.options.window, self.options.since, now=sync_started)
        requests_before = self.client.requests_sent
        state = load_checkpoint(self.engine, self.shop.key, self.stream.name) or {}
        # A session is named by its start on our clock (microseconds): the store's clock may not have moved.
        session_id = local_started.isoformat()
        if state.get("completed_sync") == session_id:
            # Finished by an earlier run of this same sync (which was killed later, in another stream).
            self.result.already_done = True
            return self.result
        in_progress = state.get("current_sync")
        if not in_progress or in_progress.get("session") != session_id:
            in_progress = self._new_plan(state, sync_started) | {"session": session_id}
            self._save(state | {"current_sync": in_progress})
        self.progress.start(total=None, processed=in_progress["fetched"])
        try:
            with WriteBehind() as self._writer:
                self._run_sweeps([Sweep(**s) for s in in_progress["plan"]], state, in_progress)
                if in_progress.get("children"):
                    self._run_children(in_progress["children"], state, in_progress)
        except RouteMissing as exc:
            if not self.stream.optional:
                raise
            self.result.skipped = f"endpoint not available on this store ({exc.url}); plugin not active?"
        finished = {k: v for k, v in state.items() if k != "current_sync"} | {
            "hwm": sync_started.isoformat(),
            "completed_sync": session_id,
        }
        if in_progress["full"]:
            finished["last_full_at"] = sync_started.isoformat()
        self._save(finished)
        self.result.requests = self.client.requests_sent - requests_before
        self.result.seconds = time.monotonic() - t0
        return self.result

    def _new_plan(self, state: dict[str, Any], sync_started: datetime) -> dict[str, Any]:
        planning_state = state | {"sync_started": sync_started.isoformat()}
        sweeps: list[Sweep] = []
        children: dict[str, Any] | None = None
        try:
            if self.stream.parent and not (self.stream.name == "refunds" and self.store.has_refunds_endpoint):
                path, parents = self._plan_children(planning_state, sync_started)
                children = {"path": path, "parents": _ranges(set(parents)), "done": []}
            else:
                sweeps = self.plan(planning_state, sync_started)
        except RouteMissing:
            pass
        return {
            "sync_started": sync_started.isoformat(),
            "full": self._full(state),
            "plan": [s.__dict__ for s in sweeps],
            "children": children,
            "done": [],
            "pages": {},
            "fetched": 0,
        }

    def _save(self, state: dict[str, Any], conn: sa.Connection | None = None) -> None:
        if conn is not None:
            save_checkpoint(conn, self.shop.key, self.stream.name, state, self.run_id)
            return
        with self.engine.begin() as own:
            save_checkpoint(own, self.shop.key, self.stream.name, state, self.run_id)

    def _get(self, path: str, params: dict[str, Any], page: int, per_page: int) -> Page:
        """One listing page, within the stream's budget of requests in flight (its sweeps share it)."""
        with self._in_flight:
            return self.client.page(path, params, page, per_page)

    def _fetch(self, sweep: Sweep, page: int) -> Page:
        return self._get(sweep.path, sweep.params, page, self.options.per_page)

    def _concurrently(self, func: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        """(item, func(item)) as they complete, with a bounded number in flight."""
        limit = max(1, self.options.concurrency)
        pending = iter(items)
        with ThreadPoolExecutor(max_workers=limit, thread_name_prefix=f"woo-{self.stream.name}") as pool:
            futures: dict[Future[Any], Any] = {}
            for item in pending:
                futures[pool.submit(func, item)] = item
                if len(futures) >= limit * 2:
                    break
            while futures:
                finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in finished:
                    item = futures.pop(future)
                    yield item, future.result()
                    nxt = next(pending, None)
                    if nxt is not None:
                        futures[pool.submit(func, nxt)] = nxt

    def _run_sweeps(self, sweeps: list[Sweep], state: dict[str, Any], in_progress: dict[str, Any]) -> None:
        """Page the plan's unfinished sweeps concurrently: they are independent listings, and an incremental
        sync's handful of small sweeps (modified, trash, re-sweep; customers by id) would otherwise wait on
        each other's round trips. They share the stream's requests in flight and its one writer."""
        todo = [sweep for sweep in sweeps if sweep.key not in in_progress["done"]]
        for sweep in todo:
            self.result.sweeps.append(sweep.key)
            in_progress["pages"].setdefault(sweep.key, {"planned": None, "done": [], "totals": []})
        for _sweep, _done in self._concurrently(lambda sweep: self._run_sweep(sweep, state, in_progress), todo):
            pass

    def _finish_sweep(self, sweep: Sweep, state: dict[str, Any], in_progress: dict[str, Any]) -> None:
        def finish() -> None:
            in_progress["done"].append(sweep.key)
            in_progress["pages"].pop(sweep.key, None)
            self._save(state | {"current_sync": in_progress})

        self._writer.submit(finish).result()

    def _run_sweep(self, sweep: Sweep, state: dict[str, Any], in_progress: dict[str, Any]) -> None:
        per_page = self.options.per_page
        pages_state = in_progress["pages"][sweep.key]  # changed only by marks, on the writer thread
        if sweep.stop_at_id is not None:
            self._run_newest(sweep, state, in_progress)
            return
        done = _unranges(pages_state["done"])
        writes: list[Future[None]] = []

        def write(batch: dict[int, Page], planned: int | None = None) -> None:
            def mark() -> None:
                if planned is not None:
                    pages_state["planned"] = planned
                done.update(batch)
                pages_state["done"] = _ranges(done)
                pages_state["totals"].extend(p.total for p in batch.values() if p.total is not None)

            writes.append(self._writer.submit(lambda: self._commit_pages(sweep, batch, state, in_progress, mark)))

        def committed() -> None:
            for future in writes:
                future.result()

        planned = pages_state["planned"]
        skip = set(done)
        if planned is None:
            first = self._fetch(sweep, 1)
            planned = max(1, first.total_pages or 1)
            write({1: first}, planned)
            skip.add(1)
        self.progress.set_total(self._estimated_total(in_progress))
        todo = [p for p in range(1, planned + 1) if p not in skip]
        pending: dict[int, Page] = {}
        for page, result in self._concurrently(lambda p: self._fetch(sweep, p), todo):
            pending[page] = result
            # Commit every wave of pages: a kill loses at most the pages in flight, never finished work.
            if len(pending) >= self.options.concurrency or len(pending) * per_page >= self.options.batch_rows:
                write(pending)
                pending = {}
        if pending:
            write(pending)
        committed()

        # Tail: records created while we paged land after the planned pages (id ascending). When a page
        # reported a larger X-WP-Total than the first, re-read the last page and go on until one comes back
        # short. (Records created after the last answer are read by the next sync's modified window.)
        totals = pages_state["totals"]
        if totals and max(totals) > totals[0]:
            page = planned
            while True:
                result = self._fetch(sweep, page)
                write({page: result})
                if len(result.records) < per_page:
                    break
                page += 1
            committed()
        if any(later < earlier for earlier, later in pairwise(totals)):
            self._gap_check(sweep, state, in_progress)
        self._finish_sweep(sweep, state, in_progress)

    def _run_newest(self, sweep: Sweep, state: dict[str, Any], in_progress: dict[str, Any]) -> None:
        """Page an id-descending listing until it reaches an id raw already has."""
        page = 1
        while True:
            result = self._fetch(sweep, page)
            new = [r for r in result.records if isinstance(r.get("id"), int) and r["id"] > (sweep.stop_at_id or 0)]
            body = array_text(new)
            self._writer.submit(lambda body=body: self._write([(body, None)], state, in_progress, lambda: None))
            if len(new) < len(result.records) or len(result.records) < self.options.per_page:
                break
            page += 1
        self._finish_sweep(sweep, state, in_progress)

    def _fetch_children(self, path: str, parent_id: int) -> list[dict[str, Any]]:
        """Every record under one parent (variations of a product, refunds of an order)."""
        records: list[dict[str, Any]] = []
        page = 1
        while True:
            result = self._get(path.format(parent_id=parent_id), {"orderby": "id", "order": "asc"}, page, 100)
            records.extend(result.records)
            if len(result.records) < 100 or (result.total_pages and page >= result.total_pages):
                return records
            page += 1

    def _run_children(self, children: dict[str, Any], state: dict[str, Any], in_progress: dict[str, Any]) -> None:
        """Fetch per-parent listings concurrently; the checkpoint keeps the finished parents as id ranges."""
        done = _unranges(children["done"])
        todo = sorted(_unranges(children["parents"]) - done)
        self.progress.set_total(in_progress["fetched"] + len(todo))
        batch: dict[int, list[dict[str, Any]]] = {}

        def write(batch: dict[int, list[dict[str, Any]]]) -> None:
            def mark() -> None:
                done.update(batch)
                children["done"] = _ranges(done)

            self._write([(array_text(records), pid) for pid, records in batch.items()], state, in_progress, mark)

        fetched = self._concurrently(lambda pid: self._fetch_children(children["path"], pid), todo)
        for parent_id, records in fetched:
            batch[parent_id] = records
            if len(batch) >= 100 or sum(map(len, batch.values())) >= self.options.batch_rows:
                self._writer.submit(lambda batch=batch: write(batch))
                batch = {}
        if batch:
            self._writer.submit(lambda batch=batch: write(batch))

    def _estimated_total(self, in_progress: dict[str, Any]) -> int | None:
        """Records fetched plus those the unfinished sweeps' last X-WP-Total leaves (read from any thread: the
        writer may be changing in_progress, so its parts are copied first)."""
        pages = dict(in_progress["pages"])
        if not pages:
            return None
        remaining = 0
        for state in pages.values():
            totals = list(state["totals"])
            remaining += max(0, (totals[-1] if totals else 0) - len(_unranges(state["done"])) * self.options.per_page)
        return in_progress["fetched"] + remaining

    def _write(
        self,
        arrays: list[tuple[str, int | None]],
        state: dict[str, Any],
        in_progress: dict[str, Any],
        mark: Callable[[], None],
        *,
        known_only: bool = False,
    ) -> None:
        """Merge JSON arrays (text, each with its parent id or None) into raw and, in the same transaction, the
        checkpoint that `mark` updates to include them. InvalidPage names an array PostgreSQL refused."""
        fetched_at = datetime.now(UTC)  # this machine's clock: the sync compares raw.fetched_at with its start
        writes = []
        with self.engine.begin() as conn:
            # Data and checkpoint commit together, so losing the last commits in a database crash only
            # means refetching those pages: no need to wait for the WAL flush on every batch.
            conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
            for index, (body, parent_id) in enumerate(arrays):
                try:
                    done = write_array(
                        conn, self.shop.key, self.stream.name, body,
                        fetched_at=fetched_at, parent_id=parent_id, known_only=known_only, run_id=self.run_id,
                    )  # fmt: skip
                except InvalidJson as exc:
                    raise InvalidPage(index, str(exc)) from None
                writes.append(done)
            listed = sum(w.listed for w in writes)
            mark()
            in_progress["fetched"] += listed
            self._save(state | {"current_sync": in_progress}, conn)
        for done in writes:  # counted once committed: a batch refused and written again counts once
            self.result.written = self.result.written + done.written
            self.result.not_imported += done.not_imported
            self.result.quarantined += done.quarantined
        self.result.fetched += listed
        self.progress.advance(listed)

    def _commit_pages(
        self,
        sweep: Sweep,
        batch: dict[int, Page],
        state: dict[str, Any],
        in_progress: dict[str, Any],
        mark: Callable[[], None],
    ) -> None:
        """Write a batch of a sweep's pages with the checkpoint `mark` updates. A page PostgreSQL refuses as JSON
        (cut short right after an inner bracket, so it looked whole) is fetched again, a few times."""
        for attempt in range(1, REFETCH_INVALID + 1):
            try:
                arrays = [(p.body, None) for p in batch.values()]
                self._write(arrays, state, in_progress, mark, known_only=sweep.known_only)
                return
            except InvalidPage as exc:
                page = list(batch)[exc.index]
                if attempt == REFETCH_INVALID:
                    raise HttpError(
                        f"shop {self.shop.key!r}: page {page} of {sweep.path} is not valid JSON after "
                        f"{attempt} fetches ({exc.reason})"
                    ) from None
                batch[page] = self._fetch(sweep, page)

    def _gap_check(self, sweep: Sweep, state: dict[str, Any], in_progress: dict[str, Any]) -> None:
        """List every id of the sweep cheaply and fetch any that raw lacks (pages shifted under a deletion)."""
        listed: set[int] = set()
        params = sweep.params | {"_fields": "id"}
        page = 1
        while True:
            result = self._get(sweep.path, params, page, self.options.per_page)
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
        unfiltered = {k: v for k, v in sweep.params.items() if k not in ("after", "modified_after", "modified_before")}
        for start in range(0, len(missing), self.options.per_page):
            chunk = missing[start : start + self.options.per_page]
            missed = Sweep(
                sweep.key, sweep.path, unfiltered | {"include": ",".join(map(str, chunk))}, known_only=sweep.known_only
            )
            batch = {1: self._fetch(missed, 1)}
            self._writer.submit(
                lambda missed=missed, batch=batch: self._commit_pages(missed, batch, state, in_progress, lambda: None)
            ).result()
