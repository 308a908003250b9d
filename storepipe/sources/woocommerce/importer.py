"""One shop's sync session: the shared start time that makes a killed run resume, and running a stream in it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial

import sqlalchemy as sa

from storepipe.shops import Shop
from storepipe.sources.bookkeeping import (
    ProgressTracker,
    clear_checkpoint,
    complete_sync,
    failures_recorded,
    load_checkpoint,
    save_checkpoint,
)
from storepipe.sources.woocommerce.client import StoreInfo, WooClient
from storepipe.sources.woocommerce.model import map_shop
from storepipe.sources.woocommerce.options import SyncOptions
from storepipe.sources.woocommerce.streams import BY_NAME
from storepipe.sources.woocommerce.sync import StreamResult, StreamSync

SESSION = "_session"  # checkpoint entity holding the open sync session of a shop


def _fingerprint(options: SyncOptions) -> str:
    raw = json.dumps(asdict(options), default=str, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Session:
    """One sync of one shop: when it started (store's clock and ours) and what the store is."""

    started: datetime
    local_started: datetime
    store: StoreInfo


def open_session(engine: sa.Engine, shop: Shop, options: SyncOptions, run_id: str | None, client: WooClient) -> Session:
    """The shop's current sync, resumed if a killed sync with the same options left one, else a new one.

    A new session asks the store for its version and clock once (/system_status); the streams of the
    sync and any resumed run reuse the answer."""
    state = load_checkpoint(engine, shop.key, SESSION)
    if state and state.get("options") == _fingerprint(options):
        store = state["store"]
        return Session(
            started=datetime.fromisoformat(state["started"]),
            local_started=datetime.fromisoformat(state["local_started"]),
            store=StoreInfo(version=tuple(store["version"]), currency=store["currency"], home_url=store["home_url"]),
        )
    store = client.store_info()
    local = datetime.now(UTC)
    started = (store.server_time or local).replace(microsecond=0)
    state = {
        "started": started.isoformat(),
        "local_started": local.isoformat(),
        "options": _fingerprint(options),
        "store": {"version": list(store.version), "currency": store.currency, "home_url": store.home_url},
    }
    with engine.begin() as conn:
        save_checkpoint(conn, shop.key, SESSION, state, run_id)
    return Session(started, local, store)


def close_session(engine: sa.Engine, shop: Shop) -> None:
    with engine.begin() as conn:
        clear_checkpoint(conn, shop.key, SESSION)


def run_stream(
    engine: sa.Engine,
    shop: Shop,
    stream_name: str,
    options: SyncOptions,
    *,
    run_id: str | None = None,
    report: Callable[[str], None] | None = None,
) -> StreamResult:
    """Sync one stream of one shop; progress, Paused/Failed status and errors land in ops.sync_progress."""
    progress = ProgressTracker(engine, shop.key, stream_name, run_id=run_id, report=report)
    client = WooClient(
        shop,
        concurrency=options.concurrency,
        requests_per_second=options.requests_per_second,
        on_wait=lambda reason, _s: progress.paused(reason),
        on_resume=progress.resumed,
    )
    try:
        with failures_recorded(progress, shop.key):
            session = open_session(engine, shop, options, run_id, client)
            stream = BY_NAME[stream_name]
            sync = StreamSync(engine, client, shop, stream, session.store, options, progress, run_id=run_id)
            result = sync.run(sync_started=session.started, local_started=session.local_started)
    finally:
        client.close()
    if not result.already_done:  # else keep the figures of the run that did the work
        progress.completed(result.summary())
    return result


# Map what this sync fetched into core, close the session and record the summary (see complete_sync).
finish_sync = partial(complete_sync, map_shop=map_shop, session_entity=SESSION)
