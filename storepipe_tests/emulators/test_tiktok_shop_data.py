"""TikTok Shop emulator data over real HTTP: order/product paging, windows, determinism, money, auctions."""

from __future__ import annotations

import collections
import itertools
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests

from storepipe.emulators.tiktok_shop import EmulatorConfig, RunningEmulator, run_in_thread
from storepipe.emulators.tiktok_shop.testing import SignedClient

ORDERS = "/order/202309/orders/search"
PRODUCTS = "/product/202502/products/search"
DAY = 86400


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    """A read-only 1200-order shop shared by this module (never mutate it)."""
    with run_in_thread(EmulatorConfig(seed=21, orders=1200, auction_rate=0.08, rate_limit_qps=None)) as running:
        yield running


@pytest.fixture(scope="module")
def client(emu: RunningEmulator) -> SignedClient:
    return SignedClient(emu)


def all_orders(client: SignedClient, page_size: int, body: dict | None = None, **query: str) -> list[dict]:
    out: list[dict] = []
    for page in client.pages(ORDERS, "orders", {"page_size": str(page_size), **query}, body or {}):
        assert len(page["orders"]) <= page_size
        out += page["orders"]
    return out


@pytest.mark.parametrize("page_size", [100, 7])
def test_paging_visits_every_order_once(emu: RunningEmulator, client: SignedClient, page_size: int) -> None:
    orders = all_orders(client, page_size)
    ids = [o["id"] for o in orders]
    assert len(ids) == len(set(ids)) == emu.config.orders
    assert set(ids) == set(emu.store.order_ids())
    # Default sort: create_time DESC.
    keys = [(o["create_time"], int(o["id"])) for o in orders]
    assert keys == sorted(keys, reverse=True)


def test_total_count_and_page_size_respected(emu: RunningEmulator, client: SignedClient) -> None:
    first = client.data("POST", ORDERS, {"page_size": "50"}, body={})
    assert len(first["orders"]) == 50 and first["total_count"] == emu.config.orders
    assert first["next_page_token"]
    second = client.data("POST", ORDERS, {"page_size": "50", "page_token": first["next_page_token"]}, body={})
    assert second["total_count"] == emu.config.orders
    assert not {o["id"] for o in first["orders"]} & {o["id"] for o in second["orders"]}


def test_update_time_window_ascending(emu: RunningEmulator, client: SignedClient) -> None:
    now = emu.store.now
    body = {"update_time_ge": now - 60 * DAY, "update_time_lt": now - 20 * DAY}
    orders = all_orders(client, 30, body, sort_field="update_time", sort_order="ASC")
    assert orders
    assert all(body["update_time_ge"] <= o["update_time"] < body["update_time_lt"] for o in orders)
    assert [o["update_time"] for o in orders] == sorted(o["update_time"] for o in orders)
    everything = all_orders(client, 100)
    expected = {o["id"] for o in everything if body["update_time_ge"] <= o["update_time"] < body["update_time_lt"]}
    assert {o["id"] for o in orders} == expected


def test_create_time_windows_partition_the_history(emu: RunningEmulator, client: SignedClient) -> None:
    now = emu.store.now
    edges = [now - 800 * DAY, now - 365 * DAY, now - 90 * DAY, now + 1]
    seen: list[str] = []
    for low, high in itertools.pairwise(edges):
        part = all_orders(client, 100, {"create_time_ge": low, "create_time_lt": high})
        assert all(low <= o["create_time"] < high for o in part)
        seen += [o["id"] for o in part]
    assert sorted(seen) == sorted(emu.store.order_ids())


def test_statuses_and_status_filter(client: SignedClient) -> None:
    orders = all_orders(client, 100)
    statuses = collections.Counter(o["status"] for o in orders)
    assert statuses["COMPLETED"] > 0 and statuses["CANCELLED"] > 0
    cancelled = all_orders(client, 100, {"order_status": "CANCELLED"})
    assert len(cancelled) == statuses["CANCELLED"]
    for order in cancelled:
        assert order["cancel_time"] >= order["create_time"]
        assert order["cancellation_initiator"] in ("BUYER", "SELLER", "SYSTEM")
        assert "delivery_time" not in order


def test_payment_formulas_hold_to_the_cent(client: SignedClient) -> None:
    for order in all_orders(client, 100):
        p = {k: Decimal(v) for k, v in order["payment"].items() if k != "currency"}
        assert all(len(v.split(".")[1]) == 2 for k, v in order["payment"].items() if k != "currency")
        assert p["sub_total"] == p["original_total_product_price"] - p["seller_discount"] - p["platform_discount"]
        assert p["shipping_fee"] == (
            p["original_shipping_fee"] - p["shipping_fee_seller_discount"] - p["shipping_fee_platform_discount"]
        )
        assert p["tax"] == p["product_tax"] + p["shipping_fee_tax"]
        assert p["total_amount"] == p["sub_total"] + p["shipping_fee"] + p["tax"] + p["retail_delivery_fee"]
        lines = order["line_items"]
        assert lines and all("quantity" not in line for line in lines)  # one line per unit
        assert p["original_total_product_price"] == sum(Decimal(line["original_price"]) for line in lines)
        assert p["sub_total"] == sum(Decimal(line["sale_price"]) for line in lines)
        assert p["seller_discount"] == sum(Decimal(line["seller_discount"]) for line in lines)
        assert p["product_tax"] == sum(Decimal(line["item_tax"][0]["tax_amount"]) for line in lines)
        assert len({line["id"] for line in lines}) == len(lines)
        assert min(p.values()) >= 0


def test_repeated_units_are_separate_lines(client: SignedClient) -> None:
    orders = all_orders(client, 100)
    multi = [o for o in orders if max(collections.Counter(li["sku_id"] for li in o["line_items"]).values()) > 1]
    assert multi, "some orders buy several units of one SKU"


def test_auction_lines_are_temporary_listings_absent_from_catalog(emu: RunningEmulator, client: SignedClient) -> None:
    orders = all_orders(client, 100)
    temporary = [li for o in orders for li in o["line_items"] if li.get("product_listing_type") == "TEMPORARY_LISTING"]
    assert temporary
    assert all(li["product_name"].startswith("#") and li["room_id"] for li in temporary)
    assert all("seller_sku" not in li for li in temporary)
    catalog = [p for page in client.pages(PRODUCTS, "products", {"page_size": "100"}, {}) for p in page["products"]]
    catalog_ids = {p["id"] for p in catalog}
    catalog_skus = {s["id"] for p in catalog for s in p["skus"]}
    assert not {li["product_id"] for li in temporary} & catalog_ids
    assert not {li["sku_id"] for li in temporary} & catalog_skus
    # Normal lines all point into the catalog.
    normal = [li for o in orders for li in o["line_items"] if "product_listing_type" not in li]
    assert {li["product_id"] for li in normal} <= catalog_ids
    detail = client.call("GET", f"/product/202309/products/{temporary[0]['product_id']}").json()
    assert detail["code"] == 12019150


def test_product_search_short_pages_still_cover_everything(emu: RunningEmulator, client: SignedClient) -> None:
    pages = list(client.pages(PRODUCTS, "products", {"page_size": "10"}, {}))
    sizes = [len(p["products"]) for p in pages]
    assert any(size < 10 for size in sizes[:-1]), "some non-final pages come back short"
    ids = [p["id"] for page in pages for p in page["products"]]
    assert len(ids) == len(set(ids)) == emu.config.products == pages[0]["total_count"]


def test_product_update_time_window_is_inclusive(emu: RunningEmulator, client: SignedClient) -> None:
    products = emu.store.products
    pivot = sorted(p.update_time for p in products)[len(products) // 2]
    body = {"update_time_ge": pivot, "update_time_le": pivot}
    found = [p for page in client.pages(PRODUCTS, "products", {"page_size": "100"}, body) for p in page["products"]]
    assert found and all(p["update_time"] == pivot for p in found)


def test_product_detail_has_images_and_skus(emu: RunningEmulator, client: SignedClient) -> None:
    product = emu.store.products[0]
    detail = client.data("GET", f"/product/202309/products/{product.id}")
    assert detail["id"] == product.id and detail["main_images"]
    assert all(img["urls"] and img["uri"] for img in detail["main_images"])
    sku = detail["skus"][0]
    assert Decimal(sku["price"]["sale_price"]) > 0 and sku["inventory"][0]["warehouse_id"]
    assert client.call("GET", "/product/202309/products/1").json()["code"] == 12019150


def test_search_cap() -> None:
    with run_in_thread(EmulatorConfig(seed=4, orders=10, products=40, search_cap=25, rate_limit_qps=None)) as emu:
        client = SignedClient(emu)
        pages = list(client.pages(PRODUCTS, "products", {"page_size": "10"}, {}))
        served = sum(len(p["products"]) for p in pages)
        assert served == 25 and pages[0]["total_count"] == 40


def _transcript(cfg: EmulatorConfig) -> list[bytes]:
    with run_in_thread(cfg) as emu:
        client = SignedClient(emu)
        out = []
        for query in ({"page_size": "100"}, {"page_size": "13", "sort_field": "update_time", "sort_order": "ASC"}):
            token = ""
            for _ in range(3):
                response = client.call("POST", ORDERS, dict(query, page_token=token) if token else query, body={})
                out.append(response.content)
                token = response.json()["data"]["next_page_token"]
        out.append(client.call("POST", PRODUCTS, {"page_size": "20"}, body={}).content)
        out.append(client.call("GET", f"/product/202309/products/{emu.store.products[3].id}").content)
        out.append(requests.get(emu.control_url + "/state", timeout=10).content)
        return out


def test_same_seed_gives_identical_responses() -> None:
    cfg = {"seed": 33, "orders": 400, "rate_limit_qps": None}
    first = _transcript(EmulatorConfig(**cfg))
    assert first == _transcript(EmulatorConfig(**cfg))
    assert first[0] != _transcript(EmulatorConfig(**{**cfg, "seed": 34}))[0]


def test_control_mutations_bump_update_time() -> None:
    with run_in_thread(EmulatorConfig(seed=8, orders=150, rate_limit_qps=None)) as emu:
        client = SignedClient(emu)
        control = emu.control_url
        start = emu.store.now
        requests.post(control + "/time/advance", json={"hours": 1}, timeout=10)
        sku = emu.store.products[0].skus[0].id
        created = requests.post(control + "/orders", json={"line_items": [{"sku_id": sku, "quantity": 2}]}, timeout=10)
        new = created.json()
        assert created.status_code == 200 and len(new["line_items"]) == 2
        assert new["status"] == "UNPAID" and new["create_time"] == start + 3600

        completed = next(o for o in emu.store.orders[:50] if emu.store.get_order(o.id)["status"] == "COMPLETED")
        modified = requests.patch(control + f"/orders/{completed.id}", json={"seller_note": "vip"}, timeout=10).json()
        assert modified["update_time"] == start + 3600 and modified["seller_note"] == "vip"

        awaiting = emu.store.create_order()
        emu.store.advance_time(minutes=30)
        cancelled = requests.post(control + f"/orders/{awaiting['id']}/cancel", json={}, timeout=10).json()
        assert cancelled["status"] == "CANCELLED" and cancelled["update_time"] == start + 5400
        late = requests.post(control + f"/orders/{completed.id}/cancel", json={}, timeout=10)
        assert late.status_code == 400

        changed = all_orders(client, 100, {"update_time_ge": start + 1}, sort_field="update_time")
        assert {o["id"] for o in changed} >= {new["id"], completed.id, awaiting["id"]}
        assert requests.get(control + "/orders/1", timeout=10).status_code == 404


def test_orders_progress_as_the_clock_advances() -> None:
    with run_in_thread(EmulatorConfig(seed=8, orders=150, rate_limit_qps=None)) as emu:
        fresh = emu.store.create_order()
        emu.store.advance_time(days=40)
        later = emu.store.get_order(fresh["id"])
        assert later["status"] == "COMPLETED"
        assert later["create_time"] < later["paid_time"] < later["rts_time"] < later["delivery_time"]
        assert later["update_time"] > fresh["update_time"] and later["packages"]
        assert all(li["package_id"] for li in later["line_items"])


def test_inventory_search_matches_the_catalog(emu: RunningEmulator, client: SignedClient) -> None:
    path = "/product/202309/inventory/search"
    products = emu.store.products[:3]
    data = client.data("POST", path, body={"product_ids": [p.id for p in products]})
    assert [row["product_id"] for row in data["inventory"]] == [p.id for p in products]
    first = data["inventory"][0]["skus"][0]
    assert first["total_available_quantity"] == sum(w["available_quantity"] for w in first["warehouse_inventory"])
    by_sku = client.data("POST", path, body={"sku_ids": [first["id"]], "product_ids": [products[1].id]})
    assert [[s["id"] for s in row["skus"]] for row in by_sku["inventory"]] == [[first["id"]]]  # sku_ids win
    assert client.call("POST", path, body={}).json()["code"] == 36009004
