"""Progress, checkpoints and quarantine in ops behave as the importers and `storepipe status` rely on."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from storepipe.shops import add_shop, validate_shop
from storepipe.sources.bookkeeping import (
    ProgressTracker,
    clear_checkpoint,
    load_checkpoint,
    quarantine,
    save_checkpoint,
)
from storepipe.warehouse import tables


@pytest.fixture
def shop(engine: sa.Engine, instance) -> str:
    os.environ["BK_KEY"], os.environ["BK_SECRET"] = "k", "s"
    add_shop(
        engine,
        instance,
        validate_shop(
            platform="woocommerce", key="bk", url="http://127.0.0.1:1", timezone="UTC", currency="EUR",
            credentials_env="BK",
        ),
    )  # fmt: skip
    return "bk"


def _progress(engine: sa.Engine) -> sa.Row:
    with engine.connect() as conn:
        return conn.execute(sa.select(tables.sync_progress)).one()


def test_progress_moves_through_the_statuses(engine: sa.Engine, shop: str) -> None:
    lines: list[str] = []
    tracker = ProgressTracker(engine, shop, "orders", run_id="r1", report=lines.append, flush_every=0)
    tracker.start(total=300)
    row = _progress(engine)
    assert (row.status, row.processed, row.total, row.run_id) == ("Running", 0, 300, "r1")
    assert row.started_at is not None and row.finished_at is None

    tracker.advance(100)
    assert _progress(engine).processed == 100
    tracker.paused("retry 1/7 in 2.0 s: HTTP 429 from http://shop/wp-json/wc/v3/orders")
    row = _progress(engine)
    assert row.status == "Paused" and "HTTP 429" in row.status_reason
    tracker.advance(100)  # a page got through: running again
    assert _progress(engine).status == "Running" and _progress(engine).status_reason is None

    tracker.advance(100)
    tracker.completed({"orders_synced": 300})
    row = _progress(engine)
    assert (row.status, row.processed, row.total, row.eta_seconds) == ("Completed", 300, 300, 0.0)
    assert row.summary == {"orders_synced": 300} and row.finished_at is not None
    assert any("Completed, 300 records" in line for line in lines)


def test_failure_keeps_the_error_and_a_new_start_clears_it(engine: sa.Engine, shop: str) -> None:
    tracker = ProgressTracker(engine, shop, "customers", report=lambda _: None)
    tracker.start()
    tracker.failed("HTTP 401 woocommerce_rest_authentication_error")
    row = _progress(engine)
    assert row.status == "Failed" and row.last_error == "HTTP 401 woocommerce_rest_authentication_error"
    tracker.start(total=5, processed=2)
    row = _progress(engine)
    assert (row.status, row.last_error, row.processed) == ("Running", None, 2)


def test_checkpoint_commits_with_its_transaction_only(engine: sa.Engine, shop: str) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        save_checkpoint(conn, shop, "orders", {"pages_done": [1, 2]}, "r1")
        raise RuntimeError("killed before commit")
    assert load_checkpoint(engine, shop, "orders") is None
    with engine.begin() as conn:
        save_checkpoint(conn, shop, "orders", {"pages_done": [1, 2]}, "r1")
    with engine.begin() as conn:
        save_checkpoint(conn, shop, "orders", {"pages_done": [1, 2, 3]}, "r2")
    assert load_checkpoint(engine, shop, "orders") == {"pages_done": [1, 2, 3]}
    with engine.begin() as conn:
        clear_checkpoint(conn, shop, "orders")
    assert load_checkpoint(engine, shop, "orders") is None


def test_quarantine_keeps_one_row_per_record_and_reason(engine: sa.Engine, shop: str) -> None:
    with engine.begin() as conn:
        quarantine(conn, shop, "orders", "17", "date_created_gmt is not a date", {"id": 17, "date_created_gmt": "x"})
        quarantine(conn, shop, "orders", "17", "date_created_gmt is not a date", '{"id": 17, "date_created_gmt": "y"}')
        quarantine(conn, shop, "orders", "17", "total is missing", {"id": 17})
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(tables.discrepancies.c.reason, tables.discrepancies.c.payload).order_by("reason")
        ).all()
    assert [(r.reason, r.payload) for r in rows] == [
        ("date_created_gmt is not a date", {"id": 17, "date_created_gmt": "y"}),
        ("total is missing", {"id": 17}),
    ]
