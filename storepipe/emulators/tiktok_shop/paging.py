"""Cursor paging helpers: opaque page tokens and the page_size parameter rules."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from storepipe.emulators.tiktok_shop.errors import bad_request


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
