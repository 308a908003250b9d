"""Older stores (no modified filter before 5.8, no /refunds before 9.0) and orders created while paging."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from storepipe.emulators.woocommerce import EmulatorConfig, RunningEmulator, run_in_thread
from storepipe.shops import Shop, add_shop, validate_shop
from storepipe_tests.sources.woocommerce.helpers import KEY, SECRET, emulator_records, raw_records, sync


@pytest.fixture(params=["5.7", "8.9"])
def old_store(request: pytest.FixtureRequest) -> Iterator[RunningEmulator]:
    config = EmulatorConfig(seed=9, orders=400, version=request.param, consumer_key=KEY, consumer_secret=SECRET)
    with run_in_thread(config) as emu:
        yield emu


def _register(engine: sa.Engine, instance, emu: RunningEmulator) -> Shop:
    os.environ["OLD_KEY"], os.environ["OLD_SECRET"] = KEY, SECRET
    return add_shop(
        engine,
        instance,
        validate_shop(
            platform="woocommerce", key="old", url=emu.base_url, timezone="America/New_York", currency="USD",
            credentials_env="OLD",
        ),
    )  # fmt: skip


def test_old_stores_import_completely_and_sync_changes(engine: sa.Engine, instance, old_store: RunningEmulator) -> None:
    shop = _register(engine, instance, old_store)
    full = sync(engine, shop, mode="full")
    assert raw_records(engine, shop.key)["refunds"] == emulator_records(old_store)["refunds"]
    assert full["refunds"].requests > 1  # per order: /refunds does not exist before 9.0

    store = old_store.store
    changed = store.order_ids(status="completed")[0]  # an old order: outside the 7-day re-sweep
    store.advance_time(hours=1)
    store.modify_order(changed, status="cancelled")
    store.advance_time(minutes=5)  # the store's clock moves on before the next sync starts
    incremental = sync(engine, shop)
    with engine.connect() as conn:
        status = conn.execute(
            sa.text("SELECT status FROM core.orders WHERE order_id = :o"), {"o": str(changed)}
        ).scalar()
    assert status == "cancelled"
    if old_store.config.version == "5.7":
        # No modified filter: the only complete answer is another id sweep of the orders.
        assert incremental["orders"].requests >= full["orders"].requests - 1
    else:
        assert incremental["orders"].requests < full["orders"].requests


def test_orders_created_while_paging_are_imported(engine: sa.Engine, instance, emulator: RunningEmulator) -> None:
    os.environ["LANE_KEY"], os.environ["LANE_SECRET"] = KEY, SECRET
    shop = add_shop(
        engine,
        instance,
        validate_shop(
            platform="woocommerce", key="lane", url=emulator.base_url, timezone="Europe/Berlin", currency="EUR",
            credentials_env="LANE",
        ),
    )  # fmt: skip
    before = len(emulator.store.order_ids())
    emulator.store.set_fault("insert", count=6, inserts=4, path="^/wc/v3/orders$")
    sync(engine, shop, mode="full")
    emulator.store.clear_faults()
    assert len(emulator.store.order_ids()) == before + 24
    assert raw_records(engine, shop.key)["orders"] == emulator_records(emulator)["orders"]
