"""The rules of a WooCommerce raw row, applied by PostgreSQL to a JSON array (storepipe.sources.woocommerce.raw)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
import sqlalchemy as sa

from storepipe.shops import Shop
from storepipe.sources.woocommerce.raw import NO_ID, InvalidJson, write_array

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def order(oid: int, modified: str | None = "2026-10-01T10:00:00", **fields: object) -> dict:
    return {"id": oid, "status": "processing", "date_created_gmt": "2026-09-30T08:00:00",
            "date_modified_gmt": modified, "total": "10.50", **fields}  # fmt: skip


def write(engine: sa.Engine, entity: str, records: list, shop_key: str = "s", **kw: object):
    with engine.begin() as conn:
        return write_array(conn, shop_key, entity, orjson.dumps(records).decode(), fetched_at=T0, **kw)


def rows(engine: sa.Engine, entity: str = "orders") -> dict[int, tuple]:
    with engine.connect() as conn:
        result = conn.execute(
            sa.text(f"SELECT id, parent_id, modified_gmt, payload, deleted_at FROM raw.woocommerce_{entity}")
        )
        return {r[0]: tuple(r[1:]) for r in result}


def test_records_become_rows_with_their_version_and_json_numbers_as_sent(engine: sa.Engine) -> None:
    done = write(engine, "orders", [order(1), order(2, modified=None), order(3, modified="not a date")])
    assert (done.listed, done.written.inserted, done.quarantined) == (3, 3, 0)
    got = rows(engine)
    assert got[1][1] == datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
    # A missing or malformed date_modified_gmt falls back to date_created_gmt.
    assert got[2][1] == got[3][1] == datetime(2026, 9, 30, 8, 0, tzinfo=UTC)
    assert got[1][2] == order(1) and got[1][0] is None and got[1][3] is None
    # The payload is the record as delivered: PostgreSQL keeps a JSON number's digits ("12.50" stays 12.50).
    with engine.begin() as conn:
        write_array(conn, "s", "orders", '[{"id": 9, "amount": 12.50}]', fetched_at=T0)
        assert conn.execute(sa.text("SELECT payload->>'amount' FROM raw.woocommerce_orders WHERE id = 9")).scalar() == (
            "12.50"
        )


def test_a_record_without_an_integer_id_is_quarantined_and_the_rest_written(engine: sa.Engine, woo_shop: Shop) -> None:
    records = [order(1), {"id": "7"}, {"id": 2.5}, {"number": 3}, 42, order(4)]
    done = write(engine, "orders", records, shop_key=woo_shop.key)
    assert (done.listed, done.written.inserted, done.quarantined) == (6, 2, 4)
    assert set(rows(engine)) == {1, 4}
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT source_id, reason, payload FROM ops.discrepancies ORDER BY 1")).all()
    # Records without any id are told apart by a digest of their content, so neither replaces the other.
    assert sorted(r[0] for r in found)[:2] == ["2.5", "7"] and len({r[0] for r in found}) == 4
    assert {r[1] for r in found} == {NO_ID}
    assert {"value": 42} in [r[2] for r in found]


def test_the_merge_is_monotonic_and_idempotent(engine: sa.Engine) -> None:
    write(engine, "orders", [order(1, total="1.00")])
    again = write(engine, "orders", [order(1, total="1.00")])
    assert (again.written.inserted, again.written.updated, again.written.unchanged) == (0, 0, 1)
    older = write(engine, "orders", [order(1, modified="2026-09-30T09:00:00", total="0.00")])
    assert older.written.updated == 0 and rows(engine)[1][2]["total"] == "1.00"
    # Same version, different content (a silent edit): replaced.
    same = write(engine, "orders", [order(1, total="2.00")])
    assert same.written.updated == 1 and rows(engine)[1][2]["total"] == "2.00"
    newer = write(engine, "orders", [order(1, modified="2026-10-02T00:00:00", total="3.00")])
    assert newer.written.updated == 1 and rows(engine)[1][2]["total"] == "3.00"


def test_within_one_array_the_newest_copy_of_an_id_wins(engine: sa.Engine) -> None:
    done = write(engine, "orders", [
        order(1, modified="2026-10-03T00:00:00", total="new"), order(1, total="old"),
    ])  # fmt: skip
    assert (done.listed, done.written.inserted) == (2, 1)
    assert rows(engine)[1][2]["total"] == "new"


def test_trashed_records_are_marked_deleted_at_their_modification_time(engine: sa.Engine) -> None:
    write(engine, "orders", [order(1), order(2, modified=None, date_created_gmt=None, status="trash")])
    got = rows(engine)
    assert got[1][3] is None
    assert got[2][3] == T0  # no date at all: the fetch time
    write(engine, "orders", [order(1, modified="2026-10-05T00:00:00", status="trash")])
    assert rows(engine)[1][3] == datetime(2026, 10, 5, tzinfo=UTC)


def test_parent_ids_come_from_the_listing_or_the_record(engine: sa.Engine) -> None:
    write(engine, "variations", [{"id": 11, "date_modified_gmt": "2026-10-01T00:00:00"}], parent_id=5)
    assert rows(engine, "variations")[11][0] == 5
    write(engine, "refunds", [{"id": 21, "parent_id": 7, "date_created_gmt": "2026-10-01T00:00:00"}])
    assert rows(engine, "refunds")[21][0] == 7
    # Orders have no parent: their own parent_id field (a suborder's) is not taken.
    write(engine, "orders", [order(31, parent_id=30)])
    assert rows(engine)[31][0] is None


def test_known_only_updates_records_raw_has_and_counts_the_others(engine: sa.Engine) -> None:
    write(engine, "orders", [order(1)])
    done = write(engine, "orders", [order(1, modified="2026-10-09T00:00:00", status="trash"), order(2, status="trash")],
                 known_only=True)  # fmt: skip
    assert (done.written.updated, done.not_imported) == (1, 1)
    assert set(rows(engine)) == {1} and rows(engine)[1][3] is not None


@pytest.mark.parametrize("body", ['[{"id": 1}, {"id": 2', '[{"id": 1, "line_items": [1]', "<html>[]</html>"])
def test_text_that_is_not_a_json_array_raises_invalid_json(engine: sa.Engine, body: str) -> None:
    with pytest.raises(InvalidJson), engine.begin() as conn:
        write_array(conn, "s", "orders", body, fetched_at=T0)
    assert rows(engine) == {}
