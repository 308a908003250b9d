"""A small WooCommerce shop written straight into raw, whose mart values are computed by hand in test_values.py.

Shop timezone America/New_York (UTC−5 in winter). Seven orders:
  1001 registered customer 7, 2026-01-10 10:00 local, completed: Mug ×2 (20.00 → 18.00 with SAVE10) and
       Shirt/S ×1 (30.00 → 27.00), shipping 5.00, total 50.00; partial refund 5001 of one Mug, 9.00, on 01-12.
  1002 guest " ANN@example.com" (= customer 7 by email), 2026-01-31 23:30 local (02-01 04:30 UTC),
       processing, paid 02-01 00:00 local: Shirt/M 30.00 + tax 2.40; refund 5002 of 10.00 without lines
       on 03-05 (a later month).
  1003 guest bob, 2026-02-01 00:30 local, completed: 3 × Old Poster (a product deleted from the catalog)
       15.00, fee 2.00, shipping 4.00.
  1004 customer 8, cancelled, with SAVE10; 1005 customer 8, failed: never counted.
  1006 customer 8, 2026-02-15, completed: Mug 10.00 → 9.00 with SAVE10; came from a Google ad (utm).
  1007 guest bob, 2026-03-02, refunded: Mug 10.00, refund 5003 of the line, 10.00, on 03-03.
Subscriptions: 9001 monthly 20.00 from 01-10, active; 9002 yearly 120.00 from 02-01, cancelled 03-10.
"""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa

from storepipe.shops import Shop, add_shop, validate_shop
from storepipe.warehouse.tables import woocommerce_raw

SHOP_KEY = "fixture"


def _line(line_id: int, product: int, qty: int, subtotal: str, total: str, *, variation: int = 0, tax: str = "0.00",
          name: str = "") -> dict[str, Any]:  # fmt: skip
    return {
        "id": line_id, "product_id": product, "variation_id": variation, "name": name or f"product {product}",
        "sku": "", "quantity": qty, "subtotal": subtotal, "subtotal_tax": tax, "total": total, "total_tax": tax,
    }  # fmt: skip


def _order(order_id: int, created: str, status: str, lines: list[dict[str, Any]], total: str, **extra: Any) -> dict:
    paid = extra.pop("paid", created if status in ("completed", "processing", "refunded") else None)
    order = {
        "id": order_id, "number": str(order_id), "status": status, "currency": "USD", "customer_id": 0,
        "parent_id": 0, "date_created_gmt": created, "date_paid_gmt": paid, "date_completed_gmt": None,
        "date_modified_gmt": created, "discount_total": "0.00", "discount_tax": "0.00", "shipping_total": "0.00",
        "shipping_tax": "0.00", "cart_tax": "0.00", "total_tax": "0.00", "total": total, "payment_method": "card",
        "created_via": "checkout", "billing": {"email": ""}, "line_items": lines, "fee_lines": [],
        "coupon_lines": [], "refunds": [], "meta_data": [],
    }  # fmt: skip
    order.update(extra)
    return order


def _attribution(**fields: str) -> list[dict[str, str]]:
    return [{"key": f"_wc_order_attribution_{k}", "value": v} for k, v in fields.items()]


def _save10(discount: str) -> list[dict[str, str]]:
    return [{"code": "SAVE10", "discount": discount, "discount_tax": "0.00"}]


ORDERS = [
    _order(1001, "2026-01-10T15:00:00", "completed",
           [_line(11, 100, 2, "20.00", "18.00", name="Mug"), _line(12, 200, 1, "30.00", "27.00", variation=201,
                                                                   name="Shirt - S")],
           "50.00", customer_id=7, billing={"email": "Ann@Example.com"}, discount_total="5.00",
           shipping_total="5.00", coupon_lines=_save10("5.00"), refunds=[{"id": 5001, "total": "-9.00"}],
           meta_data=_attribution(source_type="organic", referrer="https://www.google.com/", device_type="Desktop")),
    _order(1002, "2026-02-01T04:30:00", "processing",
           [_line(21, 200, 1, "30.00", "30.00", variation=202, tax="2.40", name="Shirt - M")], "32.40",
           billing={"email": " ANN@example.com"}, paid="2026-02-01T05:00:00", cart_tax="2.40", total_tax="2.40",
           refunds=[{"id": 5002, "total": "-10.00"}]),
    _order(1003, "2026-02-01T05:30:00", "completed", [_line(31, 300, 3, "15.00", "15.00", name="Old Poster")],
           "21.00", billing={"email": "bob@example.com"}, shipping_total="4.00",
           fee_lines=[{"name": "Handling", "total": "2.00", "total_tax": "0.00"}],
           meta_data=_attribution(source_type="typein", device_type="Mobile")),
    _order(1004, "2026-02-10T12:00:00", "cancelled", [_line(41, 100, 1, "10.00", "9.00", name="Mug")], "9.00",
           customer_id=8, billing={"email": "cy@example.com"}, discount_total="1.00", coupon_lines=_save10("1.00")),
    _order(1005, "2026-02-11T12:00:00", "failed", [_line(51, 100, 1, "10.00", "10.00", name="Mug")], "10.00",
           customer_id=8, billing={"email": "cy@example.com"}),
    _order(1006, "2026-02-15T16:00:00", "completed", [_line(61, 100, 1, "10.00", "9.00", name="Mug")], "9.00",
           customer_id=8, billing={"email": "cy@example.com"}, discount_total="1.00", coupon_lines=_save10("1.00"),
           meta_data=_attribution(source_type="utm", utm_source="google", utm_medium="cpc", device_type="Mobile")),
    _order(1007, "2026-03-02T14:00:00", "refunded", [_line(71, 100, 1, "10.00", "10.00", name="Mug")], "10.00",
           billing={"email": "bob@example.com"}, refunds=[{"id": 5003, "total": "-10.00"}]),
]  # fmt: skip


def _refund(refund_id: int, order_id: int, created: str, amount: str, lines: list[dict[str, Any]]) -> dict:
    return {"id": refund_id, "parent_id": order_id, "date_created_gmt": created, "amount": amount, "reason": "",
            "line_items": lines}  # fmt: skip


REFUNDS = [
    _refund(5001, 1001, "2026-01-12T14:00:00", "9.00", [
        {"id": 91, "product_id": 100, "variation_id": 0, "quantity": -1, "total": "-9.00", "total_tax": "0.00",
         "meta_data": [{"key": "_refunded_item_id", "value": "11"}]}]),
    _refund(5002, 1002, "2026-03-05T15:00:00", "10.00", []),
    _refund(5003, 1007, "2026-03-03T15:00:00", "10.00", [
        {"id": 93, "product_id": 100, "variation_id": 0, "quantity": -1, "total": "-10.00", "total_tax": "0.00",
         "meta_data": [{"key": "_refunded_item_id", "value": "71"}]}]),
]  # fmt: skip

CUSTOMERS = [
    {"id": 7, "email": "ann@example.com", "first_name": "Ann", "last_name": "A",
     "date_created_gmt": "2025-12-01T10:00:00", "date_modified_gmt": "2025-12-01T10:00:00"},
    {"id": 8, "email": "cy@example.com", "first_name": "Cy", "last_name": "C",
     "date_created_gmt": "2026-02-09T10:00:00", "date_modified_gmt": "2026-02-09T10:00:00"},
]  # fmt: skip

PRODUCTS = [
    {"id": 100, "name": "Mug", "sku": "MUG", "type": "simple", "status": "publish", "price": "10.00"},
    {"id": 200, "name": "Shirt", "sku": "SHIRT", "type": "variable", "status": "publish", "price": "30.00"},
]
VARIATIONS = [
    {"id": 201, "parent_id": 200, "sku": "SHIRT-S", "price": "30.00", "attributes": [{"name": "Size", "option": "S"}]},
    {"id": 202, "parent_id": 200, "sku": "SHIRT-M", "price": "30.00", "attributes": [{"name": "Size", "option": "M"}]},
]
COUPONS = [{"id": 70, "code": "SAVE10", "discount_type": "percent", "amount": "10.00", "usage_count": 3}]
SUBSCRIPTIONS = [
    {"id": 9001, "customer_id": 7, "status": "active", "billing_period": "month", "billing_interval": 1,
     "total": "20.00", "currency": "USD", "date_created_gmt": "2026-01-10T15:00:00",
     "start_date_gmt": "2026-01-10T15:00:00", "billing": {"email": "ann@example.com"}},
    {"id": 9002, "customer_id": 0, "status": "cancelled", "billing_period": "year", "billing_interval": 1,
     "total": "120.00", "currency": "USD", "date_created_gmt": "2026-02-01T05:30:00",
     "start_date_gmt": "2026-02-01T05:30:00", "cancelled_date_gmt": "2026-03-10T12:00:00",
     "end_date_gmt": "2026-03-10T12:00:00", "billing": {"email": "bob@example.com"}},
]  # fmt: skip


def write_raw(conn: sa.Connection, entity: str, records: list[dict[str, Any]]) -> None:
    """Upsert records into raw as the importer would (payload as delivered, parent id where nested)."""
    table = woocommerce_raw[entity]
    for record in records:
        values = {"shop_key": SHOP_KEY, "id": record["id"], "parent_id": record.get("parent_id") or None,
                  "payload": record, "fetched_at": sa.func.now(), "deleted_at": None}  # fmt: skip
        statement = sa.dialects.postgresql.insert(table).values(values)
        conn.execute(statement.on_conflict_do_update(index_elements=["shop_key", "id"], set_=values))


def register_fixture_shop(engine: sa.Engine, instance: Any) -> Shop:
    os.environ["FIXTURE_KEY"], os.environ["FIXTURE_SECRET"] = "ck_fixture", "cs_fixture"
    shop = validate_shop(
        platform="woocommerce", key=SHOP_KEY, url="http://127.0.0.1:9", timezone="America/New_York",
        currency="USD", credentials_env="FIXTURE",
    )  # fmt: skip
    add_shop(engine, instance, shop)
    with engine.begin() as conn:
        for entity, records in (("orders", ORDERS), ("refunds", REFUNDS), ("customers", CUSTOMERS),
                                ("products", PRODUCTS), ("variations", VARIATIONS), ("coupons", COUPONS),
                                ("subscriptions", SUBSCRIPTIONS)):  # fmt: skip
            write_raw(conn, entity, records)
    return shop
