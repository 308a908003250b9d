"""End to end: emulator webhook → receiver → inbox → sensor → run → core and marts (real HTTP, PostgreSQL, Dagster)."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
import sqlalchemy as sa

from storepipe.automation.webhooks import webhook_inbox_sensor
from storepipe.definitions import defs
from storepipe.emulators import tiktok_shop, woocommerce
from storepipe.marts.refresh import refresh_shop
from storepipe.resources import WarehouseResource
from storepipe.settings import Settings
from storepipe.shops import Shop
from storepipe.sources.tiktok_shop.sync import TikTokSyncOptions
from storepipe.webhooks.server import receiver_in_thread
from storepipe_tests.sources.tiktok_shop.test_import import import_all
from storepipe_tests.sources.woocommerce.helpers import sync
from storepipe_tests.webhooks.conftest import control, delivered, inbox_rows


def evaluate_sensor(instance: dg.DagsterInstance, settings: Settings) -> dg.SensorResult:
    resources = {"warehouse": WarehouseResource(database_url=settings.database_url)}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        return webhook_inbox_sensor(context)


def run_requested(instance: dg.DagsterInstance, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """Execute a sensor's RunRequest for real, as the daemon would launch it."""
    job = defs().resolve_job_def(request.job_name or "")
    result = job.execute_in_process(instance=instance, partition_key=request.partition_key, tags=request.tags)
    assert result.success
    return result


def one(engine: sa.Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).first()


def test_woocommerce_changes_flow_from_the_store_to_the_marts(
    engine: sa.Engine, instance, settings: Settings, emulator: woocommerce.RunningEmulator, woo_shop: Shop
) -> None:
    sync(engine, woo_shop)  # the initial import, then its marts
    refresh_shop(engine, woo_shop, full=True)
    paid = one(
        engine,
        "SELECT f.order_id, f.order_date, d.orders FROM marts.order_facts f JOIN marts.daily_summary d "
        "ON d.shop_key = f.shop_key AND d.book = 'order_date' AND d.local_date = f.order_date "
        "WHERE f.counted AND f.status_group = 'paid' ORDER BY f.order_id::int DESC LIMIT 1",
    )
    os.environ["LANE_WEBHOOK_SECRET"] = "whsec_lane"
    with receiver_in_thread(engine) as base:
        url = f"{base}/webhooks/woocommerce/{woo_shop.key}"
        control(emulator, "POST", "/webhooks", json={"url": url, "secret": "whsec_lane"})
        control(emulator, "PATCH", f"/orders/{paid.order_id}", json={"status": "cancelled"})
        created = control(emulator, "POST", "/orders", json={"status": "processing"})
        sent = delivered(emulator)
    topics = [d["topic"] for d in sent]
    assert topics[0] == "ping" and "order.updated" in topics and "order.created" in topics
    rows = inbox_rows(engine)
    assert len(rows) == len(sent)  # each delivery stored once, the ping as a record only
    assert {r.status for r in rows if r.topic == "ping"} == {"ignored"}

    result = evaluate_sensor(instance, settings)
    (request,) = result.run_requests
    newest = max(r.id for r in rows if r.status == "pending")
    assert (request.job_name, request.partition_key) == ("woocommerce_webhook_apply", woo_shop.key)
    assert request.run_key == f"{woo_shop.key}:{newest}:0"
    run = run_requested(instance, request)
    materialized = {e.asset_key.to_user_string() for e in run.get_asset_materialization_events()}
    assert {"woocommerce/model", "woocommerce/marts/daily_summary", "woocommerce/marts/order_facts"} <= materialized
    assert not any(k.startswith("woocommerce/orders") for k in materialized)  # no sync: no stream asset ran
    (model,) = run.asset_materializations_for_node("woocommerce__model")
    assert model.metadata["webhook_deliveries"].value == len([r for r in rows if r.status == "pending"])

    # The cancelled order is cancelled in core and no longer counted in its day; the new order is everywhere.
    assert one(engine, "SELECT status FROM core.orders WHERE order_id = :o", o=str(paid.order_id)).status == "cancelled"
    after = one(
        engine,
        "SELECT orders FROM marts.daily_summary WHERE book = 'order_date' AND local_date = :d",
        d=paid.order_date,
    )
    assert after.orders == paid.orders - 1 + (1 if created["date_created"][:10] == str(paid.order_date) else 0)
    fact = one(engine, "SELECT counted, status_group FROM marts.order_facts WHERE order_id = :o", o=str(created["id"]))
    assert tuple(fact) == (True, "paid")

    # Applied, by that run; the sensor has nothing left to ask for.
    applied = [r for r in inbox_rows(engine) if r.topic != "ping"]
    assert {(r.status, r.run_id) for r in applied} == {("applied", run.run_id)}
    assert evaluate_sensor(instance, settings).run_requests == []


def test_tiktok_notifications_are_refetched_into_core_and_marts(
    engine: sa.Engine, instance, settings: Settings, tiktok_emulator: tiktok_shop.RunningEmulator, tiktok_shop: Shop
) -> None:
    import_all(engine, tiktok_shop, TikTokSyncOptions(mode="full"))
    refresh_shop(engine, tiktok_shop, full=True)
    with receiver_in_thread(engine) as base:
        control(tiktok_emulator, "POST", "/webhooks", json={"url": f"{base}/webhooks/tiktok_shop/{tiktok_shop.key}"})
        created = control(tiktok_emulator, "POST", "/orders", json={})
        cancelled = control(tiktok_emulator, "POST", "/orders", json={})
        control(tiktok_emulator, "POST", f"/orders/{cancelled['id']}/cancel", json={})
        sent = delivered(tiktok_emulator)
    kinds = {d["topic"] for d in sent}
    assert {"ORDER_STATUS_CHANGE", "CANCELLATION_STATUS_CHANGE"} <= kinds
    assert len(inbox_rows(engine)) == len(sent)

    (request,) = evaluate_sensor(instance, settings).run_requests
    assert (request.job_name, request.partition_key) == ("tiktok_shop_webhook_apply", tiktok_shop.key)
    run = run_requested(instance, request)
    (model,) = run.asset_materializations_for_node("tiktok_shop__model")
    assert model.metadata["webhook_orders_refetched"].value == 2  # thin payloads: both orders asked for by id

    status = {r.order_id: r.status for r in _core_orders(engine, [created["id"], cancelled["id"]])}
    assert status == {created["id"]: created["status"], cancelled["id"]: "CANCELLED"}
    facts = {r.order_id: r.status_group for r in _facts(engine, [created["id"], cancelled["id"]])}
    assert facts[cancelled["id"]] == "cancelled" and created["id"] in facts
    assert {r.status for r in inbox_rows(engine)} == {"applied"}
    assert evaluate_sensor(instance, settings).run_requests == []


def _core_orders(engine: sa.Engine, ids: list[str]) -> list[Any]:
    with engine.connect() as conn:
        sql = "SELECT order_id, status FROM core.orders WHERE order_id = ANY(:ids)"
        return list(conn.execute(sa.text(sql), {"ids": ids}))


def _facts(engine: sa.Engine, ids: list[str]) -> list[Any]:
    with engine.connect() as conn:
        sql = "SELECT order_id, status_group FROM marts.order_facts WHERE order_id = ANY(:ids)"
        return list(conn.execute(sa.text(sql), {"ids": ids}))
