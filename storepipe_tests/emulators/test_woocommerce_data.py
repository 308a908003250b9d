"""The generated shop: determinism, exact money, refunds, customers, seasonality, subscriptions, id space."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
import requests

from storepipe.emulators.woocommerce import EmulatorConfig, RunningEmulator, WooStore, run_in_thread

ATTRIBUTION = "_wc_order_attribution_source_type"


@pytest.fixture(scope="module")
def orders(api) -> list[dict[str, Any]]:
    """Every order of the shared shop (live and trashed), fetched over HTTP."""
    live = api.all_pages("/orders", {"orderby": "id", "order": "asc"})
    return sorted(live + api.all_pages("/orders", {"status": "trash"}), key=lambda o: o["id"])


@pytest.fixture(scope="module")
def refunds(api, orders: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    out = {}
    for order in orders:
        if order["refunds"]:
            out[order["id"]] = api.get(f"/orders/{order['id']}/refunds").json()
    return out


def _d(value: str) -> Decimal:
    return Decimal(value)


def test_same_seed_same_bytes_other_seed_differs() -> None:
    pages: list[list[bytes]] = []
    for seed in (11, 11, 12):
        config = EmulatorConfig(seed=seed, orders=400, home_url="https://shop.example")
        with run_in_thread(config) as emu:
            session = requests.Session()
            session.auth = emu.auth
            paths = [f"/orders?per_page=100&page={p}" for p in (1, 2, 3)] + [
                "/customers?per_page=50",
                "/subscriptions",
                "/products?per_page=100",
                "/orders?per_page=7&page=9",
            ]
            pages.append([session.get(emu.api_url + path, timeout=10).content for path in paths])
    assert pages[0] == pages[1]
    assert all(a != b for a, b in zip(pages[0], pages[2], strict=True))


def test_rendering_does_not_depend_on_request_order() -> None:
    first, second = WooStore(EmulatorConfig(seed=5, orders=300)), WooStore(EmulatorConfig(seed=5, orders=300))
    ids = first.order_ids()
    forward = [first.get_order(i) for i in ids]
    backward = [second.get_order(i) for i in reversed(ids)][::-1]
    assert forward == backward


def test_every_order_adds_up(orders: list[dict[str, Any]]) -> None:
    assert len(orders) == 1500
    for o in orders:
        lines, shipping, fees = o["line_items"], o["shipping_lines"], o["fee_lines"]
        line_total = sum((_d(li["total"]) for li in lines), Decimal(0))
        fee_total = sum((_d(f["total"]) for f in fees), Decimal(0))
        shipping_total = sum((_d(s["total"]) for s in shipping), Decimal(0))
        assert _d(o["total"]) == line_total + shipping_total + fee_total + _d(o["total_tax"]), o["id"]
        assert _d(o["total_tax"]) == _d(o["cart_tax"]) + _d(o["shipping_tax"]), o["id"]
        line_tax = sum((_d(li["total_tax"]) for li in lines), Decimal(0))
        assert _d(o["cart_tax"]) == line_tax + sum((_d(f["total_tax"]) for f in fees), Decimal(0)), o["id"]
        assert _d(o["discount_total"]) == sum((_d(li["subtotal"]) - _d(li["total"]) for li in lines), Decimal(0))
        assert _d(o["shipping_total"]) == shipping_total
        for money in (o["total"], o["total_tax"], o["cart_tax"], o["shipping_total"], o["discount_total"]):
            assert isinstance(money, str) and len(money.split(".")[1]) == 2
        for li in lines:
            assert isinstance(li["price"], int | float) and isinstance(li["quantity"], int) and li["quantity"] > 0
            for tax in li["taxes"]:
                assert _d(li["total_tax"]) == _d(tax["total"]).quantize(Decimal("0.01"), "ROUND_HALF_UP")


def test_refunds(orders: list[dict[str, Any]], refunds: dict[int, list[dict[str, Any]]]) -> None:
    by_id = {o["id"]: o for o in orders}
    later_month = full = partial = 0
    for order_id, items in refunds.items():
        order = by_id[order_id]
        amounts = [_d(r["amount"]) for r in items]
        assert all(a > 0 for a in amounts)
        assert sum(amounts) <= _d(order["total"])
        assert [_d(r["total"]) for r in order["refunds"]] == [-a for a in amounts]  # same order: newest first
        assert all(r["total"].startswith("-") for r in order["refunds"])
        if sum(amounts) == _d(order["total"]):
            full += 1
            assert order["status"] == "refunded"
        else:
            partial += 1
            assert order["status"] != "refunded"
        for refund in items:
            assert refund["id"] > order_id
            later_month += refund["date_created_gmt"][:7] > order["date_created_gmt"][:7]
            for line in refund["line_items"]:
                assert line["quantity"] < 0 and _d(line["total"]) < 0
    assert full > 5 and partial > 5 and later_month > 5


def test_statuses_and_paid_dates(orders: list[dict[str, Any]]) -> None:
    statuses = Counter(o["status"] for o in orders)
    assert set(statuses) == {
        "pending",
        "processing",
        "on-hold",
        "completed",
        "cancelled",
        "refunded",
        "failed",
        "trash",
    }
    for o in orders:
        if o["status"] in ("completed", "refunded"):
            assert o["date_paid_gmt"] and o["date_completed_gmt"] >= o["date_paid_gmt"] >= o["date_created_gmt"]
        if o["status"] in ("pending", "failed", "cancelled", "on-hold"):
            assert o["date_paid"] is None
        assert o["date_modified_gmt"] >= o["date_created_gmt"]
        assert tuple(int(part) for part in o["version"].split(".")) <= (9, 4, 0)


def test_ids_follow_creation_order(
    shop: RunningEmulator, orders: list[dict[str, Any]], refunds: dict[int, list[dict[str, Any]]]
) -> None:
    stamps = [(o["date_created_gmt"], o["id"]) for o in orders]
    for r in (r for items in refunds.values() for r in items):
        stamps.append((r["date_created_gmt"], r["id"]))
    subs = shop.store.subscription_ids()
    assert set(subs).isdisjoint(o["id"] for o in orders)
    assert sorted(stamps) == sorted(stamps, key=lambda s: s[1])  # one id space, increasing with time


def test_customers_and_guests(api, orders: list[dict[str, Any]]) -> None:
    customers = {c["id"]: c for c in api.all_pages("/customers")}
    emails = {c["email"] for c in customers.values()}
    guests = [o for o in orders if o["customer_id"] == 0]
    registered = [o for o in orders if o["customer_id"]]
    assert 0.2 < len(guests) / len(orders) < 0.5
    assert all(o["customer_id"] in customers for o in registered)
    guest_emails = {o["billing"]["email"] for o in guests}
    assert guest_emails - emails  # true guests exist and are absent from /customers
    assert guest_emails & emails  # …and some registered customers checked out as guests
    repeat = Counter(o["billing"]["email"] for o in orders)
    assert max(repeat.values()) >= 5
    for o in registered[:200]:
        assert customers[o["customer_id"]]["date_created_gmt"] <= o["date_created_gmt"]


def test_seasonality_weekday_hour_and_growth(shop: RunningEmulator, orders: list[dict[str, Any]]) -> None:
    local = [datetime.fromisoformat(o["date_created"]) for o in orders]
    first_day, last_day = min(local).date(), max(local).date()
    days_per_month = Counter()
    for day in range((last_day - first_day).days + 1):
        days_per_month[(first_day.toordinal() + day)] = 1
    by_month = Counter(t.month for t in local)
    month_days = Counter(datetime.fromordinal(d).month for d in days_per_month)
    rate = {m: by_month[m] / month_days[m] for m in month_days}
    peak = (rate[11] + rate[12]) / 2
    rest = sum(rate[m] for m in range(1, 11)) / 10
    assert peak > 1.3 * rest
    hours = Counter(t.hour for t in local)
    assert sum(hours[h] for h in range(18, 22)) > 5 * sum(hours[h] for h in range(2, 6))
    years = Counter((t - min(local)).days // 365 for t in local)
    assert years[2] > years[0] * 1.3


def test_coupons_and_products_in_orders(api, orders: list[dict[str, Any]]) -> None:
    coupons = {c["code"]: c for c in api.all_pages("/coupons")}
    used = Counter(line["code"] for o in orders for line in o["coupon_lines"])
    assert {coupons[code]["discount_type"] for code in used} == {"percent", "fixed_cart", "fixed_product"}
    counted = ("processing", "completed", "on-hold", "refunded", "trash")
    for code, coupon in coupons.items():
        expected = sum(1 for o in orders if o["status"] in counted for c in o["coupon_lines"] if c["code"] == code)
        assert coupon["usage_count"] == expected
    product_ids = {p["id"] for p in api.all_pages("/products")}
    lines = [li for o in orders for li in o["line_items"]]
    assert any(li["variation_id"] for li in lines)
    deleted = {li["product_id"] for li in lines} - product_ids
    assert deleted  # old orders still reference products deleted since
    for product_id in deleted:
        assert api.get(f"/products/{product_id}").json()["code"] == "woocommerce_rest_product_invalid_id"
    assert all(li["sku"] is None for li in lines if li["product_id"] in deleted)


def test_attribution_meta_only_after_wc_8_5(orders: list[dict[str, Any]], make_shop) -> None:
    with_meta = [o for o in orders if any(m["key"] == ATTRIBUTION for m in o["meta_data"])]
    assert with_meta
    assert min(o["date_created_gmt"] for o in with_meta) >= "2024-01-09"
    assert {m["value"] for o in with_meta for m in o["meta_data"] if m["key"] == ATTRIBUTION} >= {
        "typein",
        "organic",
        "referral",
        "utm",
        "admin",
    }
    with make_shop(version="8.4") as old:
        store = old.store
        assert not any(
            m["key"].startswith("_wc_order_attribution_")
            for i in store.order_ids()
            for m in store.get_order(i)["meta_data"]
        )


def test_subscriptions_and_renewals(api, orders: list[dict[str, Any]]) -> None:
    subs = api.all_pages("/subscriptions")
    assert subs
    assert {s["status"] for s in subs} <= {
        "pending",
        "active",
        "on-hold",
        "cancelled",
        "expired",
        "pending-cancel",
    }
    assert {"active", "cancelled"} <= {s["status"] for s in subs}
    by_id = {o["id"]: o for o in orders}
    for sub in subs:
        assert isinstance(sub["billing_interval"], str)
        assert sub["billing_period"] in ("day", "week", "month", "year")
        assert by_id[sub["parent_id"]]["created_via"] in ("checkout", "store-api")
        for key in ("next_payment_date_gmt", "end_date_gmt", "cancelled_date_gmt", "trial_end_date_gmt"):
            assert sub[key] is not None  # "" when unset, never null
        if sub["status"] == "cancelled":
            assert sub["next_payment_date_gmt"] == "" and sub["cancelled_date_gmt"]
    renewals = [o for o in orders if any(m["key"] == "_subscription_renewal" for m in o["meta_data"])]
    assert renewals and all(o["created_via"] == "subscription" for o in renewals)
    sub_ids = {str(s["id"]) for s in subs}
    assert {m["value"] for o in renewals for m in o["meta_data"] if m["key"] == "_subscription_renewal"} <= sub_ids
    sample = next(s for s in subs if s["status"] == "active")
    related = api.get(f"/subscriptions/{sample['id']}/orders").json()
    assert {o["order_type"] for o in related} <= {"parent", "renewal"}
    assert sample["parent_id"] in {o["id"] for o in related}


def test_currency_and_timezone_are_configurable() -> None:
    store = WooStore(EmulatorConfig(seed=2, orders=200, currency="JPY", timezone="Asia/Tokyo"))
    order = store.get_order(store.order_ids()[-1])
    assert order["currency"] == "JPY" and order["currency_symbol"] == "&yen;"
    assert "." not in order["total"] and order["total"].isdigit()
    created_local = datetime.fromisoformat(order["date_created"])
    created_gmt = datetime.fromisoformat(order["date_created_gmt"])
    assert (created_local - created_gmt).total_seconds() == 9 * 3600


def test_skeleton_scales_and_is_reproducible() -> None:
    a = WooStore(EmulatorConfig(seed=9, orders=20000))
    b = WooStore(EmulatorConfig(seed=9, orders=20000))
    assert a.orders.n == 20000
    for column in ("id", "created", "modified", "status", "customer"):
        assert np.array_equal(a.orders[column], b.orders[column])
    assert a.build_seconds < 5
