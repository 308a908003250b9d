"""Fixtures for the webhook tests: the receiver over real HTTP on a fresh warehouse, and the lanes' emulated shops."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from storepipe.shops import Shop, add_shop, validate_shop
from storepipe.webhooks.server import receiver_in_thread

# The lanes' emulated shops (WooCommerce "lane", TikTok "tts"), for the end-to-end tests.
from storepipe_tests.sources.tiktok_shop.conftest import tiktok_emulator, tiktok_shop  # noqa: F401
from storepipe_tests.sources.woocommerce.conftest import emulator, woo_shop  # noqa: F401

WOO_SECRET = "whsec_wshop_do_not_log"
APP_KEY, APP_SECRET = "tts_app_key_x", "tts_app_secret_do_not_log"


@pytest.fixture
def shops(engine: sa.Engine, instance) -> dict[str, Shop]:
    os.environ.update(WSHOP_KEY="ck_w", WSHOP_SECRET="cs_w", WSHOP_WEBHOOK_SECRET=WOO_SECRET)
    os.environ.update(TSHOP_KEY=APP_KEY, TSHOP_SECRET=APP_SECRET)
    woo = validate_shop(
        platform="woocommerce", key="wshop", url="https://w.example", timezone="UTC", currency="EUR",
        credentials_env="WSHOP",
    )  # fmt: skip
    tts = validate_shop(
        platform="tiktok_shop", key="tshop", url="https://t.example", timezone="UTC", currency="USD",
        credentials_env="TSHOP",
    )  # fmt: skip
    return {"woocommerce": add_shop(engine, instance, woo), "tiktok_shop": add_shop(engine, instance, tts)}


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
