"""Fixtures for the webhook tests: the receiver over real HTTP on a fresh warehouse, and the lanes' emulated shops."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from storepipe.webhooks.server import receiver_in_thread

# The lanes' emulated shops (WooCommerce "lane", TikTok "tts"), for the end-to-end tests.
from storepipe_tests.sources.tiktok_shop.conftest import tiktok_emulator, tiktok_shop  # noqa: F401
from storepipe_tests.sources.woocommerce.conftest import emulator, woo_shop  # noqa: F401


@pytest.fixture
def receiver(engine: sa.Engine) -> Iterator[str]:
    """The receiver's base URL."""
    with receiver_in_thread(engine) as base:
        yield base


def inbox_rows(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT * FROM ops.webhook_inbox ORDER BY id")))


def control(emu: Any, method: str, path: str, **kwargs: Any) -> Any:
    """An emulator control-API call that must succeed."""
    response = requests.request(method, emu.control_url + path, timeout=30, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def delivered(emu: Any) -> list[dict[str, Any]]:
    """The emulator's deliveries once its queue is empty; every one must have been answered 2xx."""
    answer = control(emu, "GET", "/webhooks/deliveries", params={"wait": "1", "timeout": "30"})
    assert answer["idle"] is True
    assert all(d["state"] == "delivered" for d in answer["deliveries"]), answer["deliveries"]
    return answer["deliveries"]
