"""When the schedules fire (cron strings, UTC) and their next tick; light enough for `storepipe status` to import."""

from __future__ import annotations

from datetime import UTC, datetime

TWICE_DAILY = "0 2,14 * * *"
WEEKLY = "0 3 * * 0"  # Sundays 03:00 UTC: after the 02:00 sync, far from the 14:00 one
TIMEZONE = "UTC"


def next_tick(cron: str, after: datetime) -> datetime:
    """The first tick of a cron (UTC) strictly after `after`."""
    # Dagster's own iterator, so `storepipe status` agrees with the daemon (dagster is pinned exactly).
    from dagster._utils.schedules import cron_string_iterator

    for tick in cron_string_iterator(after.timestamp(), cron, TIMEZONE):
        if tick.timestamp() > after.timestamp():
            return tick.astimezone(UTC)
    raise ValueError(f"cron {cron!r} has no next tick")
