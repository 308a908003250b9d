"""The TikTok Shop lane in Dagster: one job run carries a shop through the nine stages, the model and the marts."""

from __future__ import annotations

import json

import sqlalchemy as sa

from storepipe.definitions import defs
from storepipe.emulators.tiktok_shop.server import RunningEmulator
from storepipe.loyalty.checks import CHECKS as LOYALTY_CHECKS
from storepipe.loyalty.factory import ASSETS as LOYALTY_ASSETS
from storepipe.marts.checks import CHECKS
from storepipe.marts.pnl import PNL_CHECKS, PNL_MARTS
from storepipe.marts.refresh import MARTS
from storepipe.shops import Shop
from storepipe.sources.tiktok_shop.streams import STAGES
from storepipe.sources.tiktok_shop.tokens import token_path

RUN_CONFIG = {"resources": {"tiktok_shop_sync": {"config": {"mode": "full", "concurrency": 2}}}}


def test_job_carries_one_shop_through_stages_model_and_marts(
    engine: sa.Engine, instance, tiktok_shop: Shop, tiktok_emulator: RunningEmulator
) -> None:
    job = defs().resolve_job_def("tiktok_shop_shop_sync")
    result = job.execute_in_process(instance=instance, partition_key=tiktok_shop.key, run_config=RUN_CONFIG)
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    marts = {f"tiktok_shop/marts/{m.name}" for m in (*MARTS, *PNL_MARTS)} | {"tiktok_shop/marts/order_facts"}
    stages = {f"tiktok_shop/{stage.name}" for stage in STAGES}
    assert len(stages) == 9
    loyalty = {f"tiktok_shop/loyalty/{name}" for name in LOYALTY_ASSETS}
    assert materialized == stages | {"tiktok_shop/model"} | marts | loyalty
    checks = result.get_asset_check_evaluations()
    assert len(checks) == len(CHECKS) + len(PNL_CHECKS) + len(LOYALTY_CHECKS)
    assert all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]

    (orders,) = result.asset_materializations_for_node("tiktok_shop__orders")
    with engine.connect() as conn:
        core_orders = conn.execute(sa.text("SELECT count(*) FROM core.orders WHERE shop_key = 'tts'")).scalar_one()
        settled = conn.execute(
            sa.text("SELECT count(*) FROM marts.order_pnl WHERE shop_key = 'tts' AND settlement_state = 'settled'")
        ).scalar_one()
    assert orders.metadata["dagster/row_count"].value == orders.metadata["inserted"].value == 400
    (model,) = result.asset_materializations_for_node("tiktok_shop__model")
    assert model.metadata["orders_mapped"].value == core_orders == 400
    assert settled > 300  # two years of history: nearly every delivered order has settled

    # Tokens and the app secret appear nowhere in what Dagster stored.
    (run,) = instance.get_runs()
    stored = " ".join(str(entry) for entry in instance.all_logs(run.run_id)) + str(run)
    pair = json.loads(token_path(tiktok_shop).read_text())
    for secret in (pair["access_token"], pair["refresh_token"], tiktok_emulator.app_secret):
        assert secret not in stored
