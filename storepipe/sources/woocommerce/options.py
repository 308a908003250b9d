"""Sync options as users give them (mode, window, since) turned into the engine's SyncOptions for one shop."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from storepipe.shops import Shop
from storepipe.sources.windows import window_start


@dataclass(frozen=True)
class SyncOptions:
    """What one sync of one shop does; built from the Dagster run config or the CLI."""

    mode: str = "incremental"  # "full" re-reads everything; "incremental" reads what changed since last time
    window: str | None = None  # "30d" | "90d" | "365d": only orders and subscriptions of the last N local days
    since: str | None = None  # or those created on or after this shop-local date (YYYY-MM-DD)
    lookback: timedelta = timedelta(hours=72)
    full_refresh: frozenset[str] = frozenset()
    per_page: int = 100
    concurrency: int = 4
    # At most this many requests per second to the shop (hosts and WAFs throttle bulk reads); None: no cap.
    requests_per_second: float | None = None
    # Re-read orders created this recently: changes that do not bump date_modified (PayPal refunds, line
    # edits). Stores with /refunds (9.0+) deliver silent refunds as refund records, leaving only line edits.
    resweep: timedelta = timedelta(days=7)
    resweep_with_refunds_endpoint: timedelta = timedelta(days=2)
    customers_full_every: timedelta = timedelta(days=7)
    batch_rows: int = 1000


def build_options(
    shop: Shop,
    *,
    mode: str = "incremental",
    window: str | None = None,
    since: str | None = None,
    lookback_hours: int = 72,
    full_refresh: list[str] | tuple[str, ...] = (),
    page_size: int = 100,
    concurrency: int = 4,
    requests_per_second: float | None = None,
    resweep_days: int | None = None,
) -> SyncOptions:
    """Validate what the user asked for; the window itself is placed on the store's clock when the sync starts."""
    if mode not in ("full", "incremental"):
        raise ValueError(f"mode must be full or incremental; got {mode!r}")
    if not 1 <= page_size <= 100:
        raise ValueError("page_size must be between 1 and 100 (WooCommerce's limit)")
    window_start(shop, window, since)  # raises on a bad window or date now, not halfway through a sync
    options = SyncOptions(
        mode=mode,
        window=None if window == "all" else window,
        since=since,
        lookback=timedelta(hours=lookback_hours),
        full_refresh=frozenset(full_refresh),
        per_page=page_size,
        concurrency=max(1, concurrency),
        requests_per_second=requests_per_second or None,
    )
    if resweep_days:  # the weekly re-sweep: a wider re-read of recent orders, every other stream as usual
        wider = timedelta(days=resweep_days)
        options = replace(options, resweep=wider, resweep_with_refunds_endpoint=wider)
    return options
