"""Webhook deliveries from the TikTok Shop and WooCommerce emulators to a local receiver, over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from storepipe.emulators import tiktok_shop, woocommerce
from storepipe.emulators.tiktok_shop.testing import SignedClient
from storepipe.emulators.woocommerce.notify import signature
from storepipe.sources.tiktok_shop.signing import verify_webhook
from storepipe_tests.emulators.receiver import Receiver, receiving

DAY = 86400


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as running:
        yield running


@pytest.fixture
def tts() -> Iterator[tiktok_shop.RunningEmulator]:
    config = tiktok_shop.EmulatorConfig(seed=61, orders=800, return_rate=0.5, rate_limit_qps=None)
    with tiktok_shop.run_in_thread(config) as running:
        yield running


@pytest.fixture
def woo() -> Iterator[woocommerce.RunningEmulator]:
    with woocommerce.run_in_thread(woocommerce.EmulatorConfig(seed=62, orders=300)) as running:
        yield running


def control(emu: Any, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, emu.control_url + path, timeout=20, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def deliveries(emu: Any) -> list[dict[str, Any]]:
    answer = control(emu, "GET", "/webhooks/deliveries", params={"wait": "1"})
    assert answer["idle"] is True
    return answer["deliveries"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------------------- TikTok Shop


def tts_events(emu: tiktok_shop.RunningEmulator, receiver: Receiver, count: int) -> list[tuple[dict, bool]]:
    """The received bodies with whether their Authorization header verifies."""
    received = receiver.wait_for(count)
    return [
        (json.loads(r.body), verify_webhook(emu.app_key, emu.app_secret, r.body, r.headers["Authorization"]))
        for r in received
    ]


def test_tiktok_order_changes_are_delivered_signed(tts: tiktok_shop.RunningEmulator, receiver: Receiver) -> None:
    target = control(tts, "POST", "/webhooks", json={"url": receiver.url})
    assert target["id"] == 1 and target["sign_wrongly"] is False
    created = control(tts, "POST", "/orders", json={})
    control(tts, "PATCH", f"/orders/{created['id']}", json={"seller_note": "no event for notes"})
    control(tts, "POST", f"/orders/{created['id']}/cancel", json={})
    events = tts_events(tts, receiver, 3)
    assert all(valid for _, valid in events)
    bodies = [body for body, _ in events]
    assert [b["type"] for b in bodies] == [1, 1, 11]
    for body in bodies:
        assert set(body) == {"type", "tts_notification_id", "shop_id", "timestamp", "data"}
        assert body["shop_id"] == tts.config.shop_id and body["timestamp"] == tts.store.now
        assert body["data"]["order_id"] == created["id"]
    assert bodies[0]["data"]["order_status"] == created["status"]
    assert bodies[1]["data"]["order_status"] == "CANCELLED"
    assert bodies[2]["data"]["cancel_status"] == "CANCELLATION_REQUEST_COMPLETE"
    assert len({b["tts_notification_id"] for b in bodies}) == 3
    log = deliveries(tts)
    assert [d["state"] for d in log] == ["delivered"] * 3 and all(
        d["attempts"] == [{"status": 200, "error": None}] for d in log
    )


def test_tiktok_advancing_time_announces_timeline_events(tts: tiktok_shop.RunningEmulator, receiver: Receiver) -> None:
    control(tts, "POST", "/webhooks", json={"url": receiver.url})
    before = tts.store.now
    control(tts, "POST", "/time/advance", json={"days": 10})
    log = deliveries(tts)
    assert log and all(d["state"] == "delivered" for d in log)
    events = tts_events(tts, receiver, len(log))
    assert all(valid for _, valid in events)
    bodies = [body for body, _ in events]
    assert {b["type"] for b in bodies} >= {1, 12}
    stamps = [b["timestamp"] for b in bodies]
    assert stamps == sorted(stamps) and before < stamps[0] and stamps[-1] <= tts.store.now
    # The last status announced for an order is what the order API shows now.
    last = {b["data"]["order_id"]: b["data"]["order_status"] for b in bodies if b["type"] == 1}
    client = SignedClient(tts)
    ids = sorted(last)[:50]
    for order in client.data("GET", "/order/202309/orders", {"ids": ",".join(ids)})["orders"]:
        assert order["status"] == last[order["id"]]
    returns = [b["data"] for b in bodies if b["type"] == 12]
    assert all(before < r["update_time"] <= tts.store.now for r in returns)


def test_tiktok_sign_wrongly_and_topics(tts: tiktok_shop.RunningEmulator, receiver: Receiver) -> None:
    control(
        tts, "POST", "/webhooks", json={"url": receiver.url, "sign_wrongly": True, "topics": ["ORDER_STATUS_CHANGE"]}
    )
    order = control(tts, "POST", "/orders", json={})
    control(tts, "POST", f"/orders/{order['id']}/cancel", json={})
    events = tts_events(tts, receiver, 2)
    assert [body["type"] for body, _ in events] == [1, 1]  # no type 11: not subscribed
    assert not any(valid for _, valid in events)
    bad = requests.post(tts.control_url + "/webhooks", json={"url": receiver.url, "secret": "x"}, timeout=10)
    assert bad.status_code == 400 and "app secret" in bad.json()["error"]
    bad = requests.post(tts.control_url + "/webhooks", json={"url": receiver.url, "topics": ["NOPE"]}, timeout=10)
    assert bad.status_code == 400


def test_tiktok_deliveries_are_deterministic(receiver: Receiver) -> None:
    bodies = []
    for _ in range(2):
        config = tiktok_shop.EmulatorConfig(seed=63, orders=100, rate_limit_qps=None)
        with tiktok_shop.run_in_thread(config) as emu:
            emu.store.register_webhook(receiver.url)
            emu.store.create_order()
            emu.store.advance_time(days=2)
            assert emu.store.webhooks.wait_idle()
            bodies.append([d["body"] for d in emu.store.webhooks.log()])
    assert bodies[0] and bodies[0] == bodies[1]


def test_tiktok_retries_5xx_and_gives_up_on_connection_errors(
    tts: tiktok_shop.RunningEmulator, receiver: Receiver
) -> None:
    receiver.statuses = [503, 200]
    control(tts, "POST", "/webhooks", json={"url": receiver.url})
    control(tts, "POST", "/webhooks", json={"url": f"http://127.0.0.1:{free_port()}/gone"})
    control(tts, "POST", "/orders", json={})
    first, second = deliveries(tts)
    assert first["state"] == "delivered" and [a["status"] for a in first["attempts"]] == [503, 200]
    assert second["state"] == "failed" and len(second["attempts"]) == 3
    assert all(a["status"] is None and a["error"] for a in second["attempts"])
    control(tts, "DELETE", "/webhooks/2")
    assert [t["id"] for t in control(tts, "GET", "/webhooks")] == [1]


def test_tiktok_cli_registers_the_webhook(receiver: Receiver) -> None:
    port = free_port()
    argv = ["--orders", "50", "--port", str(port), "--webhook-url", receiver.url, "--sign-wrongly"]
    process = subprocess.Popen(
        [sys.executable, "-m", "storepipe.emulators.tiktok_shop", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}/_emulator"
        deadline = time.monotonic() + 60
        while True:
            try:
                targets = requests.get(base + "/webhooks", timeout=5).json()
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "emulator did not start"
                time.sleep(0.2)
        assert [(t["url"], t["sign_wrongly"]) for t in targets] == [(receiver.url, True)]
        requests.post(base + "/orders", json={}, timeout=10)
        (received,) = receiver.wait_for(1)
        defaults = tiktok_shop.EmulatorConfig()
        assert not verify_webhook(
            defaults.app_key, defaults.app_secret, received.body, received.headers["Authorization"]
        )
    finally:
        process.terminate()
        process.wait(timeout=20)


# ---------------------------------------------------------------------------------------------------- WooCommerce


def woo_valid(received: Any, secret: str) -> bool:
    expected = base64.b64encode(hmac.new(secret.encode(), received.body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, received.headers["X-WC-Webhook-Signature"])


def test_woocommerce_signature_matches_the_research_vector() -> None:
    body = b'{"id":727,"status":"processing","total":"29.35"}'
    assert signature("s3cr3t", body) == "Ep54GIEX8QzEcRLjWN4Bv6lxPF27SJAcEFqTnigyjHs="


def test_woocommerce_ping_on_registration(woo: woocommerce.RunningEmulator, receiver: Receiver) -> None:
    target = control(woo, "POST", "/webhooks", json={"url": receiver.url})
    assert target["id"] == 1 and len(target["secret"]) == 32  # generated when not given
    (ping,) = receiver.wait_for(1)
    assert ping.body == b"webhook_id=1"
    assert ping.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert not any(name.lower().startswith("x-wc-") for name in ping.headers)
    assert ping.headers["User-Agent"] == "WooCommerce/9.4 Hookshot (WordPress/6.7.1)"
    assert deliveries(woo)[0]["topic"] == "ping"


def test_woocommerce_order_lifecycle(woo: woocommerce.RunningEmulator, receiver: Receiver) -> None:
    control(woo, "POST", "/webhooks", json={"url": receiver.url, "secret": "s3cr3t"})
    order = control(woo, "POST", "/orders", json={"status": "processing"})
    oid = order["id"]
    control(woo, "PATCH", f"/orders/{oid}", json={"customer_note": "ring twice"})
    control(woo, "POST", f"/orders/{oid}/refunds", json={"amount": "1.00"})
    control(woo, "POST", f"/orders/{oid}/trash", json={})
    control(woo, "POST", f"/orders/{oid}/restore", json={})
    received = receiver.wait_for(6)[1:]
    topics = ["order.created", "order.updated", "order.updated", "order.deleted", "order.restored"]
    assert [r.headers["X-WC-Webhook-Topic"] for r in received] == topics
    for r, topic in zip(received, topics, strict=True):
        assert woo_valid(r, "s3cr3t")
        resource, event = topic.split(".")
        assert r.headers["X-WC-Webhook-Resource"] == resource and r.headers["X-WC-Webhook-Event"] == event
        assert r.headers["X-WC-Webhook-ID"] == "1"
        assert r.headers["X-WC-Webhook-Source"] == woo.base_url + "/"
        assert len(r.headers["X-WC-Webhook-Delivery-ID"]) == 32
        assert r.headers["Content-Type"] == "application/json"
    assert json.loads(received[3].body) == {"id": oid}
    assert json.loads(received[1].body)["customer_note"] == "ring twice"
    assert len(json.loads(received[2].body)["refunds"]) == 1
    # The body is the order as the REST API renders it (slashes escaped like wp_json_encode).
    rest = requests.get(f"{woo.api_url}/orders/{oid}", auth=woo.auth, timeout=10)
    assert received[-1].body == rest.content
    assert len({r.headers["X-WC-Webhook-Delivery-ID"] for r in received}) == 5


def test_woocommerce_customer_product_coupon_topics(woo: woocommerce.RunningEmulator, receiver: Receiver) -> None:
    control(woo, "POST", "/webhooks", json={"url": receiver.url, "secret": "k"})
    customer = woo.store.customer_ids()[0]
    product = int(woo.store.products["id"][~woo.store.products["variation"]][0])
    coupon = int(woo.store.coupons["id"][0])
    updated = control(woo, "PATCH", f"/customers/{customer}", json={"first_name": "Zoë", "billing": {"city": "Köln"}})
    assert updated["first_name"] == "Zoë" and updated["billing"]["city"] == "Köln"
    control(woo, "PATCH", f"/products/{product}", json={"name": "Renamed blend"})
    control(woo, "PATCH", f"/coupons/{coupon}", json={"description": "autumn"})
    control(woo, "DELETE", f"/products/{product}")
    control(woo, "DELETE", f"/coupons/{coupon}")
    control(woo, "DELETE", f"/customers/{customer}")
    received = receiver.wait_for(7)[1:]
    topics = [r.headers["X-WC-Webhook-Topic"] for r in received]
    assert topics == [
        "customer.updated",
        "product.updated",
        "coupon.updated",
        "product.deleted",
        "coupon.deleted",
        "customer.deleted",
    ]
    assert all(woo_valid(r, "k") for r in received)
    assert json.loads(received[1].body)["name"] == "Renamed blend"
    assert json.loads(received[0].body)["date_modified_gmt"].startswith(
        time.strftime("%Y-%m-%d", time.gmtime(woo.store.now))
    )
    for path in (f"/products/{product}", f"/coupons/{coupon}", f"/customers/{customer}"):
        assert requests.get(woo.api_url + path, auth=woo.auth, timeout=10).status_code == 404
    assert requests.patch(f"{woo.control_url}/products/{product}", json={"name": "x"}, timeout=10).status_code == 404
    bad = requests.patch(f"{woo.control_url}/coupons/{int(woo.store.coupons['id'][1])}", json={"code": "x"}, timeout=10)
    assert bad.status_code == 400


def test_woocommerce_sign_wrongly_and_topic_filter(woo: woocommerce.RunningEmulator, receiver: Receiver) -> None:
    control(
        woo,
        "POST",
        "/webhooks",
        json={"url": receiver.url, "secret": "k", "sign_wrongly": True, "topics": ["order.created"]},
    )
    order = control(woo, "POST", "/orders", json={})
    control(woo, "PATCH", f"/orders/{order['id']}", json={"customer_note": "not subscribed"})
    _, created = receiver.wait_for(2)
    assert created.headers["X-WC-Webhook-Topic"] == "order.created" and not woo_valid(created, "k")
    assert [d["topic"] for d in deliveries(woo)] == ["ping", "order.created"]
    bad = requests.post(woo.control_url + "/webhooks", json={"url": receiver.url, "topics": ["order.nope"]}, timeout=10)
    assert bad.status_code == 400


def test_woocommerce_cli_registers_the_webhook(receiver: Receiver) -> None:
    port = free_port()
    argv = ["--orders", "50", "--port", str(port), "--webhook-url", receiver.url, "--webhook-secret", "cli-secret"]
    process = subprocess.Popen(
        [sys.executable, "-m", "storepipe.emulators.woocommerce", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        (ping,) = receiver.wait_for(1, timeout_s=60)
        assert ping.body == b"webhook_id=1"
        base = f"http://127.0.0.1:{port}/_emulator"
        deadline = time.monotonic() + 60
        while True:
            try:
                order = requests.post(base + "/orders", json={}, timeout=5).json()
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "emulator did not start"
                time.sleep(0.2)
        _, created = receiver.wait_for(2)
        assert woo_valid(created, "cli-secret") and json.loads(created.body)["id"] == order["id"]
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_woocommerce_created_topics_carry_the_rest_object(woo: woocommerce.RunningEmulator, receiver: Receiver) -> None:
    control(woo, "POST", "/webhooks", json={"url": receiver.url, "secret": "k"})
    customer = control(woo, "POST", "/customers", json={"first_name": "Ada", "email": "ada@example.org"})
    product = control(woo, "POST", "/products", json={"name": "Winter Blend", "regular_price": "12.5"})
    coupon = control(woo, "POST", "/coupons", json={"code": "WINTER10", "amount": "10"})
    order = control(woo, "POST", "/orders", json={"coupon": "winter10", "customer_id": customer["id"]})
    received = receiver.wait_for(5)[1:]
    assert [r.headers["X-WC-Webhook-Topic"] for r in received] == [
        "customer.created",
        "product.created",
        "coupon.created",
        "order.created",
    ]
    assert all(woo_valid(r, "k") for r in received)
    assert customer["first_name"] == "Ada" and customer["email"] == "ada@example.org"
    assert product["name"] == "Winter Blend" and product["regular_price"] == "12.50"
    assert coupon["code"] == "winter10" and order["coupon_lines"][0]["code"] == "winter10"
    assert order["customer_id"] == customer["id"]
    for r, path in zip(received[:2], (f"/customers/{customer['id']}", f"/products/{product['id']}"), strict=True):
        assert r.body == requests.get(woo.api_url + path, auth=woo.auth, timeout=10).content
    # The coupon as it was when created: the order placed afterwards has used it once since.
    now_coupon = requests.get(f"{woo.api_url}/coupons/{coupon['id']}", auth=woo.auth, timeout=10).json()
    sent_coupon = json.loads(received[2].body)
    assert (sent_coupon["usage_count"], now_coupon["usage_count"]) == (0, 1)
    assert {k: v for k, v in sent_coupon.items() if k not in ("usage_count", "used_by")} == {
        k: v for k, v in now_coupon.items() if k not in ("usage_count", "used_by")
    }
    listed = requests.get(
        woo.api_url + "/products", params={"search": "", "orderby": "id", "order": "desc"}, auth=woo.auth, timeout=10
    )
    assert listed.json()[0]["id"] == product["id"]
    duplicate = requests.post(woo.control_url + "/coupons", json={"code": "winter10"}, timeout=10)
    assert duplicate.status_code == 400


def test_woocommerce_deliveries_are_deterministic(receiver: Receiver) -> None:
    runs = []
    for _ in range(2):
        with woocommerce.run_in_thread(
            woocommerce.EmulatorConfig(seed=64, orders=100, home_url="https://shop.example")
        ) as emu:
            emu.store.register_webhook(receiver.url)
            order = emu.store.create_order()
            emu.store.add_refund(order["id"], amount="1.00")
            assert emu.store.webhooks.wait_idle()
            runs.append([(d["headers"], d["body"]) for d in emu.store.webhooks.log()])
    assert len(runs[0]) == 3 and runs[0] == runs[1]
