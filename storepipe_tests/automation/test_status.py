"""`storepipe status` per shop: the last sync (time, status, summary) and the next scheduled sync."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from storepipe.shops import list_shops
from storepipe.status import _progress_rows, sync_lines
from storepipe_tests.automation.conftest import register


def test_status_lines_show_last_and_next_sync(engine: sa.Engine, instance) -> None:
    register(engine, instance, "woocommerce", "done")
    register(engine, instance, "woocommerce", "broken")
    register(engine, instance, "tiktok_shop", "new")
    register(engine, instance, "woocommerce", "off", enabled=False)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO ops.sync_progress (shop_key, entity, status, processed, summary, finished_at) VALUES "
                "('done', 'model', 'Completed', 9, CAST(:s AS jsonb), '2026-03-02 02:03:00+00'), "
                "('broken', 'model', 'Completed', 1, NULL, '2026-03-01 14:05:00+00'), "
                "('broken', 'orders', 'Failed', 0, NULL, NULL)"
            ),
            {"s": '{"orders_synced": 12, "customers_updated": 3, "open_discrepancies": 0, "duration_seconds": 4.2}'},
        )
    now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    lines = sync_lines(list_shops(engine), _progress_rows(engine, None), now)
    assert lines == [
        "broken: last sync 2026-03-01 14:05 UTC Completed; now Failed in orders; next sync 2026-03-02 14:00 UTC",
        "done: last sync 2026-03-02 02:03 UTC Completed, 12 orders synced, 3 customers updated, 0 open discrepancies, "
        "4.2 s; next sync 2026-03-02 14:00 UTC",
        "new: never synced; next sync 2026-03-02 14:00 UTC",
        "off: never synced; disabled, no scheduled syncs",
    ]
