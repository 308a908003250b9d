"""One TikTok shop's sync: the session that makes a killed run resume, running a stage in it, and closing it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial

import sqlalchemy as sa

from storepipe.shops import Shop
from storepipe.sources.bookkeeping import (
    ProgressTracker,
    StreamResult,
    complete_sync,
    failures_recorded,
    load_checkpoint,
    save_checkpoint,
)
from storepipe.sources.tiktok_shop.client import TikTokClient
from storepipe.sources.tiktok_shop.model import map_shop
from storepipe.sources.tiktok_shop.streams import BY_NAME
from storepipe.sources.tiktok_shop.sync import SyncContext, TikTokSyncOptions, run_listings

SESSION = "_session"  # checkpoint entity of the open sync
LAST_SYNC = "_last_sync"  # where the previous completed sync began (server time): incremental syncs start there


def _fingerprint(options: TikTokSyncOptions) -> str:
    raw = json.dumps(asdict(options), default=str, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def open_session(
    engine: sa.Engine, shop: Shop, options: TikTokSyncOptions, client: TikTokClient, run_id: str | None
) -> SyncContext:
    """The shop's open sync (resumed when a killed run with the same options left one), else a new one.

    A new sync asks for the authorized shop first: it checks the credentials before any stage starts, and
    its answer's Date header sets the server clock the sync windows are cut on. Resuming makes no request,
    so a stage the killed run finished is skipped without touching the API or its progress row."""
    state = load_checkpoint(engine, shop.key, SESSION)
    if state and state.get("options") == _fingerprint(options):
        return SyncContext(state["started"], datetime.fromisoformat(state["local_started"]), state["previous"])
    client.authorized_shop()
    previous = load_checkpoint(engine, shop.key, LAST_SYNC)
    context = SyncContext(
        started=int(client.clock.now()),
        local_started=datetime.now(UTC),
        previous_started=None if options.mode == "full" or not previous else int(previous["started"]),
    )
    with engine.begin() as conn:
        state = {
            "started": context.started,
            "local_started": context.local_started.isoformat(),
            "previous": context.previous_started,
            "options": _fingerprint(options),
        }
        save_checkpoint(conn, shop.key, SESSION, state, run_id)
    return context


def run_stage(
    engine: sa.Engine,
    shop: Shop,
    stage_name: str,
    options: TikTokSyncOptions,
    *,
    run_id: str | None = None,
    report: Callable[[str], None] | None = None,
) -> StreamResult:
    """Run one import stage of one shop; progress, Paused/Failed status and errors land in ops.sync_progress."""
    progress = ProgressTracker(engine, shop.key, stage_name, run_id=run_id, report=report)
    client = TikTokClient(
        shop,
        concurrency=options.concurrency,
        requests_per_second=options.requests_per_second,
        on_wait=lambda reason, _s: progress.paused(reason),
        on_resume=progress.resumed,
    )
    try:
        with failures_recorded(progress, shop.key):
            context = open_session(engine, shop, options, client, run_id)
            stage = BY_NAME[stage_name]
            result = run_listings(engine, client, shop, stage.listings, options, context, progress, run_id=run_id)
    finally:
        client.close()
    if not result.already_done:  # else keep the figures of the run that did the work
        progress.completed(result.summary() | {"token_refreshes": client.tokens.refreshes})
    return result


# Map the sync's raw records into core, remember where the sync began (the next incremental one starts there,
# minus the lookback), close it and record the summary (see complete_sync).
finish_sync = partial(complete_sync, map_shop=map_shop, session_entity=SESSION, last_sync_entity=LAST_SYNC)


def connect_shop(shop: Shop, auth_code: str) -> None:
    """Exchange the consent code for the shop's first tokens and store them (storepipe shops connect)."""
    client = TikTokClient(shop)
    try:
        client.connect(auth_code)
        client.authorized_shop()  # proves the new token works and the shop is covered
    finally:
        client.close()
