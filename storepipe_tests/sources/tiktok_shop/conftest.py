"""Fixtures for the TikTok Shop lane: an emulated shop over real HTTP, registered and connected on a fresh warehouse."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from storepipe.emulators.tiktok_shop.config import EmulatorConfig
from storepipe.emulators.tiktok_shop.server import RunningEmulator, run_in_thread
from storepipe.shops import Shop, add_shop, validate_shop
from storepipe.sources.tiktok_shop.importer import connect_shop

PREFIX = "TTS"


@pytest.fixture
def tiktok_emulator() -> Iterator[RunningEmulator]:
    # No QPS limit by default: tests that are about rate limits set one.
    with run_in_thread(EmulatorConfig(seed=7, orders=400, products=40, rate_limit_qps=None)) as emu:
        yield emu


def register(engine: sa.Engine, instance, emu: RunningEmulator, key: str = "tts") -> Shop:
    """Register the emulated shop (credentials from the environment) and connect it with a consent code."""
    os.environ[f"{PREFIX}_KEY"], os.environ[f"{PREFIX}_SECRET"] = emu.app_key, emu.app_secret
    shop = validate_shop(
        platform="tiktok_shop", key=key, url=emu.base_url, timezone="America/Los_Angeles", currency="USD",
        credentials_env=PREFIX,
    )  # fmt: skip
    shop = add_shop(engine, instance, shop)
    connect_shop(shop, emu.store.issue_auth_code())
    return shop


@pytest.fixture
def tiktok_shop(engine: sa.Engine, instance, tiktok_emulator: RunningEmulator) -> Shop:
    return register(engine, instance, tiktok_emulator)
