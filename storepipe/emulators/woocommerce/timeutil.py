"""Shop-local time: UTC offsets (vectorised), WordPress date strings and REST date-parameter semantics."""

from __future__ import annotations

import bisect
import calendar
import re
import time
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

DAY = 86400
# rest_parse_date's pattern (WordPress rest-api.php): seconds required, optional fraction and offset.
_REST_DATE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$"
)


@lru_cache(maxsize=2048)  # an order formats the same few instants several times (local, gmt, dynamic fields)
def fmt_epoch(epoch: int) -> str:
    """'YYYY-MM-DDTHH:MM:SS' of an epoch read as UTC (WooCommerce dates carry no offset)."""
    t = time.gmtime(epoch)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"


def iso_z(epoch: int) -> str:
    return fmt_epoch(epoch) + "Z"


def add_months(epoch: int, months: int) -> int:
    """Same day-of-month and time `months` later, clamped to the month's end (WCS wcs_add_months)."""
    dt = datetime.fromtimestamp(epoch, UTC)
    total = dt.month - 1 + months
    year, month = dt.year + total // 12, total % 12 + 1
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return int(dt.replace(year=year, month=month, day=day).timestamp())


class TzTable:
    """UTC offsets of one IANA zone as a transition table, so whole arrays convert in one searchsorted."""

    def __init__(self, name: str, start: int, end: int) -> None:
        self.name = name
        self.zone = ZoneInfo(name)
        self._lo, self._hi = start, end
        points = [start]
        offsets = [self._zone_offset(start)]
        day = start
        while day < end:
            nxt = min(day + DAY, end)
            off = self._zone_offset(nxt)
            if off != offsets[-1]:
                lo, hi = day, nxt  # Bisect to the exact second of the transition.
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if self._zone_offset(mid) == offsets[-1]:
                        lo = mid
                    else:
                        hi = mid
                points.append(hi)
                offsets.append(off)
            day = nxt
        self._points = points
        self._offsets = offsets
        self._np_points = np.asarray(points, dtype=np.int64)
        self._np_offsets = np.asarray(offsets, dtype=np.int64)

    def _zone_offset(self, epoch: int) -> int:
        delta = datetime.fromtimestamp(epoch, UTC).astimezone(self.zone).utcoffset()
        return int(delta.total_seconds()) if delta else 0

    def offset(self, epoch: int) -> int:
        """UTC offset in seconds at an instant."""
        if epoch < self._lo or epoch > self._hi:
            return self._zone_offset(epoch)
        return self._offsets[bisect.bisect_right(self._points, epoch) - 1]

    def offsets(self, epochs: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self._np_points, epochs, side="right") - 1
        out = self._np_offsets[np.clip(idx, 0, None)]
        outside = (epochs < self._lo) | (epochs > self._hi)
        if outside.any():
            out = out.copy()
            for i in np.flatnonzero(outside):
                out[i] = self._zone_offset(int(epochs[i]))
        return out

    def to_wall(self, epoch: int) -> int:
        """Local wall-clock time as a naive epoch (what post_date stores)."""
        return epoch + self.offset(epoch)

    def walls(self, epochs: np.ndarray) -> np.ndarray:
        return epochs + self.offsets(epochs)

    def wall_to_utc(self, walls: np.ndarray) -> np.ndarray:
        """Inverse of walls(); wall times inside a DST gap or overlap land on one of the two candidates."""
        guess = walls - self.offsets(walls)
        return walls - self.offsets(guess)

    def hours_offset(self, epoch: int) -> float:
        return self.offset(epoch) / 3600


class BadDate(ValueError):
    """A date parameter that rest_parse_date rejects."""


def parse_rest_date_as_wall(value: str, tz: TzTable) -> int:
    """The wall-clock second a WooCommerce date filter compares its column against.

    WordPress validates with rest_parse_date, then WP_Date_Query::build_mysql_datetime parses the string
    with date_create($value, site timezone) and re-formats it *in the site timezone*. So a naive value is
    taken as-is, but a value carrying `Z` or an offset is shifted to site-local wall time — even when
    dates_are_gmt=true compares it with a *_gmt column. That is the documented trap: send naive UTC
    strings together with dates_are_gmt=true. Fractions of a second are dropped by the re-format.
    """
    match = _REST_DATE.match(value)
    if not match:
        raise BadDate(value)
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    try:
        naive = datetime(year, month, day, hour, minute, second)
    except ValueError as exc:  # strtotime() refuses impossible calendar dates as well.
        raise BadDate(value) from exc
    wall = calendar.timegm(naive.timetuple())
    if match.group(7):
        return tz.to_wall(wall)
    if match.group(8):
        sign = 1 if match.group(8) == "+" else -1
        offset = sign * (int(match.group(9)) * 3600 + int(match.group(10) or 0) * 60)
        return tz.to_wall(wall - offset)
    return wall


def wall_of_local_iso(value: str) -> int:
    """Naive 'YYYY-MM-DDTHH:MM:SS' → naive epoch (used for control-interface inputs)."""
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return calendar.timegm(dt.timetuple())


def local_date_parts(wall: int) -> tuple[int, int, int]:
    t = time.gmtime(wall)
    return t.tm_year, t.tm_mon, t.tm_mday
