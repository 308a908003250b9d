"""TikTok Shop emulator finance over real HTTP: daily statements, settlement lag, transaction arithmetic."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from storepipe.emulators.tiktok_shop import EmulatorConfig, RunningEmulator, run_in_thread
from storepipe.emulators.tiktok_shop.testing import SignedClient

STATEMENTS = "/finance/202309/statements"
DAY = 86400
AMOUNTS = ("settlement_amount", "revenue_amount", "fee_amount", "adjustment_amount")


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with run_in_thread(EmulatorConfig(seed=31, orders=600, rate_limit_qps=None)) as running:
        yield running


@pytest.fixture(scope="module")
def client(emu: RunningEmulator) -> SignedClient:
    return SignedClient(emu)


def statements(client: SignedClient, **query: str) -> list[dict]:
    base = {"sort_field": "statement_time", "page_size": "50", **query}
    return [s for page in client.pages(STATEMENTS, "statements", base, method="GET") for s in page["statements"]]


def transactions(client: SignedClient, statement_id: str, page_size: int = 40) -> list[dict]:
    path = f"{STATEMENTS}/{statement_id}/statement_transactions"
    query = {"sort_field": "order_create_time", "page_size": str(page_size)}
    return [t for page in client.pages(path, "t", query, method="GET") for t in page["statement_transactions"]]


def test_statements_are_daily_and_ascending(emu: RunningEmulator, client: SignedClient) -> None:
    listed = statements(client)
    assert listed
    times = [s["statement_time"] for s in listed]
    assert times == sorted(times) and len(set(times)) == len(times)  # default ASC, one per day
    assert all(t % DAY == 0 and t + DAY <= emu.store.now for t in times)  # 00:00 UTC, day closed
    assert len({s["id"] for s in listed}) == len(listed)
    assert {s["payment_status"] for s in listed} <= {"PAID", "PROCESSING"}


def test_sort_field_is_required(client: SignedClient) -> None:
    payload = client.call("GET", STATEMENTS, {"page_size": "10"}).json()
    assert payload["code"] != 0 and "sort_field" in payload["message"]


def test_statement_amounts_add_up(client: SignedClient) -> None:
    listed = statements(client)
    checked_orders = adjustments = 0
    for statement in listed[-40:]:
        money = {k: Decimal(statement[k]) for k in AMOUNTS}
        assert money["settlement_amount"] == money["revenue_amount"] + money["fee_amount"] + money["adjustment_amount"]
        rows = transactions(client, statement["id"], page_size=7)
        assert len({t["id"] for t in rows}) == len(rows)
        for row in rows:
            amounts = {k: Decimal(row[k]) for k in AMOUNTS}
            assert amounts["settlement_amount"] == (
                amounts["revenue_amount"] + amounts["fee_amount"] + amounts["adjustment_amount"]
            )
            assert bool(row["order_id"]) != bool(row["adjustment_id"])  # exactly one of them
            if row["order_id"]:
                checked_orders += 1
                assert row["type"] == "ORDER"
                costs = ("fee_amount", "referral_fee_amount", "affiliate_commission_amount", "shipping_cost_amount")
                assert all(Decimal(row[k]) <= 0 for k in costs)  # costs are negative (or zero)
                assert Decimal(row["referral_fee_amount"]) < 0
                assert Decimal(row["revenue_amount"]) > 0
            else:
                adjustments += 1
                assert Decimal(row["revenue_amount"]) == Decimal(row["fee_amount"]) == 0
        for key in AMOUNTS:
            assert money[key] == sum((Decimal(r[key]) for r in rows), Decimal(0))
    assert checked_orders > 0 and adjustments > 0


def test_orders_settle_3_to_31_days_after_delivery(emu: RunningEmulator, client: SignedClient) -> None:
    listed = statements(client)[-30:]
    for statement in listed:
        for row in transactions(client, statement["id"], page_size=100):
            if not row["order_id"]:
                continue
            order = emu.store.get_order(row["order_id"])
            assert order["status"] in ("DELIVERED", "COMPLETED")
            lag = statement["statement_time"] - order["delivery_time"]
            assert 2 * DAY < lag <= 31 * DAY


def test_statements_appear_as_the_clock_advances() -> None:
    with run_in_thread(EmulatorConfig(seed=32, orders=300, rate_limit_qps=None)) as emu:
        client = SignedClient(emu)
        before = {s["id"] for s in statements(client)}
        new_order = emu.store.create_order()
        emu.store.advance_time(days=45)
        client = SignedClient(emu)  # the first access token has expired by now
        after = statements(client)
        assert before < {s["id"] for s in after}
        settled = [
            s
            for s in after
            if any(t["order_id"] == new_order["id"] for t in transactions(client, s["id"], page_size=100))
        ]
        assert len(settled) == 1
        delivered = emu.store.get_order(new_order["id"])["delivery_time"]
        assert settled[0]["statement_time"] + DAY - delivered >= 3 * DAY
        unknown = client.call("GET", f"{STATEMENTS}/7300000000000000001/statement_transactions",
                              {"sort_field": "order_create_time"}).json()  # fmt: skip
        assert unknown["code"] != 0


def test_statement_window_filter(client: SignedClient) -> None:
    listed = statements(client)
    pivot = listed[len(listed) // 2]["statement_time"]
    windowed = statements(client, statement_time_ge=str(pivot), statement_time_lt=str(pivot + 10 * DAY))
    assert windowed and all(pivot <= s["statement_time"] < pivot + 10 * DAY for s in windowed)
    assert windowed == [s for s in listed if pivot <= s["statement_time"] < pivot + 10 * DAY]
