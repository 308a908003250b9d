"""Cursor paging helpers: opaque page tokens and the page_size parameter rules."""

from __future__ import annotations

import base64
import binascii
import bisect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from storepipe.emulators.tiktok_shop.errors import bad_request

T = TypeVar("T")


def encode_cursor(*parts: object) -> str:
    """Opaque page token (standard base64, so it may contain + and / like the real ones)."""
    return base64.b64encode("|".join(str(p) for p in parts).encode()).decode()


def decode_cursor(token: str, count: int) -> list[str]:
    try:
        parts = base64.b64decode(token.encode(), validate=True).decode().split("|")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise bad_request("page_token is invalid.") from exc
    if len(parts) != count:
        raise bad_request("page_token is invalid.")
    return parts


def page_size_param(query: Mapping[str, str], default: int | None = None, low: int = 1, high: int = 100) -> int:
    raw = query.get("page_size")
    if raw is None or raw == "":
        if default is None:
            raise bad_request("page_size is required.")
        return default
    try:
        size = int(raw)
    except ValueError as exc:
        raise bad_request("page_size must be an integer.") from exc
    if not low <= size <= high:
        raise bad_request(f"page_size must be between {low} and {high}.")
    return size


def int_filter(body: Mapping[str, Any], name: str) -> int | None:
    """An optional unix-seconds filter of a JSON body."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"{name} must be a unix timestamp in seconds.")
    return value


def within(value: int, ge: int | None, lt: int | None) -> bool:
    return (ge is None or value >= ge) and (lt is None or value < lt)


def sort_order_param(query: Mapping[str, str], default: str) -> str:
    sort_order = (query.get("sort_order") or default).upper()
    if sort_order not in ("ASC", "DESC"):
        raise bad_request("sort_order must be ASC or DESC.")
    return sort_order


def time_sort_params(query: Mapping[str, str], default_order: str) -> tuple[str, str]:
    """sort_field create_time|update_time (default create_time) and sort_order."""
    sort_field = query.get("sort_field") or "create_time"
    if sort_field not in ("create_time", "update_time"):
        raise bad_request("sort_field must be create_time or update_time.")
    return sort_field, sort_order_param(query, default_order)


Bounds = tuple[int | None, int | None, int | None, int | None]


def time_bounds(body: Mapping[str, Any]) -> Bounds:
    """The body's create_time_ge, create_time_lt, update_time_ge and update_time_lt filters (ge inclusive)."""
    return (
        int_filter(body, "create_time_ge"),
        int_filter(body, "create_time_lt"),
        int_filter(body, "update_time_ge"),
        int_filter(body, "update_time_lt"),
    )


def in_window(created: int, updated: int, bounds: Bounds) -> bool:
    return within(created, bounds[0], bounds[1]) and within(updated, bounds[2], bounds[3])


def keyset_start(keys: Sequence[tuple[int, int]], token: str, binding: Sequence[str], descending: bool) -> int:
    """Where the page after `token` starts. `keys` are the rows' (sort key, id) pairs in serving order, negated when
    descending (so they ascend either way); the token holds `binding` (the sort parameters) and the last key served.
    [INF: no evidence how the real token binds to filters] filters must stay fixed between pages."""
    if not token:
        return 0
    parts = decode_cursor(token, len(binding) + 2)
    if parts[: len(binding)] != list(binding):
        raise bad_request("page_token does not match the sort parameters.")
    key, row_id = int(parts[-2]), int(parts[-1])
    return bisect.bisect_right(keys, (-key, -row_id) if descending else (key, row_id))


def keyset_page(
    rows: Sequence[T],
    key: Callable[[T], tuple[int, int]],
    size: int,
    token: str,
    binding: Sequence[str],
    descending: bool,
) -> tuple[list[T], str]:
    """One page of `rows` (sorted by `key`, descending when told) after `token`, and the next page's token."""
    keys = [(-k, -i) if descending else (k, i) for k, i in map(key, rows)]
    start = keyset_start(keys, token, binding, descending)
    page = list(rows[start : start + size])
    more = start + size < len(rows)
    return page, encode_cursor(*binding, *key(page[-1])) if more and page else ""
