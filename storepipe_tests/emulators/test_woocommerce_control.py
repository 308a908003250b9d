"""The emulator's control interface, through the Python handle and through /_emulator over HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from storepipe.emulators.woocommerce.timeutil import fmt_epoch


def _total(api, **params: str) -> int:
    return int(api.get("/orders", params={"per_page": 1, **params}).headers["X-WP-Total"])


def _check_money(order: dict) -> None:
    lines = sum((Decimal(li["total"]) for li in order["line_items"]), Decimal(0))
    extra = sum((Decimal(x["total"]) for x in order["shipping_lines"] + order["fee_lines"]), Decimal(0))
    assert Decimal(order["total"]) == lines + extra + Decimal(order["total_tax"])
    assert Decimal(order["total_tax"]) == Decimal(order["cart_tax"]) + Decimal(order["shipping_tax"])


def test_python_handle(make_shop, client) -> None:
    with make_shop() as emu:
        api, store = client(emu), emu.store
        start = store.now
        assert store.advance_time(hours=2) == start + 7200
        before = _total(api)
        created = store.create_order(status="processing")
        assert created["id"] > max(store.order_ids()[:-1])
        assert created["date_created_gmt"] == fmt_epoch(start + 7200)
        assert _total(api) == before + 1
        assert api.get(f"/orders/{created['id']}").json() == created
        _check_money(created)
        # Newest first under the default ordering.
        assert api.get("/orders", params={"per_page": 1}).json()[0]["id"] == created["id"]

        store.advance_time(60)
        changed = store.modify_order(created["id"], status="completed", customer_note="Leave at reception")
        assert changed["status"] == "completed" and changed["customer_note"] == "Leave at reception"
        assert changed["date_modified_gmt"] == fmt_epoch(start + 7260)
        assert changed["date_completed_gmt"] == fmt_epoch(start + 7260)

        store.advance_time(60)
        trashed = store.trash_order(created["id"])
        assert trashed["status"] == "trash" and trashed["date_modified_gmt"] == fmt_epoch(start + 7320)
        assert _total(api) == before
        assert created["id"] in {o["id"] for o in api.get("/orders", params={"status": "trash"}).json()}
        assert store.restore_order(created["id"])["status"] == "completed"
        store.delete_order(created["id"])
        assert api.get(f"/orders/{created['id']}").status_code == 404


def test_refund_without_and_with_bump(make_shop, client) -> None:
    with make_shop() as emu:
        api, store = client(emu), emu.store
        order_id = store.order_ids("completed")[-1]
        order = api.get(f"/orders/{order_id}").json()
        modified = order["date_modified_gmt"]
        store.advance_time(days=1)
        window = {"modified_after": modified, "dates_are_gmt": "true", "include": str(order_id)}
        assert _total(api, **window) == 0

        quiet = store.add_refund(order_id, amount="1.00", reason="PayPal IPN", bump_modified=False)
        assert quiet["amount"] == "1.00"
        after = api.get(f"/orders/{order_id}").json()
        assert after["date_modified_gmt"] == modified  # the PayPal trap: nothing says the order changed
        assert after["refunds"][0] == {"id": quiet["id"], "reason": "PayPal IPN", "total": "-1.00"}
        listed = api.get(f"/orders/{order_id}/refunds").json()
        assert quiet["id"] in {r["id"] for r in listed}
        assert api.get(f"/orders/{order_id}/refunds/{quiet['id']}").json()["amount"] == "1.00"
        assert _total(api, **window) == 0  # an incremental sync by modified_after misses it

        store.advance_time(60)
        line = after["line_items"][0]
        loud = store.add_refund(order_id, line_id=line["id"])
        assert loud["line_items"][0]["quantity"] == -1
        assert Decimal(loud["amount"]) > 0
        bumped = api.get(f"/orders/{order_id}").json()
        assert bumped["date_modified_gmt"] == fmt_epoch(store.now)
        assert [r["id"] for r in bumped["refunds"]] == [loud["id"], quiet["id"]]
        assert _total(api, **window) == 1

        rest = store.add_refund(order_id)
        refunded = api.get(f"/orders/{order_id}").json()
        assert refunded["status"] == "refunded"
        total_refunded = sum(-Decimal(r["total"]) for r in refunded["refunds"])
        assert total_refunded == Decimal(refunded["total"]) and Decimal(rest["amount"]) > 0


def test_line_edit_without_bump(make_shop, client) -> None:
    with make_shop() as emu:
        api, store = client(emu), emu.store
        order_id = store.order_ids("completed")[-3]
        before = api.get(f"/orders/{order_id}").json()
        line = before["line_items"][0]
        store.advance_time(days=3)
        edited = store.edit_line_item(order_id, line["id"], quantity=line["quantity"] + 2)
        new_line = next(li for li in edited["line_items"] if li["id"] == line["id"])
        assert new_line["quantity"] == line["quantity"] + 2
        assert Decimal(new_line["total"]) > Decimal(line["total"])
        assert Decimal(edited["total"]) > Decimal(before["total"])
        assert edited["date_modified_gmt"] == before["date_modified_gmt"]
        _check_money(edited)
        assert api.get(f"/orders/{order_id}").json() == edited
        bumped = store.edit_line_item(order_id, line["id"], total="1.00", bump_modified=True)
        assert bumped["date_modified_gmt"] == fmt_epoch(store.now)
        _check_money(bumped)


def test_http_control(make_shop, client) -> None:
    with make_shop() as emu:
        api, store = client(emu), emu.store
        state = api.control("GET", "/state").json()
        assert state["now"] == "2026-11-01T00:00:00Z" and state["orders"] == 300
        advanced = api.control("POST", "/time/advance", json={"days": 1, "hours": 1}).json()
        assert advanced["now"] == "2026-11-02T01:00:00Z" and store.now == advanced["now_epoch"]

        created = api.control("POST", "/orders", json={"status": "pending"})
        assert created.status_code == 200
        order = created.json()
        assert order["status"] == "pending" and order["date_created_gmt"] == "2026-11-02T01:00:00"
        assert api.get(f"/orders/{order['id']}").json() == order

        api.control("POST", "/time/advance", json={"minutes": 5})
        patched = api.control(
            "PATCH", f"/orders/{order['id']}", json={"status": "processing", "meta_data": {"_note": "x"}}
        ).json()
        assert patched["status"] == "processing" and patched["date_modified_gmt"] == "2026-11-02T01:05:00"
        assert {"key": "_note", "value": "x"}.items() <= next(
            m for m in patched["meta_data"] if m["key"] == "_note"
        ).items()
        quiet = api.control("PATCH", f"/orders/{order['id']}", json={"customer_note": "hi", "bump_modified": False})
        assert quiet.json()["date_modified_gmt"] == "2026-11-02T01:05:00"

        api.control("POST", "/time/advance", json={"seconds": 30})
        refund = api.control(
            "POST", f"/orders/{order['id']}/refunds", json={"amount": "0.50", "bump_modified": False}
        ).json()
        listed = api.get(f"/orders/{order['id']}/refunds").json()
        assert [r["id"] for r in listed] == [refund["id"]]
        assert api.get(f"/orders/{order['id']}").json()["date_modified_gmt"] == "2026-11-02T01:05:00"

        line_id = order["line_items"][0]["id"]
        edited = api.control("PATCH", f"/orders/{order['id']}/line_items/{line_id}", json={"quantity": 4}).json()
        assert edited["line_items"][0]["quantity"] == 4 and edited["date_modified_gmt"] == "2026-11-02T01:05:00"

        trashed = api.control("POST", f"/orders/{order['id']}/trash").json()
        assert trashed["status"] == "trash"
        assert order["id"] in api.control("GET", "/orders/ids", params={"status": "trash"}).json()

        fault = api.control("POST", "/faults", json={"kind": "server_error", "status": 502, "count": 1}).json()
        assert api.control("GET", "/faults").json()[0]["id"] == fault["id"]
        assert api.get("/orders").status_code == 502
        assert api.get("/orders").status_code == 200
        assert api.control("DELETE", "/faults").json() == {"removed": 1}

        assert api.control("POST", "/orders/999999/trash").status_code == 404
        assert api.control("POST", "/faults", json={"kind": "nope"}).status_code == 400
        assert api.control("PUT", "/state").status_code == 405
        assert api.control("GET", "/whatever").status_code == 404


def test_clock_only_moves_forward(make_shop) -> None:
    with make_shop() as emu:
        start = emu.store.now
        assert datetime.fromtimestamp(start).year == 2026
        try:
            emu.store.advance_time(-1)
        except ValueError:
            pass
        else:
            raise AssertionError("moving the clock back must fail")
        assert emu.store.now == start
        assert emu.store.advance_time(timedelta(days=2).total_seconds()) == start + 2 * 86400
