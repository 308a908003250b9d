"""The bulk upsert is monotonic and idempotent: an older version never wins, the same record twice is one row."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from storepipe.warehouse.tables import raw_table
from storepipe.warehouse.upsert import UpsertResult, bulk_upsert

T0 = datetime(2026, 1, 1, tzinfo=UTC)
COLUMNS = ("shop_key", "id", "modified_gmt", "payload", "fetched_at")
meta = sa.MetaData()
records = raw_table("upsert_test_records", meta=meta)


@pytest.fixture
def table(engine: sa.Engine) -> sa.Table:
    meta.create_all(engine)
    return records


def _row(id_: int, modified: datetime | None, payload: dict, shop: str = "s1") -> tuple:
    return (shop, id_, modified, json.dumps(payload), datetime.now(UTC))


def _upsert(engine: sa.Engine, rows: list[tuple]) -> UpsertResult:
    with engine.begin() as conn:
        return bulk_upsert(conn, records, rows, columns=COLUMNS, key=("shop_key", "id"), version="modified_gmt")


def _stored(engine: sa.Engine) -> dict[tuple[str, int], tuple]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(records.c.shop_key, records.c.id, records.c.modified_gmt, records.c.payload))
        return {(r.shop_key, r.id): (r.modified_gmt, r.payload) for r in rows}


def test_same_record_twice_is_one_row_and_the_second_write_changes_nothing(engine: sa.Engine, table) -> None:
    row = _row(1, T0, {"total": "10.00"})
    assert _upsert(engine, [row]) == UpsertResult(inserted=1, updated=0, unchanged=0)
    with engine.connect() as conn:
        fetched_before = conn.execute(sa.select(records.c.fetched_at)).scalar_one()
    assert _upsert(engine, [_row(1, T0, {"total": "10.00"})]) == UpsertResult(inserted=0, updated=0, unchanged=1)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one() == 1
        assert conn.execute(sa.select(records.c.fetched_at)).scalar_one() == fetched_before


def test_older_version_never_overwrites_newer(engine: sa.Engine, table) -> None:
    _upsert(engine, [_row(1, T0 + timedelta(hours=1), {"status": "completed"})])
    result = _upsert(engine, [_row(1, T0, {"status": "processing"})])
    assert result == UpsertResult(inserted=0, updated=0, unchanged=1)
    assert _stored(engine)[("s1", 1)] == (T0 + timedelta(hours=1), {"status": "completed"})


def test_newer_version_replaces(engine: sa.Engine, table) -> None:
    _upsert(engine, [_row(1, T0, {"status": "processing"})])
    assert _upsert(engine, [_row(1, T0 + timedelta(seconds=1), {"status": "completed"})]).updated == 1
    assert _stored(engine)[("s1", 1)] == (T0 + timedelta(seconds=1), {"status": "completed"})


def test_same_version_with_new_content_replaces(engine: sa.Engine, table) -> None:
    """A PayPal refund adds a refund without bumping date_modified: same version, new content must land."""
    _upsert(engine, [_row(7, T0, {"refunds": []})])
    assert _upsert(engine, [_row(7, T0, {"refunds": [{"id": 9, "total": "-5.00"}]})]).updated == 1
    assert _stored(engine)[("s1", 7)][1] == {"refunds": [{"id": 9, "total": "-5.00"}]}


def test_duplicates_in_one_batch_keep_the_newest(engine: sa.Engine, table) -> None:
    rows = [
        _row(1, T0 + timedelta(minutes=5), {"v": 2}),
        _row(1, T0, {"v": 1}),
        _row(2, T0, {"v": 1}),
        _row(1, T0 + timedelta(minutes=1), {"v": 1.5}),
    ]
    assert _upsert(engine, rows) == UpsertResult(inserted=2, updated=0, unchanged=0)
    assert _stored(engine)[("s1", 1)] == (T0 + timedelta(minutes=5), {"v": 2})


def test_null_version_counts_as_oldest(engine: sa.Engine, table) -> None:
    _upsert(engine, [_row(1, None, {"v": "unknown"})])
    assert _upsert(engine, [_row(1, T0, {"v": "dated"})]).updated == 1
    assert _upsert(engine, [_row(1, None, {"v": "undated again"})]).unchanged == 1
    assert _stored(engine)[("s1", 1)] == (T0, {"v": "dated"})


def test_shops_are_separate_keys(engine: sa.Engine, table) -> None:
    result = _upsert(engine, [_row(1, T0, {"s": 1}, shop="a"), _row(1, T0, {"s": 2}, shop="b")])
    assert result.inserted == 2
    assert len(_stored(engine)) == 2


def test_rolled_back_transaction_writes_nothing(engine: sa.Engine, table) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        bulk_upsert(conn, records, [_row(1, T0, {})], columns=COLUMNS, key=("shop_key", "id"), version="modified_gmt")
        raise RuntimeError("crash after the upsert, before commit")
    assert _stored(engine) == {}


def test_two_batches_in_one_transaction(engine: sa.Engine, table) -> None:
    with engine.begin() as conn:
        a = bulk_upsert(
            conn, records, [_row(1, T0, {})], columns=COLUMNS, key=("shop_key", "id"), version="modified_gmt"
        )
        b = bulk_upsert(
            conn, records, [_row(2, T0, {})], columns=COLUMNS, key=("shop_key", "id"), version="modified_gmt"
        )
    assert (a + b).inserted == 2


def test_key_and_version_must_be_staged(engine: sa.Engine, table) -> None:
    with pytest.raises(ValueError, match="modified_gmt"), engine.begin() as conn:
        bulk_upsert(
            conn, records, [], columns=("shop_key", "id", "payload"), key=("shop_key", "id"), version="modified_gmt"
        )
