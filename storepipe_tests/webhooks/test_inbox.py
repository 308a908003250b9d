"""The inbox without emulators: claims, failed and dead runs, the sensor's skips, WooCommerce deliveries in raw."""

from __future__ import annotations

import json

import dagster as dg
import sqlalchemy as sa

from storepipe.automation.webhooks import webhook_inbox_sensor
from storepipe.definitions import defs
from storepipe.resources import WarehouseResource
from storepipe.settings import Settings
from storepipe.shops import Shop
from storepipe.sources.woocommerce.webhooks import apply_deliveries
from storepipe.status import inbox_lines
from storepipe.warehouse.tables import woocommerce_raw
from storepipe.webhooks import inbox
from storepipe_tests.webhooks.conftest import inbox_rows


def put(engine: sa.Engine, shop: Shop, topic: str, delivery: str, body: dict) -> int:
    with engine.begin() as conn:
        row_id = inbox.record(
            conn, shop_key=shop.key, platform=shop.platform, topic=topic, delivery_id=delivery,
            resource_id=str(body.get("id")), body=json.dumps(body),
        )  # fmt: skip
    assert row_id is not None
    return row_id


def sensor(instance: dg.DagsterInstance, settings: Settings) -> dg.SensorResult:
    resources = {"warehouse": WarehouseResource(database_url=settings.database_url)}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        return webhook_inbox_sensor(context)


def test_claims_are_exclusive_and_failed_runs_give_deliveries_back(
    engine: sa.Engine, instance, settings: Settings, shops: dict[str, Shop]
) -> None:
    woo = shops["woocommerce"]
    ids = [put(engine, woo, "order.updated", f"d{i}", {"id": i}) for i in range(3)]
    first = inbox.claim(engine, woo.key, "run-a", limit=2)
    assert [d.id for d in first] == ids[:2]
    assert [d.id for d in inbox.claim(engine, woo.key, "run-b", limit=10)] == ids[2:]  # never the same delivery
    assert inbox.claim(engine, woo.key, "run-c", limit=10) == []

    # run-a and run-b are not runs of this instance any more (killed, wiped): the sensor frees their claims and
    # asks for one run for the shop, keyed by the newest pending id.
    (request,) = sensor(instance, settings).run_requests
    assert request.run_key == f"{woo.key}:{ids[-1]}:1" and request.partition_key == woo.key
    rows = inbox_rows(engine)
    assert {(r.status, r.attempts) for r in rows} == {("pending", 1)}
    assert "ended without applying" in rows[0].error

    # That run fails (the TikTok shop is not connected: no token); its claim comes back with the reason.
    tts = shops["tiktok_shop"]
    put(engine, tts, "ORDER_STATUS_CHANGE", "n1", {"type": 1, "data": {"order_id": "5"}})
    requests = {r.partition_key: r for r in sensor(instance, settings).run_requests}
    job = defs().resolve_job_def("tiktok_shop_webhook_apply")
    result = job.execute_in_process(
        instance=instance, partition_key=tts.key, tags=requests[tts.key].tags, raise_on_error=False
    )
    assert not result.success
    (failed,) = [r for r in inbox_rows(engine) if r.shop_key == tts.key]
    assert (failed.status, failed.attempts, failed.run_id) == ("pending", 1, result.run_id)
    assert "tshop" in failed.error
    # A retry is a new request (attempt 1), not the batch the failed run had.
    retry = {r.partition_key: r for r in sensor(instance, settings).run_requests}[tts.key]
    assert retry.run_key == f"{tts.key}:{failed.id}:1"
    # After MAX_ATTEMPTS the delivery is set aside as failed instead of blocking the shop's inbox.
    for attempt in range(2, inbox.MAX_ATTEMPTS + 1):
        inbox.claim(engine, tts.key, f"run-{attempt}", limit=10)
        inbox.release(engine, [failed.id], "still broken")
    assert [r.status for r in inbox_rows(engine) if r.shop_key == tts.key] == ["failed"]


def test_a_shop_with_a_queued_apply_run_gets_no_second_one(
    engine: sa.Engine, instance, settings: Settings, shops: dict[str, Shop]
) -> None:
    woo, tts = shops["woocommerce"], shops["tiktok_shop"]
    put(engine, woo, "order.updated", "w1", {"id": 1})
    put(engine, tts, "ORDER_STATUS_CHANGE", "t1", {"type": 1, "data": {"order_id": "5"}})
    job = defs().resolve_job_def("woocommerce_webhook_apply")
    # A run for the WooCommerce shop has not started yet (queued, say, behind the per-shop limit): it will claim
    # what is pending when it starts, so the sensor asks only for the TikTok shop.
    instance.create_run_for_job(
        job, tags={"dagster/partition": woo.key}, status=dg.DagsterRunStatus.NOT_STARTED, run_config={}
    )
    assert [r.partition_key for r in sensor(instance, settings).run_requests] == [tts.key]
    # storepipe status shows both backlogs.
    lines = inbox_lines(engine, [woo.key, tts.key])
    assert [line.split(":")[0] for line in lines] == [tts.key, woo.key]
    assert all("1 webhook deliveries pending, oldest" in line for line in lines)


def test_woocommerce_deliveries_upsert_raw_monotonically_and_mark_deletes(
    engine: sa.Engine, shops: dict[str, Shop]
) -> None:
    woo = shops["woocommerce"]
    newer = {"id": 9, "status": "completed", "date_modified_gmt": "2026-11-27T10:00:00"}
    older = {"id": 9, "status": "processing", "date_modified_gmt": "2026-11-27T09:00:00"}
    customer = {"id": 4, "email": "a@example.com", "date_modified_gmt": "2026-11-27T08:00:00"}
    put(engine, woo, "order.updated", "u2", newer)
    put(engine, woo, "order.updated", "u1", older)  # arrives late: must not win
    put(engine, woo, "customer.created", "c1", customer)
    put(engine, woo, "customer.deleted", "c2", {"id": 4})
    put(engine, woo, "order.updated", "x", {"no": "id"})
    figures = apply_deliveries(engine, woo, inbox.claim(engine, woo.key, "run", limit=10))
    assert figures == {"webhook_records_written": 1, "webhook_records_deleted": 0, "webhook_skipped": 1}
    orders, customers = woocommerce_raw["orders"], woocommerce_raw["customers"]
    with engine.connect() as conn:
        stored = conn.execute(sa.select(orders.c.payload, orders.c.deleted_at)).one()
        assert conn.execute(sa.select(sa.func.count()).select_from(customers)).scalar_one() == 0
    assert stored.payload["status"] == "completed" and stored.deleted_at is None
    # Trashing the order later marks the raw record deleted (the body of a .deleted delivery is only the id).
    put(engine, woo, "order.deleted", "t1", {"id": 9})
    figures = apply_deliveries(engine, woo, inbox.claim(engine, woo.key, "run2", limit=10))
    assert figures["webhook_records_deleted"] == 1
    with engine.connect() as conn:
        assert conn.execute(sa.select(orders.c.deleted_at)).scalar_one() is not None
