"""The loyalty assets in Dagster: materialized per shop partition with their checks, sync options as run config,
the recalculate_tiers job, and the lane's shop sync job carrying loyalty."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import dagster as dg
import sqlalchemy as sa

from storepipe.definitions import defs
from storepipe.loyalty.program import LoyaltyProgram, set_program
from storepipe.resources import WarehouseResource
from storepipe.settings import Settings
from storepipe.shops import Shop
from storepipe.sources.woocommerce.assets import loyalty as woocommerce_loyalty
from storepipe_tests.loyalty.shop import PROGRAM, SHOP_KEY, TZ, load, order, refund, register, rows


def days_ago(days: int) -> str:
    """Noon, `days` days ago in the shop's timezone: the assets evaluate against the real today."""
    return f"{datetime.now(ZoneInfo(TZ)).date() - timedelta(days=days)} 12:00"


KEYS = {f"woocommerce/loyalty/{n}" for n in ("customer_spend", "tiers", "cashback_ledger", "sync_summary")}


def _materialize(instance: dg.DagsterInstance, settings: Settings, **config: object) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [woocommerce_loyalty],
        partition_key=SHOP_KEY,
        instance=instance,
        resources={"warehouse": WarehouseResource(database_url=settings.database_url)},
        run_config={"ops": {"woocommerce_loyalty": {"config": config}}},
    )


def test_loyalty_materializes_per_shop_with_checks_and_a_sync_summary(
    engine: sa.Engine, instance: dg.DagsterInstance, settings: Settings
) -> None:
    shop = register(engine, instance)
    load(
        engine, shop,
        [order(1, 7, days_ago(20), ["100.00"]), order(2, 8, days_ago(19), ["50.00"], status="pending", paid=False)],
        [refund(11, 1, days_ago(18), "25.00")],
    )  # fmt: skip
    result = _materialize(instance, settings, window="last_90_days")
    assert result.success
    materialized = {e.asset_key.to_user_string(): e.materialization.metadata for e in
                    result.get_asset_materialization_events()}  # fmt: skip
    assert set(materialized) == KEYS
    summary = materialized["woocommerce/loyalty/sync_summary"]
    assert (summary["orders_synced"].value, summary["customers_updated"].value, summary["discrepancies"].value) == (
        1, 1, 0,
    )  # fmt: skip
    assert "loyalty.discrepancies" in summary["discrepancy_rows"].value
    assert "shorter than the ANNUAL evaluation period" in summary["warnings"].value
    ledger = materialized["woocommerce/loyalty/cashback_ledger"]
    assert (ledger["dagster/row_count"].value, ledger["earn_amount"].value, ledger["clawback_amount"].value) == (
        2, "2.00", "-0.50",
    )  # fmt: skip
    assert materialized["woocommerce/loyalty/tiers"]["customers_Bronze"].value == 1
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == dict.fromkeys(
        ("balance_is_sum_of_entries", "clawbacks_within_earn", "every_synced_order_earned", "ledger_matches_orders",
         "tiers_match_spend", "spend_matches_orders"), True,
    )  # fmt: skip
    # Reconcile as run config: nothing to correct, twice.
    for _ in range(2):
        again = _materialize(instance, settings, reconcile_ledger=True)
        metadata = {e.asset_key.to_user_string(): e.materialization.metadata for e in
                    again.get_asset_materialization_events()}  # fmt: skip
        assert metadata["woocommerce/loyalty/cashback_ledger"]["entries_written"].value == 0
    assert rows(engine, "SELECT mode, reconcile, entries_written FROM loyalty.sync_runs ORDER BY sync_id") == [
        ("sync", False, 2), ("sync", True, 0), ("sync", True, 0),
    ]  # fmt: skip


def test_recalculate_tiers_job_and_shop_sync_job_selection(
    engine: sa.Engine, instance: dg.DagsterInstance, settings: Settings
) -> None:
    shop = register(engine, instance)
    load(engine, shop, [order(1, 7, days_ago(20), ["120.00"])])
    loaded = defs()
    sync_job = loaded.resolve_job_def("woocommerce_shop_sync")
    assert {k.to_user_string() for k in sync_job.asset_layer.executable_asset_keys} >= KEYS
    assert _materialize(instance, settings).success
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM loyalty.tier_placements"))
    job = loaded.resolve_job_def("woocommerce_recalculate_tiers")
    result = job.execute_in_process(partition_key=SHOP_KEY, instance=instance)
    assert result.success
    assert rows(engine, "SELECT customer_key, tier, period_spend FROM loyalty.tier_placements") == [
        ("id:7", "Silver", D("120.00"))
    ]
    assert rows(engine, "SELECT mode, entries_written FROM loyalty.sync_runs ORDER BY sync_id") == [
        ("sync", 1), ("recalculate_tiers", 0),
    ]  # fmt: skip


def test_one_shop_sync_run_goes_from_import_to_loyalty(
    engine: sa.Engine, instance: dg.DagsterInstance, woo_shop: Shop
) -> None:
    set_program(engine, woo_shop.key, LoyaltyProgram.from_dict(PROGRAM | {"evaluation_period": "LIFETIME"}))
    job = defs().resolve_job_def("woocommerce_shop_sync")
    run_config = {"resources": {"woocommerce_sync": {"config": {"mode": "full", "concurrency": 2}}}}
    result = job.execute_in_process(instance=instance, partition_key=woo_shop.key, run_config=run_config)
    assert result.success
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} >= KEYS
    loyalty_checks = [c for c in result.get_asset_check_evaluations() if c.asset_key.path[1] == "loyalty"]
    assert len(loyalty_checks) == 6 and all(c.passed for c in loyalty_checks)
    # Every Paid order of the emulated shop with a customer earned once, at the tier held when it was paid.
    paid = rows(engine, """
        SELECT count(*) FROM core.orders WHERE NOT deleted AND paid_at IS NOT NULL AND customer_key <> 'email:'
           AND status IN ('processing', 'completed', 'refunded')""")  # fmt: skip
    assert rows(engine, "SELECT count(*) FROM loyalty.orders") == paid
    earned = rows(engine, "SELECT count(*) FROM loyalty.cashback_ledger WHERE kind = 'earn'")
    assert earned == rows(
        engine, "SELECT count(*) FROM loyalty.orders WHERE round(basis * cashback_percent / 100, 2) > 0"
    )
    assert earned[0][0] > 100
