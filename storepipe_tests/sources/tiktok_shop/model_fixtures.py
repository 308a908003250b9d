"""Fixtures of the TikTok model and P&L tests: a registered TikTok shop and an in-process emulated store."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from storepipe.emulators.tiktok_shop.config import EmulatorConfig
from storepipe.emulators.tiktok_shop.store import TikTokStore
from storepipe.shops import Shop, add_shop, validate_shop

SHOP_KEY = "tt"


@pytest.fixture
def tt_shop(engine: sa.Engine, instance) -> Shop:
    os.environ["TTMODEL_KEY"], os.environ["TTMODEL_SECRET"] = "k", "s"
    shop = validate_shop(
        platform="tiktok_shop", key=SHOP_KEY, url="http://127.0.0.1:1", timezone="America/Los_Angeles",
        currency="USD", credentials_env="TTMODEL",
    )  # fmt: skip
    return add_shop(engine, instance, shop)


@pytest.fixture
def store() -> TikTokStore:
    # More auctions than the default so repeated auctions of one item are certain in 400 orders.
    return TikTokStore(EmulatorConfig(seed=5, orders=400, products=20, auction_rate=0.15, rate_limit_qps=None))
