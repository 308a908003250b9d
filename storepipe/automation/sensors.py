"""Sensors: the first full import of a newly registered shop, and TikTok statements that arrived or changed late."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg
import sqlalchemy as sa

from storepipe.automation.lanes import IN_FLIGHT, LANES, PARTITION_TAG, Lane
from storepipe.automation.schedules import LOOKBACK_HOURS
from storepipe.automation.statements import StatementChanges, statement_changes
from storepipe.automation.timing import TWICE_DAILY, next_tick
from storepipe.resources import WarehouseResource
from storepipe.shops import PLATFORMS, Shop, list_shops
from storepipe.warehouse import tables

# Shops are looked at again for this long after the cursor: a registration whose transaction began before
# another's but committed after it has the earlier created_at. The cursor lists the keys already seen there.
CURSOR_OVERLAP = timedelta(minutes=10)
STATEMENT_CHECK_INTERVAL = 1800
# Shops checked at once, and how long one tick may spend: the daemon's gRPC call times out after 60 s. A tick
# that runs out of time leaves a cursor, and the next one goes on from there (thousands of shops: several ticks).
STATEMENT_CHECK_THREADS = 8
STATEMENT_TICK_BUDGET = 40.0
# The newest daily statement is issued at 00:00 UTC. A run requested shortly before a scheduled sync reads only
# what that sync reads, so the sensor waits for it: otherwise every shop would get an extra run each night.
SCHEDULED_SYNC_GRACE = timedelta(hours=2, minutes=15)


def _completed(shop_key: sa.ColumnElement[str]) -> sa.Exists:
    """The shop has finished a sync: its model step (the last of a lane's import) completed once."""
    p = tables.sync_progress
    return sa.exists().where(p.c.shop_key == shop_key, p.c.entity == "model", p.c.status == "Completed")


def runs_in_flight(instance: dg.DagsterInstance, shop_keys: Iterable[str]) -> set[str]:
    """Shops with a queued or running run, in one query."""
    keys = list(shop_keys)
    if not keys:
        return set()
    records = instance.get_run_records(dg.RunsFilter(tags={PARTITION_TAG: keys}, statuses=IN_FLIGHT))
    return {r.dagster_run.tags[PARTITION_TAG] for r in records}


# ---------------------------------------------------------------- new shops


@dataclass(frozen=True)
class NewShopCursor:
    """Registrations seen up to `seen`; the keys within CURSOR_OVERLAP of it are looked at again but not requested."""

    seen: datetime | None = None
    recent: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str | None) -> NewShopCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(datetime.fromisoformat(data["seen"]), frozenset(data["recent"]))

    def dump(self) -> str | None:
        if self.seen is None:
            return None
        return json.dumps({"seen": self.seen.isoformat(), "recent": sorted(self.recent)})


def new_shops(engine: sa.Engine, platform: str, cursor: NewShopCursor) -> tuple[list[str], NewShopCursor]:
    """Enabled shops registered since the cursor that never completed a sync; and the cursor after them."""
    s = tables.shops
    query = sa.select(s.c.shop_key, s.c.enabled, _completed(s.c.shop_key).label("synced"), s.c.created_at).where(
        s.c.platform == platform
    )
    if cursor.seen is not None:
        query = query.where(s.c.created_at > cursor.seen - CURSOR_OVERLAP)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(s.c.created_at, s.c.shop_key)).all()
    created = {r.shop_key: r.created_at for r in rows}
    seen = max([*created.values(), *([cursor.seen] if cursor.seen else [])], default=None)
    if seen is None:
        return [], cursor
    # Only keys inside the overlap can come back in the next query: the cursor stays small.
    recent = frozenset(k for k, t in created.items() if t > seen - CURSOR_OVERLAP)
    new = [r.shop_key for r in rows if r.shop_key not in cursor.recent and r.enabled and not r.synced]
    return new, NewShopCursor(seen, recent)


def new_shop_sensor(lane: Lane) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{lane.platform}_new_shop_sensor",
        job=lane.job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Starts the first full import of every newly registered {lane.platform} shop, once.",
    )
    def _sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
        keys, cursor = new_shops(warehouse.engine(), lane.platform, NewShopCursor.parse(context.cursor))
        busy = runs_in_flight(context.instance, keys)  # e.g. an import someone started by hand
        wanted = [k for k in keys if k not in busy]
        # A run for a partition that does not exist yet fails: add the missing ones in the same result
        # (the daemon adds partitions before it launches the runs). shop_registry_sensor may add them too.
        existing = set(context.instance.get_dynamic_partitions(lane.partitions_name))
        missing = [k for k in wanted if k not in existing]
        partitions = PLATFORMS[lane.platform].partitions
        return dg.SensorResult(
            run_requests=[
                lane.request(key, run_key=f"new_shop:{key}", trigger="new_shop", mode="full") for key in wanted
            ],
            dynamic_partitions_requests=[partitions.build_add_request(missing)] if missing else [],
            cursor=cursor.dump(),
            skip_reason=None if wanted else f"no new {lane.platform} shops",
        )

    return _sensor


NEW_SHOP_SENSORS = {lane.platform: new_shop_sensor(lane) for lane in LANES}


# ---------------------------------------------------------------- late statements

TIKTOK = next(lane for lane in LANES if lane.platform == "tiktok_shop")


def synced_shops(engine: sa.Engine, platform: str) -> list[Shop]:
    """Enabled shops that completed a sync, by key (two queries whatever their number)."""
    s = tables.shops
    query = sa.select(s.c.shop_key).where(s.c.platform == platform, _completed(s.c.shop_key))
    with engine.connect() as conn:
        synced = set(conn.execute(query).scalars())
    return [shop for shop in list_shops(engine, platform=platform, enabled_only=True) if shop.key in synced]


def _rotate(shops: list[Shop], after: str) -> list[Shop]:
    """Shops after the cursor's key first, then from the start: a tick that runs out of time goes on next time."""
    return [s for s in shops if s.key > after] + [s for s in shops if s.key <= after]


@dg.sensor(
    name="tiktok_shop_late_statement_sensor",
    job=TIKTOK.job,
    minimum_interval_seconds=STATEMENT_CHECK_INTERVAL,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 30 min: one statements call per synced TikTok shop over the last 35 days; an incremental "
    "sync of the shops whose statements are new or changed (late settlements).",
)
def late_statement_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    now = datetime.now(UTC)
    due = next_tick(TWICE_DAILY, now)
    if due - now <= SCHEDULED_SYNC_GRACE:
        return dg.SensorResult(
            cursor=context.cursor, skip_reason=f"the scheduled sync at {due:%H:%M} UTC reads the statements"
        )
    engine = warehouse.engine()
    shops = synced_shops(engine, TIKTOK.platform)
    busy = runs_in_flight(context.instance, (s.key for s in shops))  # that run re-reads statements anyway
    todo = [s for s in _rotate(shops, context.cursor or "") if s.key not in busy]

    def check(shop: Shop) -> tuple[Shop, StatementChanges | None]:
        try:
            return shop, statement_changes(engine, shop)
        except Exception as exc:  # one shop's outage, revoked token or bad config must not stop the others
            # Our HTTP layer masks URLs and never puts tokens or secrets in messages (storepipe/http.py).
            context.log.warning(f"{shop.key}: statements not checked: {type(exc).__name__}: {exc}")
            return shop, None

    started, checked, requests = time.monotonic(), 0, []
    cursor = context.cursor or ""
    with ThreadPoolExecutor(STATEMENT_CHECK_THREADS, thread_name_prefix="late-statements") as pool:
        for first in range(0, len(todo), STATEMENT_CHECK_THREADS):
            if time.monotonic() - started > STATEMENT_TICK_BUDGET:
                break
            for shop, changes in pool.map(check, todo[first : first + STATEMENT_CHECK_THREADS]):
                checked += 1
                cursor = shop.key
                if changes:
                    context.log.info(
                        f"{shop.key}: {len(changes.new)} new and {len(changes.changed)} changed statements"
                    )
                    requests.append(
                        TIKTOK.request(
                            shop.key,
                            run_key=f"late_statements:{shop.key}:{changes.digest}",
                            trigger="late_statements",
                            mode="incremental",
                            lookback_hours=LOOKBACK_HOURS,
                        )
                    )
    if checked == len(todo):
        cursor = ""  # everyone checked: the next tick starts from the first shop again
    return dg.SensorResult(
        run_requests=requests,
        cursor=cursor,
        skip_reason=None if requests else f"checked {checked} of {len(todo)} shops: no new or changed statements",
    )


SENSORS = [*NEW_SHOP_SENSORS.values(), late_statement_sensor]
