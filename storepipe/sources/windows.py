"""Sync windows every lane offers ("30d", "90d", "365d", "all", or a start date), placed in the shop's timezone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from storepipe.shops import Shop

WINDOWS = {"30d": 30, "90d": 90, "365d": 365, "all": None}


def window_start(shop: Shop, window: str | None, since: str | None, *, now: datetime | None = None) -> datetime | None:
    """The UTC instant where the shop-local window begins.

    "30d" means today and the 29 days before it in the shop's timezone: it starts at local midnight
    29 days ago. `since` is a shop-local date (YYYY-MM-DD) and starts at its local midnight.
    """
    if window and since:
        raise ValueError("give either window or since, not both")
    if since:
        day = date.fromisoformat(since)
    elif window and window != "all":
        if window not in WINDOWS:
            raise ValueError(f"window must be one of {', '.join(WINDOWS)}; got {window!r}")
        today = (now or datetime.now(UTC)).astimezone(shop.tz).date()
        day = today - timedelta(days=WINDOWS[window] - 1)
    else:
        return None
    return datetime.combine(day, time.min, tzinfo=shop.tz).astimezone(UTC)
