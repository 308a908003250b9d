"""The TikTok Shop import over real HTTP: complete and exact, idempotent, incremental, late statements, bad input."""

from __future__ import annotations

import json
import os
import threading

import pytest
import sqlalchemy as sa

from storepipe.emulators.tiktok_shop.server import RunningEmulator
from storepipe.http import AuthError
from storepipe.shops import Shop
from storepipe.sources.tiktok_shop.importer import finish_sync, run_stage
from storepipe.sources.tiktok_shop.streams import STAGES
from storepipe.sources.tiktok_shop.sync import TikTokSyncOptions
from storepipe.sources.tiktok_shop.tokens import TokenFile, token_path
from storepipe_tests.sources.tiktok_shop.raw_loader import load_store

COMPARED = (
    "products", "product_details", "orders", "statements", "statement_transactions", "unsettled_transactions",
    "returns", "cancellations",
)  # fmt: skip
FULL = TikTokSyncOptions(mode="full")
INCREMENTAL = TikTokSyncOptions(mode="incremental")


def import_all(engine: sa.Engine, shop: Shop, options: TikTokSyncOptions) -> dict[str, dict]:
    """Every stage in order, then the model that closes the sync (what the job does); each stage's summary."""
    summaries = {stage.name: run_stage(engine, shop, stage.name, options).summary() for stage in STAGES}
    finish_sync(engine, shop, rebuild=options.mode == "full")
    return summaries


def raw(engine: sa.Engine, shop_key: str, entity: str) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(f"SELECT id, payload::text FROM raw.tiktok_shop_{entity} WHERE shop_key = :s"), {"s": shop_key}
        ).all()
    return {row[0]: row[1] for row in rows}


def progress(engine: sa.Engine, shop_key: str) -> dict[str, tuple[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT entity, status, last_error FROM ops.sync_progress WHERE shop_key = :s"), {"s": shop_key}
        ).all()
    return {row[0]: (row[1], row[2]) for row in rows}


def test_full_import_equals_the_emulator_and_a_second_run_changes_nothing(
    engine: sa.Engine, tiktok_shop: Shop, tiktok_emulator: RunningEmulator
) -> None:
    first = import_all(engine, tiktok_shop, FULL)
    load_store(engine, "truth", tiktok_emulator.store)  # what the API serves, read in-process
    for entity in COMPARED:
        imported, truth = raw(engine, tiktok_shop.key, entity), raw(engine, "truth", entity)
        assert imported.keys() == truth.keys(), entity
        assert imported == truth, entity  # every payload exactly as served
    assert len(raw(engine, tiktok_shop.key, "orders")) == 400
    assert first["orders"]["fetched"] == 400 and first["orders"]["quarantined"] == 0
    assert len(raw(engine, tiktok_shop.key, "inventory")) == 40
    assert len(raw(engine, tiktok_shop.key, "analytics")) > 300  # one row per day of history

    second = import_all(engine, tiktok_shop, FULL)
    for stage, summary in second.items():
        assert summary["inserted"] == summary["updated"] == 0, stage
    states = progress(engine, tiktok_shop.key)
    assert all(status == "Completed" for status, _ in states.values()), states


def test_incremental_sync_reads_changes_and_late_statements(
    engine: sa.Engine, tiktok_shop: Shop, tiktok_emulator: RunningEmulator
) -> None:
    store = tiktok_emulator.store
    full = import_all(engine, tiktok_shop, FULL)
    statements_before = set(raw(engine, tiktok_shop.key, "statements"))
    transactions_before = set(raw(engine, tiktok_shop.key, "statement_transactions"))
    orders_before = set(raw(engine, tiktok_shop.key, "orders"))

    store.advance_time(days=5)  # orders move on, new daily statements settle older orders
    created = store.create_order()
    incremental = import_all(engine, tiktok_shop, INCREMENTAL)

    load_store(engine, "truth", store)
    for entity in ("orders", "statements", "statement_transactions", "returns", "cancellations"):
        assert raw(engine, tiktok_shop.key, entity) == raw(engine, "truth", entity), entity
    assert created["id"] in raw(engine, tiktok_shop.key, "orders")
    new_statements = set(raw(engine, tiktok_shop.key, "statements")) - statements_before
    assert len(new_statements) >= 3  # daily, on the days something settled
    lines = raw(engine, tiktok_shop.key, "statement_transactions")
    settled_late = [
        i for i, t in lines.items() if i not in transactions_before and json.loads(t)["order_id"] in orders_before
    ]
    assert settled_late  # orders imported before now settled: their statement lines arrived with this sync
    full_requests = sum(s["requests"] for s in full.values())
    incremental_requests = sum(s["requests"] for s in incremental.values())
    assert incremental_requests < full_requests / 3


def test_token_expiring_in_the_middle_of_paging_is_refreshed(
    engine: sa.Engine, tiktok_shop: Shop, tiktok_emulator: RunningEmulator
) -> None:
    store = tiktok_emulator.store
    before = TokenFile(token_path(tiktok_shop)).load()
    assert before is not None
    requests_at_start = store.state()["requests"]
    expired = threading.Event()

    def expire_when_paging() -> None:
        while store.state()["requests"] < requests_at_start + 5:
            threading.Event().wait(0.005)
        store.advance_time(days=8)  # the access token (7 days) is now expired
        expired.set()

    watcher = threading.Thread(target=expire_when_paging, daemon=True)
    watcher.start()
    result = run_stage(engine, tiktok_shop, "orders", TikTokSyncOptions(mode="full", page_size=10, concurrency=1))
    watcher.join(5)
    assert expired.is_set()
    assert result.fetched >= 400
    assert len(raw(engine, tiktok_shop.key, "orders")) == len(store.order_ids())
    after = TokenFile(token_path(tiktok_shop)).load()
    assert after is not None and after.refresh_token != before.refresh_token  # rotated and persisted
    assert progress(engine, tiktok_shop.key)["orders"][0] == "Completed"


def test_rate_limit_storm_completes_with_every_record(
    engine: sa.Engine, tiktok_shop: Shop, tiktok_emulator: RunningEmulator
) -> None:
    store = tiktok_emulator.store
    store.set_fault("rate_limit", rate=0.25)
    store.set_fault("server_error", rate=0.05, status=503)
    result = run_stage(engine, tiktok_shop, "orders", TikTokSyncOptions(mode="full", page_size=20))
    store.clear_faults()
    assert len(raw(engine, tiktok_shop.key, "orders")) == 400
    assert result.requests > 20  # the retries are counted


def test_wrong_app_secret_fails_fast_naming_the_variable(
    engine: sa.Engine, tiktok_shop: Shop, tiktok_emulator: RunningEmulator
) -> None:
    os.environ["TTS_SECRET"] = "not-the-secret"
    with pytest.raises(AuthError, match="TTS_SECRET"):
        run_stage(engine, tiktok_shop, "products", FULL)
    status, error = progress(engine, tiktok_shop.key)["products"]
    assert status == "Failed" and "TTS_SECRET" in (error or "")
    assert "not-the-secret" not in (error or "")
    assert tiktok_emulator.store.state()["requests"] < 5  # no retry storm against refused credentials


def test_revoked_refresh_token_marks_the_shop_failed_with_reconnect(
    engine: sa.Engine, tiktok_shop: Shop, tiktok_emulator: RunningEmulator
) -> None:
    store = tiktok_emulator.store
    pair = TokenFile(token_path(tiktok_shop)).load()
    assert pair is not None
    store.refresh(store.config.app_key, store.config.app_secret, pair.refresh_token)  # someone else rotated it
    store.advance_time(days=8)  # our access token expires, and our refresh token is dead
    with pytest.raises(AuthError, match="reconnect the shop"):
        run_stage(engine, tiktok_shop, "products", FULL)
    states = progress(engine, tiktok_shop.key)
    assert states["products"][0] == "Failed" and "storepipe shops connect tts" in (states["products"][1] or "")
    assert "Completed" not in {status for status, _ in states.values()}


def test_tokens_stay_out_of_the_database_and_the_file_is_private(
    engine: sa.Engine, tiktok_shop: Shop, tiktok_emulator: RunningEmulator
) -> None:
    import_all(engine, tiktok_shop, FULL)
    path = token_path(tiktok_shop)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    pair = json.loads(path.read_text())
    secrets = [pair["access_token"], pair["refresh_token"], tiktok_emulator.app_secret]
    with engine.connect() as conn:
        for schema, table in conn.execute(
            sa.text("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN "
                    "('ops', 'raw', 'core') AND table_type = 'BASE TABLE'")
        ).all():  # fmt: skip
            dump = conn.execute(sa.text(f'SELECT coalesce(string_agg(t::text, \'\'), \'\') FROM {schema}."{table}" t'))
            text = dump.scalar_one()
            assert not any(secret in text for secret in secrets), f"{schema}.{table}"
