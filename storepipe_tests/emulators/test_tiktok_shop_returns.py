"""TikTok Shop emulator returns, cancellations and unsettled finance estimates over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from storepipe.emulators.tiktok_shop import EmulatorConfig, RunningEmulator, run_in_thread
from storepipe.emulators.tiktok_shop.testing import SignedClient

RETURNS = "/return_refund/202309/returns/search"
CANCELLATIONS = "/return_refund/202309/cancellations/search"
UNSETTLED = "/finance/202507/orders/unsettled"
STATEMENTS = "/finance/202309/statements"
ORDERS = "/order/202309/orders"
DAY = 86400
PARTS = ("refund_subtotal", "refund_shipping_fee", "refund_tax", "retail_delivery_fee", "buyer_service_fee")
ESTIMATES = ("est_revenue_amount", "est_shipping_cost_amount", "est_fee_tax_amount", "est_adjustment_amount")


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with run_in_thread(EmulatorConfig(seed=41, orders=1500, rate_limit_qps=None)) as running:
        yield running


@pytest.fixture(scope="module")
def client(emu: RunningEmulator) -> SignedClient:
    return SignedClient(emu)


@pytest.fixture
def fresh() -> Iterator[RunningEmulator]:
    """A private emulator for tests that move the clock or change orders (many returns, so some are recent)."""
    with run_in_thread(EmulatorConfig(seed=42, orders=600, return_rate=0.4, rate_limit_qps=None)) as running:
        yield running


def returns(client: SignedClient, body: dict[str, Any] | None = None, **query: str) -> list[dict[str, Any]]:
    base = {"page_size": "50", **query}
    return [r for page in client.pages(RETURNS, "return_orders", base, body or {}) for r in page["return_orders"]]


def cancellations(client: SignedClient, page_size: int = 50) -> list[dict[str, Any]]:
    query = {"page_size": str(page_size)}
    return [c for page in client.pages(CANCELLATIONS, "cancellations", query, {}) for c in page["cancellations"]]


def unsettled_pages(client: SignedClient, page_size: int = 100, **query: str) -> list[dict[str, Any]]:
    base = {"sort_field": "order_create_time", "page_size": str(page_size), **query}
    return list(client.pages(UNSETTLED, "transactions", base, method="GET"))


def orders_by_id(client: SignedClient, ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    unique = sorted(set(ids))
    for start in range(0, len(unique), 50):
        batch = unique[start : start + 50]
        for order in client.data("GET", ORDERS, {"ids": ",".join(batch)})["orders"]:
            found[order["id"]] = order
    assert set(found) == set(unique)
    return found


def statement_transactions(client: SignedClient, statement_id: str) -> list[dict[str, Any]]:
    path = f"{STATEMENTS}/{statement_id}/statement_transactions"
    query = {"sort_field": "order_create_time", "page_size": "100"}
    return [t for page in client.pages(path, "t", query, method="GET") for t in page["statement_transactions"]]


def dec(value: str) -> Decimal:
    return Decimal(value)


# --------------------------------------------------------------------------- returns


@pytest.mark.parametrize("page_size", [10, 50])
@pytest.mark.parametrize(("sort_field", "sort_order"), [("create_time", None), ("update_time", "DESC")])
def test_return_paging_visits_every_return_once(
    emu: RunningEmulator, client: SignedClient, page_size: int, sort_field: str, sort_order: str | None
) -> None:
    query = {"page_size": str(page_size), "sort_field": sort_field}
    if sort_order:
        query["sort_order"] = sort_order
    pages = list(client.pages(RETURNS, "return_orders", query, {}))
    rows = [r for page in pages for r in page["return_orders"]]
    assert all(len(page["return_orders"]) == page_size for page in pages[:-1])
    assert {page["total_count"] for page in pages} == {len(rows)}
    ids = [r["return_id"] for r in rows]
    assert len(ids) == len(set(ids)) > 2 * page_size
    keys = [(r[sort_field], int(r["return_id"])) for r in rows]
    assert keys == sorted(keys, reverse=sort_order == "DESC")  # sort_order defaults to ASC
    assert {r["return_id"] for r in returns(client)} == set(ids)


def test_return_page_size_rules(client: SignedClient) -> None:
    first = client.data("POST", RETURNS, {}, body={})
    assert len(first["return_orders"]) == 10 and first["next_page_token"]  # default 10
    for bad in ("9", "51", "x"):
        payload = client.call("POST", RETURNS, {"page_size": bad}, body={}).json()
        assert payload["code"] == 36009004 and "page_size" in payload["message"]
    bad_sort = client.call("POST", RETURNS, {"sort_field": "order_id"}, body={}).json()
    assert bad_sort["code"] == 36009004
    bad_status = client.call("POST", RETURNS, {}, body={"return_status": ["NOPE"]}).json()
    assert bad_status["code"] == 36009004


def test_returns_belong_to_delivered_orders_and_are_in_the_past(emu: RunningEmulator, client: SignedClient) -> None:
    rows = returns(client)
    now = emu.store.now
    assert {r["return_type"] for r in rows} == {"REFUND", "RETURN_AND_REFUND"}
    assert len({r["return_status"] for r in rows}) >= 4
    orders = orders_by_id(client, [r["order_id"] for r in rows])
    assert len(orders) == len(rows)  # one return per order
    for row in rows:
        order = orders[row["order_id"]]
        assert order["status"] in ("DELIVERED", "COMPLETED")
        assert order["delivery_time"] < row["create_time"] <= row["update_time"] <= now


def test_return_filters(client: SignedClient) -> None:
    rows = returns(client)
    picked = rows[::7]
    by_ids = returns(client, {"return_ids": [r["return_id"] for r in picked]})
    assert [r["return_id"] for r in by_ids] == [r["return_id"] for r in picked]
    by_orders = returns(client, {"order_ids": [r["order_id"] for r in picked[:3]]})
    assert [r["order_id"] for r in by_orders] == [r["order_id"] for r in picked[:3]]
    for return_type in ("REFUND", "RETURN_AND_REFUND"):
        assert returns(client, {"return_types": [return_type]}) == [r for r in rows if r["return_type"] == return_type]
    statuses = ["RETURN_OR_REFUND_REQUEST_COMPLETE", "RETURN_OR_REFUND_REQUEST_CANCEL"]
    assert returns(client, {"return_status": statuses}) == [r for r in rows if r["return_status"] in statuses]
    pivot = rows[len(rows) // 2]
    created = returns(
        client, {"create_time_ge": pivot["create_time"], "create_time_lt": pivot["create_time"] + 90 * DAY}
    )
    expected = [r for r in rows if pivot["create_time"] <= r["create_time"] < pivot["create_time"] + 90 * DAY]
    assert created == expected and created
    updated = returns(client, {"update_time_ge": pivot["update_time"]}, sort_field="update_time")
    assert {r["return_id"] for r in updated} == {
        r["return_id"] for r in rows if r["update_time"] >= pivot["update_time"]
    }
    assert returns(client, {"update_time_lt": rows[0]["create_time"]}) == []


def test_refund_parts_add_up_and_stay_within_what_was_paid(client: SignedClient) -> None:
    rows = returns(client)
    orders = orders_by_id(client, [r["order_id"] for r in rows])
    partial = shipping_refunded = 0
    for row in rows:
        order = orders[row["order_id"]]
        payment = order["payment"]
        refund = row["refund_amount"]
        assert refund["currency"] == payment["currency"]
        assert dec(refund["refund_total"]) == sum((dec(refund[p]) for p in PARTS), Decimal(0))
        assert dec(refund["refund_total"]) > 0
        assert dec(refund["refund_subtotal"]) <= dec(payment["sub_total"])
        assert dec(refund["refund_shipping_fee"]) <= dec(payment["shipping_fee"])
        assert dec(refund["refund_tax"]) <= dec(payment["tax"])
        assert dec(refund["refund_total"]) <= dec(payment["total_amount"])
        shipping_refunded += dec(refund["refund_shipping_fee"]) > 0
        lines = {line["id"]: line for line in order["line_items"]}
        items = row["return_line_items"]
        assert items and len({i["order_line_item_id"] for i in items}) == len(items)
        assert len({i["return_line_item_id"] for i in items}) == len(items)
        line_subtotal = Decimal(0)
        for item in items:
            line = lines[item["order_line_item_id"]]  # a real line of the order
            assert item["sku_id"] == line["sku_id"] and item["product_name"] == line["product_name"]
            amount = item["refund_amount"]
            assert dec(amount["refund_total"]) == sum((dec(amount[p]) for p in PARTS), Decimal(0))
            assert 0 < dec(amount["refund_subtotal"]) <= dec(line["sale_price"])
            line_tax = sum((dec(t["tax_amount"]) for t in line["item_tax"]), Decimal(0))
            assert 0 <= dec(amount["refund_tax"]) <= line_tax
            partial += dec(amount["refund_subtotal"]) < dec(line["sale_price"])
            line_subtotal += dec(amount["refund_subtotal"])
        assert dec(refund["refund_subtotal"]) == line_subtotal
    assert partial > 0 and shipping_refunded > 0


def test_returns_appear_and_advance_with_the_clock(fresh: RunningEmulator) -> None:
    client = SignedClient(fresh)
    before = {r["return_id"]: r for r in returns(client)}
    fresh.store.advance_time(days=20)
    client = SignedClient(fresh)  # the first access token has expired by now
    after = {r["return_id"]: r for r in returns(client)}
    assert set(before) < set(after)
    assert all(r["create_time"] <= r["update_time"] <= fresh.store.now for r in after.values())
    moved = [rid for rid, r in before.items() if after[rid]["update_time"] > r["update_time"]]
    assert moved and all(after[rid]["return_status"] != before[rid]["return_status"] for rid in moved)
    unchanged = [rid for rid in before if rid not in moved]
    assert all(after[rid] == before[rid] for rid in unchanged)


def test_returns_are_deterministic_by_seed(client: SignedClient) -> None:
    with run_in_thread(EmulatorConfig(seed=41, orders=1500, rate_limit_qps=None)) as twin:
        assert returns(SignedClient(twin)) == returns(client)
    with run_in_thread(EmulatorConfig(seed=43, orders=1500, rate_limit_qps=None)) as other:
        assert returns(SignedClient(other)) != returns(client)


# --------------------------------------------------------------------------- cancellations


def test_cancellations_cover_exactly_the_cancelled_orders(emu: RunningEmulator, client: SignedClient) -> None:
    cancelled = [
        o["id"]
        for page in client.pages(ORDERS + "/search", "orders", {"page_size": "100"}, {"order_status": "CANCELLED"})
        for o in page["orders"]
    ]
    small, large = cancellations(client, page_size=10), cancellations(client)
    assert small == large
    assert sorted(c["order_id"] for c in small) == sorted(cancelled) and cancelled
    assert len({c["cancel_id"] for c in small}) == len(small)
    orders = orders_by_id(client, cancelled)
    for row in small:
        order = orders[row["order_id"]]
        assert row["create_time"] == row["update_time"] == order["cancel_time"] <= emu.store.now
        assert row["role"] == order["cancellation_initiator"] and row["cancel_reason"] == order["cancel_reason"]
        assert {i["order_line_item_id"] for i in row["cancel_line_items"]} == {li["id"] for li in order["line_items"]}
        refund = row["refund_amount"]
        assert dec(refund["refund_total"]) == sum((dec(refund[p]) for p in PARTS), Decimal(0))
        paid = "paid_time" in order
        assert dec(refund["refund_total"]) == (dec(order["payment"]["total_amount"]) if paid else 0)
    keys = [(c["create_time"], int(c["cancel_id"])) for c in small]
    assert keys == sorted(keys)


def test_a_control_api_cancellation_shows_up(fresh: RunningEmulator) -> None:
    client = SignedClient(fresh)
    before = {c["order_id"] for c in cancellations(client)}
    order = fresh.store.create_order()
    fresh.store.advance_time(minutes=5)
    fresh.store.cancel_order(order["id"], reason="Out of stock", initiator="SELLER")
    after = {c["order_id"]: c for c in cancellations(client)}
    assert set(after) == before | {order["id"]}
    assert after[order["id"]]["cancel_type"] == "CANCEL" and after[order["id"]]["role"] == "SELLER"


# --------------------------------------------------------------------------- unsettled estimates


def test_unsettled_estimates_add_up(emu: RunningEmulator, client: SignedClient) -> None:
    pages = unsettled_pages(client, page_size=7)
    rows = [t for page in pages for t in page["transactions"]]
    assert rows and len({t["id"] for t in rows}) == len(rows) == pages[0]["total_count"]
    assert all(len(page["transactions"]) == 7 for page in pages[:-1])
    keys = [(t["order_create_time"], int(t["id"])) for t in rows]
    assert keys == sorted(keys)
    for row in rows:
        assert dec(row["est_settlement_amount"]) == sum((dec(row[k]) for k in ESTIMATES), Decimal(0))
        assert dec(row["est_shipping_cost_amount"]) <= 0 and dec(row["est_fee_tax_amount"]) < 0
        assert int(row["estimated_settlement"]) >= row["order_delivery_time"] + 3 * DAY
        assert row["type"] == "ORDER" and row["order_id"] and not row["adjustment_id"]
    for page in pages:  # the sums cover the whole filtered set, on every page
        for key in (*ESTIMATES, "est_settlement_amount"):
            assert dec(page[f"sum_{key}"]) == sum((dec(t[key]) for t in rows), Decimal(0))
    orders = orders_by_id(client, [t["order_id"] for t in rows])
    assert all(o["status"] in ("DELIVERED", "COMPLETED") for o in orders.values())
    delivered_recently = [
        o["id"]
        for page in client.pages(ORDERS + "/search", "orders", {"page_size": "100"}, {"order_status": "DELIVERED"})
        for o in page["orders"]
        if o["delivery_time"] > emu.store.now - 2 * DAY
    ]
    assert set(delivered_recently) <= set(orders)  # just delivered: cannot have settled yet


def test_unsettled_parameters(client: SignedClient) -> None:
    missing = client.call("GET", UNSETTLED, {"page_size": "10"}).json()
    assert missing["code"] == 36009004 and "sort_field" in missing["message"]
    too_big = client.call("GET", UNSETTLED, {"sort_field": "order_create_time", "page_size": "101"}).json()
    assert too_big["code"] == 36009004
    rows = [t for page in unsettled_pages(client) for t in page["transactions"]]
    pivot = rows[len(rows) // 2]["order_create_time"]
    windowed = [t for page in unsettled_pages(client, search_time_ge=str(pivot)) for t in page["transactions"]]
    assert windowed == [t for t in rows if t["order_create_time"] >= pivot]
    descending = [t for page in unsettled_pages(client, sort_order="DESC") for t in page["transactions"]]
    assert descending == rows[::-1]


def test_an_order_moves_from_unsettled_to_a_statement(fresh: RunningEmulator) -> None:
    client = SignedClient(fresh)
    rows = [t for page in unsettled_pages(client) for t in page["transactions"]]
    estimate = min(rows, key=lambda t: int(t["estimated_settlement"]))
    settles = int(estimate["estimated_settlement"])
    day = settles - settles % DAY
    assert day + DAY > fresh.store.now
    fresh.store.advance_time(seconds=day + DAY - fresh.store.now - 1)
    client = SignedClient(fresh)
    still = [t["id"] for page in unsettled_pages(client) for t in page["transactions"]]
    assert estimate["id"] in still  # the statement of its day is not issued yet
    fresh.store.advance_time(seconds=1)
    client = SignedClient(fresh)
    after = [t["id"] for page in unsettled_pages(client) for t in page["transactions"]]
    assert estimate["id"] not in after
    (statement,) = [
        s
        for page in client.pages(STATEMENTS, "statements", {"sort_field": "statement_time", "page_size": "100"},
                                 method="GET")
        for s in page["statements"]
        if s["statement_time"] == day
    ]  # fmt: skip
    (settled,) = [t for t in statement_transactions(client, statement["id"]) if t["order_id"] == estimate["order_id"]]
    assert settled["id"] == estimate["id"]
    assert settled["settlement_amount"] == estimate["est_settlement_amount"]
    assert settled["revenue_amount"] == estimate["est_revenue_amount"]
    assert settled["shipping_cost_amount"] == estimate["est_shipping_cost_amount"]
