"""The raw-to-core mapping on hand-written WooCommerce payloads: exact values, customer merge, quarantine."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from storepipe.shops import Shop, add_shop, validate_shop
from storepipe.sources.woocommerce import model
from storepipe.sources.woocommerce.model import map_shop
from storepipe.warehouse.tables import woocommerce_raw
from storepipe.warehouse.upsert import bulk_upsert

COLUMNS = ("shop_key", "id", "parent_id", "modified_gmt", "payload", "fetched_at", "deleted_at")
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def order(oid: int, **overrides: object) -> dict:
    base = {
        "id": oid, "number": str(oid), "status": "completed", "currency": "EUR", "customer_id": 0,
        "date_created_gmt": "2026-01-31T22:30:00", "date_modified_gmt": "2026-02-01T10:00:00",
        "date_paid_gmt": "2026-01-31T22:31:00", "date_completed_gmt": "2026-02-02T09:00:00",
        "discount_total": "5.00", "discount_tax": "0.95", "shipping_total": "4.90", "shipping_tax": "0.93",
        "cart_tax": "7.60", "total_tax": "8.53", "total": "58.43", "payment_method": "stripe",
        "created_via": "checkout", "parent_id": 0,
        "billing": {"email": "  Ann@Example.com ", "first_name": "Ann", "last_name": "Lee"},
        "line_items": [
            {"id": 11, "product_id": 100, "variation_id": 0, "sku": "TEE", "name": "Tee", "quantity": 2,
             "subtotal": "30.00", "subtotal_tax": "5.70", "total": "25.00", "total_tax": "4.75"},
            {"id": 12, "product_id": 200, "variation_id": 201, "sku": "MUG-R", "name": "Mug - Red", "quantity": 1,
             "subtotal": "15.00", "subtotal_tax": "2.85", "total": "15.00", "total_tax": "2.85"},
        ],
        "fee_lines": [], "coupon_lines": [{"id": 31, "code": "WELCOME5", "discount": "5.00", "discount_tax": "0.95"}],
        "refunds": [{"id": 900, "reason": "damaged", "total": "-12.50"}],
        "meta_data": [
            {"id": 1, "key": "_wc_order_attribution_source_type", "value": "utm"},
            {"id": 2, "key": "_wc_order_attribution_utm_source", "value": "newsletter"},
            {"id": 3, "key": "_wc_order_attribution_session_pages", "value": "4"},
            {"id": 4, "key": "_wc_order_attribution_device_type", "value": "Mobile"},
        ],
    }  # fmt: skip
    return {**base, **overrides}


@pytest.fixture
def shop(engine: sa.Engine, instance) -> Shop:
    os.environ["MODEL_KEY"], os.environ["MODEL_SECRET"] = "k", "s"
    return add_shop(
        engine,
        instance,
        validate_shop(
            platform="woocommerce", key="m", url="http://127.0.0.1:1", timezone="Europe/Berlin",
            currency="EUR", credentials_env="MODEL",
        ),
    )  # fmt: skip


def load(engine: sa.Engine, entity: str, records: list[dict], parent: int | None = None, deleted: bool = False) -> None:
    rows = [("m", r["id"], parent, None, json.dumps(r), datetime.now(UTC), NOW if deleted else None) for r in records]
    with engine.begin() as conn:
        bulk_upsert(
            conn, woocommerce_raw[entity], rows, columns=COLUMNS, key=("shop_key", "id"), version="modified_gmt"
        )


def q(engine: sa.Engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def test_order_maps_exactly(engine: sa.Engine, shop: Shop) -> None:
    load(engine, "orders", [order(1)])
    result = map_shop(engine, shop, None)
    assert (result.orders, result.order_lines, result.quarantined) == (1, 2, 0)
    (row,) = q(
        engine,
        "SELECT status_group, created_date, subtotal, discount_total, shipping_total, total_tax, total, "
        "refunded_total, item_count, customer_key, email FROM core.orders",
    )
    # 22:30 UTC on Jan 31 is 23:30 in Berlin: still January 31 there.
    assert row == (
        "paid", datetime(2026, 1, 31).date(), Decimal("45.00"), Decimal("5.00"), Decimal("4.90"),
        Decimal("8.53"), Decimal("58.43"), Decimal("12.50"), Decimal("3"), "email:ann@example.com",
        "ann@example.com",
    )  # fmt: skip
    assert q(engine, "SELECT line_id, product_key, variation_key, quantity FROM core.order_lines ORDER BY 1") == [
        ("11", "100", None, Decimal("2")),
        ("12", "200", "201", Decimal("1")),
    ]
    assert q(engine, "SELECT coupon_key, discount FROM core.coupon_redemptions") == [("welcome5", Decimal("5.00"))]
    assert q(engine, "SELECT source_type, utm_source, session_pages, device_type FROM core.order_attribution") == [
        ("utm", "newsletter", 4, "Mobile")
    ]
    # Products known only from lines are kept (not in the catalog) with the line's name.
    assert q(engine, "SELECT product_key, name, in_catalog FROM core.products ORDER BY 1") == [
        ("100", "Tee", False),
        ("200", "Mug - Red", False),
    ]
    assert q(engine, "SELECT customer_key, registered FROM core.customers") == [("email:ann@example.com", False)]


def test_guest_with_a_registered_email_is_that_customer(engine: sa.Engine, shop: Shop) -> None:
    load(
        engine,
        "customers",
        [{"id": 7, "email": "ann@example.com", "first_name": "Ann", "date_created_gmt": "2025-01-01T00:00:00"}],
    )
    load(engine, "orders", [order(1), order(2, customer_id=7)])
    map_shop(engine, shop, None)
    assert q(engine, "SELECT order_id, customer_key, customer_id FROM core.orders ORDER BY 1") == [
        ("1", "id:7", None),
        ("2", "id:7", "7"),
    ]
    assert q(engine, "SELECT customer_key, registered FROM core.customers") == [("id:7", True)]


def test_guest_orders_are_rekeyed_when_the_customer_registers_later(
    engine: sa.Engine, shop: Shop, run_size: str
) -> None:
    load(engine, "orders", [order(1)])
    map_shop(engine, shop, None)
    load(engine, "customers", [{"id": 8, "email": "ann@example.com"}])
    map_shop(engine, shop, datetime(2020, 1, 1, tzinfo=UTC))
    assert q(engine, "SELECT customer_key FROM core.orders") == [("id:8",)]
    assert q(engine, "SELECT customer_key FROM core.customers") == [("id:8",)]


@pytest.fixture(params=["few orders", "many orders"])
def run_size(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways the model matches a run's orders: key probes (few) and a semi-join with fresh statistics (many)."""
    if request.param == "many orders":
        monkeypatch.setattr(model, "_ANALYZE_AFTER", 1)
    return request.param


def test_an_incremental_run_removes_only_the_guests_its_orders_left(
    engine: sa.Engine, shop: Shop, run_size: str
) -> None:
    def billing(email: str) -> dict:
        return {"email": email, "first_name": "", "last_name": ""}

    load(engine, "orders", [order(1), order(2, billing=billing("bo@example.com")),
                            order(3, billing=billing("cy@example.com"))])  # fmt: skip
    map_shop(engine, shop, None)
    cutoff = datetime.now(UTC)
    # Order 2's email is corrected to Cy's: Bo has no order left; Ann and Cy keep theirs.
    load(engine, "orders", [order(2, billing=billing("cy@example.com"), date_modified_gmt="2026-02-05T00:00:00")])
    map_shop(engine, shop, cutoff)
    incremental = q(engine, "SELECT customer_key FROM core.customers ORDER BY 1")
    assert incremental == [("email:ann@example.com",), ("email:cy@example.com",)]
    assert q(engine, "SELECT order_id, customer_key FROM core.orders ORDER BY 1")[1] == ("2", "email:cy@example.com")
    map_shop(engine, shop, None)
    assert q(engine, "SELECT customer_key FROM core.customers ORDER BY 1") == incremental


def test_malformed_orders_are_quarantined_and_the_rest_mapped(engine: sa.Engine, shop: Shop) -> None:
    bad_line = order(3)
    bad_line["line_items"][0]["quantity"] = -1
    load(
        engine,
        "orders",
        [order(1), order(2, date_created_gmt="0000-00-00T00:00:00"), bad_line, order(4, total=None)],
    )
    result = map_shop(engine, shop, None)
    assert (result.orders, result.quarantined) == (1, 3)
    assert q(engine, "SELECT source_id, reason FROM ops.discrepancies ORDER BY 1") == [
        ("2", "date_created_gmt is not a date: 0000-00-00T00:00:00"),
        ("3", "a line item has a missing or negative quantity or amount"),
        ("4", "total is missing or not a number: missing"),
    ]
    # A corrected version resolves the discrepancy and lands in core.
    load(engine, "orders", [order(2, date_modified_gmt="2026-02-05T00:00:00")])
    map_shop(engine, shop, None)
    assert q(engine, "SELECT source_id FROM ops.discrepancies WHERE resolved_at IS NOT NULL") == [("2",)]
    assert q(engine, "SELECT order_id FROM core.orders ORDER BY 1") == [("1",), ("2",)]


def test_trashed_order_keeps_its_status_group_and_is_flagged(engine: sa.Engine, shop: Shop) -> None:
    trashed = order(5, status="trash")
    trashed["meta_data"] = [{"id": 9, "key": "_wp_trash_meta_status", "value": "cancelled"}]
    load(engine, "orders", [trashed], deleted=True)
    map_shop(engine, shop, None)
    assert q(engine, "SELECT status, status_group, deleted FROM core.orders") == [("trash", "cancelled", True)]


def test_refunds_are_positive_on_their_own_local_date(engine: sa.Engine, shop: Shop) -> None:
    load(engine, "orders", [order(1)])
    refund = {
        "id": 900, "parent_id": 1, "date_created_gmt": "2026-02-28T23:30:00", "amount": "12.50", "reason": "damaged",
        "line_items": [{"id": 77, "product_id": 100, "variation_id": 0, "quantity": -1, "total": "-12.50",
                        "total_tax": "-2.38", "meta_data": [{"key": "_refunded_item_id", "value": "11"}]}],
    }  # fmt: skip
    load(engine, "refunds", [refund])
    map_shop(engine, shop, None)
    assert q(engine, "SELECT refund_id, order_id, created_date, amount FROM core.refunds") == [
        ("900", "1", datetime(2026, 3, 1).date(), Decimal("12.50"))  # 23:30 UTC is March 1 in Berlin
    ]
    assert q(engine, "SELECT order_line_id, quantity, amount, tax FROM core.refund_lines") == [
        ("11", Decimal("1"), Decimal("12.50"), Decimal("2.38"))
    ]


def test_incremental_mapping_equals_rebuild(engine: sa.Engine, shop: Shop, run_size: str) -> None:
    load(engine, "orders", [order(i) for i in range(1, 6)])
    map_shop(engine, shop, None)
    cutoff = datetime.now(UTC)
    load(engine, "orders", [order(3, status="refunded", date_modified_gmt="2026-02-10T00:00:00")])
    map_shop(engine, shop, cutoff)
    incremental = q(engine, "SELECT order_id, status_group, total FROM core.orders ORDER BY 1")
    map_shop(engine, shop, None)
    assert q(engine, "SELECT order_id, status_group, total FROM core.orders ORDER BY 1") == incremental
    assert ("3", "refunded", Decimal("58.43")) in incremental


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-31T22:30:00", datetime(2026, 1, 31, 22, 30, tzinfo=UTC)),
        ("2026-02-30T10:00:00", None),
        ("0000-00-00T00:00:00", None),
        ("now", None),
        ("", None),
        (None, None),
    ],
)
def test_try_utc_accepts_only_real_naive_utc_timestamps(engine: sa.Engine, value: str | None, expected: object) -> None:
    assert q(engine, f"SELECT core.try_utc({'NULL' if value is None else repr(value)})") == [(expected,)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12.50", Decimal("12.50")), ("-0.95", Decimal("-0.95")), ("1450", Decimal("1450")), ("12,50", None),
     ("NaN", None), ("", None)],
)  # fmt: skip
def test_try_numeric_accepts_only_plain_decimals(engine: sa.Engine, value: str, expected: object) -> None:
    assert q(engine, f"SELECT core.try_numeric({value!r})") == [(expected,)]
