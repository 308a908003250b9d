"""TikTok Shop emulator FBT (warehouses, inventory, records, inbound orders) and shop analytics over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from storepipe.emulators.tiktok_shop import EmulatorConfig, RunningEmulator, run_in_thread
from storepipe.emulators.tiktok_shop.testing import SignedClient

FBT_WAREHOUSES = "/fbt/202408/warehouses"
FBT_INVENTORY = "/fbt/202408/inventory/search"
FBT_RECORDS = "/fbt/202410/inventory_records/search"
INBOUND = "/fbt/202409/inbound_orders"
GOODS = "/fbt/202409/goods/search"
PERFORMANCE = "/analytics/202405/shop/performance"
PRODUCTS = "/analytics/202405/shop_products/performance"
ORDERS = "/order/202309/orders/search"
DAY = 86400


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with run_in_thread(EmulatorConfig(seed=51, orders=800, products=20, rate_limit_qps=None)) as running:
        yield running


@pytest.fixture(scope="module")
def client(emu: RunningEmulator) -> SignedClient:
    return SignedClient(emu)


def collect(client: SignedClient, path: str, key: str, size: int, body: dict[str, Any] | None = None) -> list[dict]:
    pages = list(client.pages(path, key, {"page_size": str(size)}, body or {}))
    assert all(page["total_count"] == pages[0]["total_count"] for page in pages)
    rows = [row for page in pages for row in page[key]]
    assert len(rows) == pages[0]["total_count"]
    return rows


def iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def test_fbt_warehouses_and_goods(client: SignedClient) -> None:
    warehouses = client.data("GET", FBT_WAREHOUSES)["warehouses"]
    assert len(warehouses) == 2
    for warehouse in warehouses:
        assert warehouse["fbt_warehouse_id"].isdigit() and warehouse["warehouse_ids"] and warehouse["subscribed"]
    goods = collect(client, GOODS, "goods", 7)
    assert len({g["id"] for g in goods}) == len(goods) > 7
    assert all(g["reference_code"] and len(g["skus"]) == 1 for g in goods)


def test_fbt_inventory_pages_without_gaps_and_matches_records(client: SignedClient) -> None:
    inventory = collect(client, FBT_INVENTORY, "inventory", 9)
    assert len({(row["fbt_warehouse_id"], row["goods"]["id"]) for row in inventory}) == len(inventory)
    records = collect(client, FBT_RECORDS, "inventory_records", 100)
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        assert record["final_on_hand_quantity"] == record["initial_on_hand_quantity"] + record["changed_quantity"]
        pair = (record["fbt_warehouse_id"], record["goods"]["id"])
        if pair in last:  # each record starts where the previous one of its stock ended
            assert record["initial_on_hand_quantity"] == last[pair]["final_on_hand_quantity"]
        last[pair] = record
    assert {r["order"]["type"] for r in records} >= {"INBOUND", "SALES_ORDER"}
    for row in inventory:
        detail = row["on_hand_detail"]
        sellable = last[(row["fbt_warehouse_id"], row["goods"]["id"])]["final_on_hand_quantity"]
        assert sellable >= 0
        assert detail["total_quantity"] == sellable + detail["unfulfillable_quantity"]
        assert detail["available_quantity"] + detail["reserved_quantity"] == sellable


def test_fbt_sales_records_are_the_fbt_orders(client: SignedClient, emu: RunningEmulator) -> None:
    records = collect(client, FBT_RECORDS, "inventory_records", 100)
    sold = {r["order"]["id"]: r["fbt_warehouse_id"] for r in records if r["order"]["type"] == "SALES_ORDER"}
    orders = client.data("GET", "/order/202309/orders", {"ids": ",".join(sorted(sold)[:50])})["orders"]
    assert orders and all(o["fulfillment_type"] == "FULFILLMENT_BY_TIKTOK" for o in orders)
    linked = {w["fbt_warehouse_id"]: w["warehouse_ids"] for w in client.data("GET", FBT_WAREHOUSES)["warehouses"]}
    assert all(o["warehouse_id"] in linked[sold[o["id"]]] for o in orders)


def test_fbt_endpoints_are_signed_and_rate_limited(client: SignedClient, emu: RunningEmulator) -> None:
    unsigned = client.call("GET", FBT_WAREHOUSES, signature="0" * 64)
    assert unsigned.status_code == 401 and unsigned.json()["code"] == 106001
    assert client.call("GET", FBT_WAREHOUSES, cipher=False).json()["code"] == 106013
    fault = emu.store.set_fault("rate_limit", path="^/(fbt|analytics)/", count=2)
    try:
        limited = [client.call("GET", FBT_WAREHOUSES), client.call("GET", PERFORMANCE, {"start_date_ge": "x"})]
        assert [(r.status_code, r.json()["code"]) for r in limited] == [(429, 36009002)] * 2
    finally:
        emu.store.clear_faults(fault_id=fault)


def test_fbt_filters_and_inbound_orders(client: SignedClient) -> None:
    warehouse = client.data("GET", FBT_WAREHOUSES)["warehouses"][0]["fbt_warehouse_id"]
    body = {"fbt_warehouse_ids": [warehouse]}
    records = collect(client, FBT_RECORDS, "inventory_records", 50, body)
    assert records and {r["fbt_warehouse_id"] for r in records} == {warehouse}
    inbound_ids = sorted({r["order"]["id"] for r in records if r["order"]["type"] == "INBOUND"})
    found = client.data("GET", INBOUND, {"ids": ",".join(inbound_ids[:10])})["inbound_orders"]
    assert [o["id"] for o in found] == inbound_ids[:10]
    for order in found:
        assert order["warehouse"]["fbt_warehouse_id"] == warehouse
        assert order["order_operation_logs"][-1]["order_status"] == "COMPLETED"
        received = {b["goods_id"]: b["normal_quantity"] for b in order["received_batches"]}
        for record in (r for r in records if r["order"]["id"] == order["id"]):
            assert record["changed_quantity"] == received[record["goods"]["id"]]


def test_next_inbound_is_in_transit_then_received() -> None:
    with run_in_thread(EmulatorConfig(seed=52, orders=300, products=10, rate_limit_qps=None)) as emu:
        client = SignedClient(emu)
        store = emu.store
        upcoming = min((i for i in store.fbt.inbounds if i.steps[1] > store.now), key=lambda i: i.steps[1])
        store.advance_time(seconds=upcoming.steps[1] - store.now)
        client.access_token = store.authorize()["access_token"]  # the clock jump outlived the 7-day token
        body = {"fbt_warehouse_ids": [upcoming.warehouse.id]}
        rows = {r["goods"]["id"]: r for r in collect(client, FBT_INVENTORY, "inventory", 100, body)}
        for goods, quantity in upcoming.planned:
            assert rows[goods.id]["in_transit_quantity"] == quantity
        (shipped,) = client.data("GET", INBOUND, {"ids": upcoming.id})["inbound_orders"]
        assert shipped["ship_time"] == upcoming.steps[1] and shipped["received_batches"] == []
        store.advance_time(seconds=upcoming.complete_time - store.now)
        client.access_token = store.authorize()["access_token"]
        rows = {r["goods"]["id"]: r for r in collect(client, FBT_INVENTORY, "inventory", 100, body)}
        assert all(rows[goods.id]["in_transit_quantity"] == 0 for goods, _ in upcoming.planned)
        records = collect(client, FBT_RECORDS, "inventory_records", 100, {**body, "create_time_ge": store.now})
        assert {r["order"]["id"] for r in records if r["order"]["type"] == "INBOUND"} == {upcoming.id}


def test_fbt_inventory_needs_page_size(client: SignedClient) -> None:
    response = client.call("POST", FBT_INVENTORY, {}, body={})
    assert response.json()["code"] == 36009004


def test_shop_performance_per_day_equals_the_orders_of_that_day(client: SignedClient, emu: RunningEmulator) -> None:
    now = emu.store.now
    end = now - now % DAY
    start = end - 5 * DAY
    query = {"start_date_ge": iso(start), "end_date_lt": iso(end), "granularity": "1D", "currency": "LOCAL"}
    data = client.data("GET", PERFORMANCE, query)
    assert data["latest_available_date"] == iso(end - DAY)
    intervals = data["performance"]["intervals"]
    assert [i["start_date"] for i in intervals] == [iso(start + n * DAY) for n in range(5)]
    total_gmv, total_orders = Decimal(0), 0
    for n, interval in enumerate(intervals):
        day = start + n * DAY
        body = {"create_time_ge": day, "create_time_lt": day + DAY}
        pages = client.pages(ORDERS, "orders", {"page_size": "100"}, body)
        paid = [o for page in pages for o in page["orders"] if "paid_time" in o]
        assert interval["orders"] == len(paid)
        gmv = sum((Decimal(o["payment"]["total_amount"]) for o in paid), Decimal(0))
        assert Decimal(interval["gmv"]["amount"]) == gmv
        assert interval["units_sold"] == sum(len(o["line_items"]) for o in paid)
        assert interval["buyers"] == len({o["user_id"] for o in paid})
        assert sum(Decimal(b["amount"]) for b in interval["gmv_breakdowns"]) == gmv
        assert interval["product_page_views"] >= interval["avg_product_page_visitors"] >= interval["buyers"]
        total_gmv += gmv
        total_orders += len(paid)
    assert total_orders > 0
    (whole,) = client.data("GET", PERFORMANCE, {**query, "granularity": "ALL"})["performance"]["intervals"]
    assert whole["orders"] == total_orders and Decimal(whole["gmv"]["amount"]) == total_gmv


def test_shop_performance_rejects_bad_dates(client: SignedClient) -> None:
    for query in ({"start_date_ge": "2026-10-01"}, {"start_date_ge": "2026-10-02", "end_date_lt": "2026-10-01"}):
        assert client.call("GET", PERFORMANCE, query).json()["code"] == 36009004


def test_product_performance_pages_and_adds_up(client: SignedClient, emu: RunningEmulator) -> None:
    now = emu.store.now
    query = {"start_date_ge": iso(now - 60 * DAY), "end_date_lt": iso(now), "page_size": "4"}
    pages = list(client.pages(PRODUCTS, "shop_products", query, method="GET"))
    rows = [row for page in pages for row in page["shop_products"]]
    assert len(pages) > 1 and len(rows) == pages[0]["total_count"] == len({r["id"] for r in rows})
    amounts = [Decimal(r["gmv"]["amount"]) for r in rows]
    assert amounts == sorted(amounts, reverse=True)
    performance = client.data("GET", PERFORMANCE, {k: query[k] for k in ("start_date_ge", "end_date_lt")})
    (whole,) = performance["performance"]["intervals"]
    assert sum(r["units_sold"] for r in rows) == whole["units_sold"]
