"""Fixtures for the WooCommerce lane: an emulated store over real HTTP, registered as a shop on a fresh warehouse."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from storepipe.emulators.woocommerce import EmulatorConfig, RunningEmulator, run_in_thread
from storepipe.shops import Shop, add_shop, validate_shop
from storepipe_tests.sources.woocommerce.helpers import KEY, SECRET


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    with run_in_thread(EmulatorConfig(seed=21, orders=700, consumer_key=KEY, consumer_secret=SECRET)) as emu:
        yield emu


@pytest.fixture
def woo_shop(engine: sa.Engine, instance, emulator: RunningEmulator) -> Shop:
    os.environ["LANE_KEY"], os.environ["LANE_SECRET"] = KEY, SECRET
    shop = validate_shop(
        platform="woocommerce", key="lane", url=emulator.base_url, timezone="Europe/Berlin", currency="EUR",
        credentials_env="LANE",
    )  # fmt: skip
    return add_shop(engine, instance, shop)
