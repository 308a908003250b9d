"""Marts over an imported emulator shop: checks pass, incremental refreshes equal a full rebuild after changes."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
import sqlalchemy as sa

from storepipe.emulators.woocommerce import RunningEmulator
from storepipe.marts.checks import run_checks
from storepipe.marts.refresh import FACT_TABLES, MARTS, refresh_shop
from storepipe.marts.settings import MetricSettings, set_metric_settings
from storepipe.shops import Shop
from storepipe_tests.sources.woocommerce.helpers import sync

TABLES = (*FACT_TABLES, *(m.table for m in MARTS))


def _canonical(value: object) -> object:
    # Equal amounts may carry different scales (0 vs 0.00) depending on the arithmetic that produced them.
    return value.normalize() if isinstance(value, Decimal) else value


def snapshot(engine: sa.Engine, shop_key: str) -> dict[str, list[tuple]]:
    """Every mart row of the shop, sorted: two snapshots are equal iff the marts hold the same values."""
    with engine.connect() as conn:
        return {
            table: sorted(
                (
                    tuple(_canonical(v) for v in r)
                    for r in conn.execute(sa.text(f"SELECT * FROM marts.{table} WHERE shop_key = :s"), {"s": shop_key})
                ),
                key=repr,
            )
            for table in TABLES
        }


def failed_checks(engine: sa.Engine, shop_key: str) -> dict[str, dict]:
    return {o.check.name: o.details for o in run_checks(engine, shop_key) if not o.passed}


def change_randomly(emulator: RunningEmulator, seed: int) -> None:
    """Random edits of the kinds a sync brings: status changes, refunds, silent line edits, trash, new orders."""
    store, rng = emulator.store, random.Random(seed)
    ids = store.order_ids()
    for order_id in rng.sample(ids, 6):
        store.modify_order(order_id, status=rng.choice(["completed", "cancelled", "on-hold", "processing"]))
    for order_id in rng.sample(ids, 8):
        order = store.get_order(order_id)
        try:
            if order["line_items"] and rng.random() < 0.5:
                store.add_refund(order_id, line_id=order["line_items"][0]["id"], quantity=1)
            else:
                store.add_refund(order_id, amount="1.00", bump_modified=rng.random() < 0.5)
        except ValueError:  # already fully refunded
            pass
    for order_id in rng.sample(ids, 3):
        order = store.get_order(order_id)
        if order["line_items"]:
            store.edit_line_item(order_id, order["line_items"][0]["id"], quantity=3)
    store.trash_order(rng.choice(ids))
    for _ in range(5):
        store.create_order(status="processing", coupon=None)
    store.advance_time(minutes=30)


@pytest.fixture
def imported(engine: sa.Engine, woo_shop: Shop) -> Shop:
    sync(engine, woo_shop, mode="full")
    return woo_shop


def test_first_refresh_rebuilds_and_every_check_passes(engine: sa.Engine, imported: Shop) -> None:
    result = refresh_shop(engine, imported)
    assert result.full and result.reason == "first refresh"
    with engine.connect() as conn:
        core_orders = conn.execute(sa.text("SELECT count(*) FROM core.orders")).scalar_one()
    assert result.changed_orders == core_orders > 600
    assert failed_checks(engine, imported.key) == {}
    rows = snapshot(engine, imported.key)
    assert all(rows[t] for t in TABLES), {t: len(v) for t, v in rows.items()}


def test_refresh_without_changes_writes_nothing_and_keeps_rows(engine: sa.Engine, imported: Shop) -> None:
    refresh_shop(engine, imported)
    before = snapshot(engine, imported.key)
    again = refresh_shop(engine, imported)
    assert not again.full and again.changed_orders == 0
    assert again.rows["order_facts"] == 0 and again.rows["customer_metrics"] == 0
    assert snapshot(engine, imported.key) == before


@pytest.mark.parametrize("seed", [1, 2])
def test_incremental_equals_full_rebuild_after_random_changes(
    engine: sa.Engine, imported: Shop, emulator: RunningEmulator, seed: int
) -> None:
    refresh_shop(engine, imported)
    change_randomly(emulator, seed)
    sync(engine, imported, mode="incremental")
    incremental = refresh_shop(engine, imported)
    assert not incremental.full and 0 < incremental.changed_orders < 100
    after_incremental = snapshot(engine, imported.key)
    assert failed_checks(engine, imported.key) == {}
    rebuilt = refresh_shop(engine, imported, full=True)
    assert rebuilt.full
    assert snapshot(engine, imported.key) == after_incremental


def test_changed_settings_rebuild_and_change_what_counts(engine: sa.Engine, imported: Shop) -> None:
    refresh_shop(engine, imported)
    with engine.connect() as conn:
        counted = conn.execute(sa.text("SELECT count(*) FROM marts.order_facts WHERE counted")).scalar_one()
        pending = conn.execute(
            sa.text("SELECT count(*) FROM core.orders WHERE status_group = 'pending' AND NOT deleted")
        ).scalar_one()
    assert pending > 0
    set_metric_settings(engine, imported.key, MetricSettings(("paid", "refunded", "pending"), "created"))
    result = refresh_shop(engine, imported)
    assert result.full and result.reason == "metric settings changed"
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM marts.order_facts WHERE counted")).scalar_one()
            == counted + pending
        )
    assert failed_checks(engine, imported.key) == {}


def test_lost_facts_are_rebuilt(engine: sa.Engine, imported: Shop) -> None:
    """Crash recovery empties the unlogged fact tables: the next refresh notices and rebuilds the shop."""
    refresh_shop(engine, imported)
    before = snapshot(engine, imported.key)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE marts.order_facts, marts.line_facts, marts.refund_facts"))
    result = refresh_shop(engine, imported)
    assert result.full and result.reason.startswith("facts lost")
    assert snapshot(engine, imported.key) == before
