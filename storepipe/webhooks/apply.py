"""Applying a shop's inbox inside a run: claim, let the lane write raw, map into core, mark applied (or release).

The lanes' model assets call `apply_inbox` instead of their `finish_sync` when the run carries the inbox tag,
which the `<lane>_webhook_apply` jobs set: those jobs select the model and the marts, so a webhook run shows up
as materializations of the same assets as a sync, and the marts refresh only what the change map says moved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import sqlalchemy as sa

from storepipe.shops import Shop
from storepipe.sources.bookkeeping import MapShop, complete_sync, load_checkpoint, quarantine, save_checkpoint
from storepipe.warehouse.upsert import EMPTY, UpsertResult, bulk_upsert
from storepipe.webhooks import inbox
from storepipe.webhooks.inbox import Delivery

INBOX_TAG = "storepipe/inbox"
APPLY = "apply"
# The webhook run's own session checkpoint. Not the lane's `_session`: a killed scheduled sync keeps its session
# (and with it its resume point) while webhook runs come and go.
WEBHOOK_SESSION = "_webhook_session"
BATCH_SIZE = 5000  # deliveries per run; the sensor requests another run for whatever is left

# (engine, shop, deliveries, run_id) -> figures for the model's metadata; writes the raw tables of the lane.
ApplyDeliveries = Callable[[sa.Engine, Shop, list[Delivery], str | None], dict[str, int]]


def is_inbox_run(context: dg.AssetExecutionContext) -> bool:
    """Whether this run applies the shop's webhook inbox (a <lane>_webhook_apply run) rather than a sync."""
    return context.run.tags.get(INBOX_TAG) == APPLY


def close_or_apply(
    context: dg.AssetExecutionContext,
    engine: sa.Engine,
    shop: Shop,
    finish_sync: Callable[..., dict[str, int | float | str | None]],
    apply_inbox_run: Callable[..., dict[str, int | float | str | None]],
    *,
    rebuild: bool,
) -> dict[str, int | float | str | None]:
    """The lanes' model step: close the sync (map what it fetched), or in a webhook-apply run apply the inbox."""
    if is_inbox_run(context):
        return apply_inbox_run(engine, shop, run_id=context.run.run_id, report=context.log.info)
    return finish_sync(engine, shop, rebuild=rebuild, run_id=context.run.run_id, report=context.log.info)


def inbox_job(
    prefix: str, model: dg.AssetKey, extra: dg.AssetSelection | None = None
) -> dg.UnresolvedAssetJobDefinition:
    """`<prefix>_webhook_apply`: the lane's model (which applies the inbox first) and its marts, one shop a run."""
    selection = dg.AssetSelection.assets(model) | dg.AssetSelection.groups(f"{prefix}_marts")
    return dg.define_asset_job(
        f"{prefix}_webhook_apply",
        selection=selection | extra if extra is not None else selection,
        executor_def=dg.in_process_executor,
        tags={INBOX_TAG: APPLY},
        description=(
            f"Applies the pending webhook deliveries of one {prefix} shop (a partition): upserts the delivered or "
            "refetched records into raw, maps them into core and refreshes the marts of the days they touch. "
            "Requested by webhook_inbox_sensor."
        ),
    )


def _open_session(engine: sa.Engine, shop: Shop, run_id: str | None) -> None:
    """Start the webhook session now, unless a failed webhook run left one: mapping from its start then also
    covers the raw rows that run wrote (re-writing an identical row does not move its fetched_at)."""
    if load_checkpoint(engine, shop.key, WEBHOOK_SESSION):
        return
    with engine.begin() as conn:
        save_checkpoint(conn, shop.key, WEBHOOK_SESSION, {"local_started": datetime.now(UTC).isoformat()}, run_id)


def apply_inbox(
    engine: sa.Engine,
    shop: Shop,
    map_shop: MapShop,
    apply_deliveries: ApplyDeliveries,
    *,
    run_id: str,
    report: Callable[[str], None],
    batch_size: int = BATCH_SIZE,
) -> dict[str, int | float | str | None]:
    """Claim the shop's pending deliveries, apply them, map what they changed into core; the model's summary."""
    _open_session(engine, shop, run_id)
    deliveries = inbox.claim(engine, shop.key, run_id, batch_size)
    ids = [d.id for d in deliveries]
    report(f"{shop.key}: applying {len(deliveries)} webhook deliveries")
    try:
        figures = apply_deliveries(engine, shop, deliveries, run_id)
        summary = complete_sync(
            engine,
            shop,
            map_shop,
            WEBHOOK_SESSION,
            run_id=run_id,
            report=report,
            extra=lambda: {"webhook_deliveries": len(deliveries), **figures},
        )
    except Exception as exc:
        inbox.release(engine, ids, f"{type(exc).__name__}: {exc}")
        raise
    inbox.mark_applied(engine, ids, run_id)
    return summary


def write_raw(
    conn: sa.Connection,
    shop: Shop,
    entity: str,
    table: sa.Table,
    rows: Sequence[tuple[Any, ...]],
    bad: Sequence[tuple[Any, str, str]],
    *,
    version: str,
    run_id: str | None,
) -> UpsertResult:
    """Monotonic upsert of a lane's raw rows (shop_key, id, parent_id, <version>, payload, fetched_at, deleted_at);
    records that cannot be stored, `bad` (record, reason, source id), go to ops.discrepancies as in an import."""
    columns = ("shop_key", "id", "parent_id", version, "payload", "fetched_at", "deleted_at")
    written = (
        bulk_upsert(conn, table, rows, columns=columns, key=("shop_key", "id"), version=version) if rows else EMPTY
    )
    for record, reason, source in bad:
        quarantine(conn, shop.key, entity, source, reason, record, run_id)
    return written
