"""The inbox sensor: one `<lane>_webhook_apply` run per shop with pending webhook deliveries."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from storepipe.resources import WarehouseResource
from storepipe.sources.tiktok_shop.assets import webhook_apply_job as tiktok_shop_job
from storepipe.sources.woocommerce.assets import webhook_apply_job as woocommerce_job
from storepipe.webhooks import inbox

JOBS = {"woocommerce": woocommerce_job.name, "tiktok_shop": tiktok_shop_job.name}
# Runs that have not started yet: they will claim whatever is pending when they do, so another is not needed.
_WAITING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]


def release_dead_claims(instance: dg.DagsterInstance, engine: sa.Engine) -> int:
    """Give back deliveries claimed by runs that ended without releasing them (killed process, lost worker)."""
    released = 0
    for run_id, ids in inbox.claimed_runs(engine).items():
        run = instance.get_run_by_id(run_id) if run_id else None
        if run is None or run.is_finished:
            inbox.release(engine, ids, f"run {run_id or '?'} ended without applying its claim")
            released += len(ids)
    return released


def _waiting_run(instance: dg.DagsterInstance, job_name: str, shop_key: str) -> bool:
    runs = instance.get_run_records(
        filters=dg.RunsFilter(job_name=job_name, tags={"dagster/partition": shop_key}, statuses=_WAITING), limit=1
    )
    return bool(runs)


@dg.sensor(
    name="webhook_inbox_sensor",
    jobs=[woocommerce_job, tiktok_shop_job],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Every 30 s: one webhook-apply run per shop with pending deliveries in ops.webhook_inbox (run key = the "
        "newest pending delivery id, so a re-evaluation never asks twice for one batch); a shop whose last "
        "request has not started yet is left alone. Also frees deliveries claimed by runs that died."
    ),
)
def webhook_inbox_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    engine = warehouse.engine()
    released = release_dead_claims(context.instance, engine)
    if released:
        context.log.warning(f"{released} webhook deliveries claimed by ended runs are pending again")
    requests: list[dg.RunRequest] = []
    for shop in inbox.backlog(engine, enabled_only=True):
        job_name = JOBS.get(shop.platform)
        if not shop.pending or job_name is None or _waiting_run(context.instance, job_name, shop.shop_key):
            continue
        requests.append(
            dg.RunRequest(
                # A retry after a failed run has the same newest id: the attempt count makes it a new request.
                run_key=f"{shop.shop_key}:{shop.max_pending_id}:{shop.attempts}",
                job_name=job_name,
                partition_key=shop.shop_key,
                tags={"storepipe/shop": shop.shop_key, "storepipe/webhook_deliveries": str(shop.pending)},
            )
        )
    if not requests:
        return dg.SensorResult(skip_reason=dg.SkipReason("no pending webhook deliveries"))
    return dg.SensorResult(run_requests=requests)
