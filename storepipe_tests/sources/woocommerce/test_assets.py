"""The WooCommerce lane in Dagster: the per-shop job materializes every asset of one partition on a real instance."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa

from storepipe.definitions import defs
from storepipe.loyalty.checks import CHECKS as LOYALTY_CHECKS
from storepipe.loyalty.factory import ASSETS as LOYALTY_ASSETS
from storepipe.marts.checks import CHECKS
from storepipe.marts.refresh import MARTS
from storepipe.shops import Shop
from storepipe.sources.woocommerce.streams import STREAMS
from storepipe_tests.sources.woocommerce.helpers import KEY, SECRET

RUN_CONFIG = {"resources": {"woocommerce_sync": {"config": {"mode": "full", "concurrency": 2}}}}


def test_job_carries_one_shop_from_import_through_model_and_marts(engine: sa.Engine, instance, woo_shop: Shop) -> None:
    job = defs().resolve_job_def("woocommerce_shop_sync")
    result = job.execute_in_process(instance=instance, partition_key=woo_shop.key, run_config=RUN_CONFIG)
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    marts = {f"woocommerce/marts/{m.name}" for m in MARTS} | {"woocommerce/marts/order_facts"}
    loyalty = {f"woocommerce/loyalty/{name}" for name in LOYALTY_ASSETS}
    assert materialized == {f"woocommerce/{s.name}" for s in STREAMS} | {"woocommerce/model"} | marts | loyalty
    checks = result.get_asset_check_evaluations()
    assert len(checks) == len(CHECKS) + len(LOYALTY_CHECKS)
    assert all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]

    (orders,) = result.asset_materializations_for_node("woocommerce__orders")
    with engine.connect() as conn:
        raw_orders = conn.execute(sa.text("SELECT count(*) FROM raw.woocommerce_orders")).scalar_one()
        core_orders = conn.execute(sa.text("SELECT count(*) FROM core.orders")).scalar_one()
    # Numeric metadata (the UI plots it), equal to what landed.
    assert orders.metadata["dagster/row_count"].value == raw_orders
    assert orders.metadata["inserted"].value == raw_orders
    assert orders.metadata["trashed_before_first_import"].value == orders.metadata["fetched"].value - raw_orders
    assert isinstance(orders.metadata["records_per_second"].value, float)
    (model,) = result.asset_materializations_for_node("woocommerce__model")
    assert model.metadata["orders_mapped"].value == core_orders == raw_orders
    assert model.metadata["orders_synced"].value == raw_orders
    (customers,) = [m for m in result.asset_materializations_for_node("woocommerce_marts")
                    if m.asset_key.path[-1] == "customer_metrics"]  # fmt: skip
    with engine.connect() as conn:
        known = conn.execute(sa.text("SELECT count(DISTINCT customer_key) FROM marts.order_facts WHERE counted "
                                     "AND customer_key IS NOT NULL")).scalar_one()  # fmt: skip
    assert customers.metadata["dagster/row_count"].value == known > 100

    # The run is in the instance, tagged with its shop partition: visible in the UI and in the concurrency limit.
    (run,) = instance.get_runs()
    assert run.tags["dagster/partition"] == woo_shop.key

    # Credentials appear nowhere in what Dagster stored: logs, metadata, run config, tags.
    stored = " ".join(str(entry) for entry in instance.all_logs(run.run_id)) + str(run)
    assert KEY not in stored and SECRET not in stored


def test_unknown_shop_partition_is_refused(instance, woo_shop: Shop) -> None:
    job = defs().resolve_job_def("woocommerce_shop_sync")
    with pytest.raises(dg.DagsterUnknownPartitionError):
        job.execute_in_process(instance=instance, partition_key="no-such-shop", run_config=RUN_CONFIG)
