"""The receiver over real HTTP: what it accepts and stores before answering, what it rejects, and what it never logs."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests
import sqlalchemy as sa

from storepipe.shops import Shop, set_enabled
from storepipe.sources.tiktok_shop.signing import webhook_signature
from storepipe.sources.woocommerce.webhooks import signature
from storepipe.webhooks.app import MAX_BODY
from storepipe_tests.webhooks.conftest import APP_KEY, APP_SECRET, WOO_SECRET, inbox_rows

ORDER = {"id": 727, "status": "processing", "total": "29.35", "date_modified_gmt": "2026-11-27T10:00:00"}


def woo_post(
    base: str,
    body: bytes,
    *,
    shop: str = "wshop",
    secret: str | None = WOO_SECRET,
    topic: str | None = "order.updated",
    delivery: str | None = "d41d8cd98f00b204e9800998ecf8427e",
    platform: str = "woocommerce",
) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if topic:
        headers |= {"X-WC-Webhook-Topic": topic, "X-WC-Webhook-Resource": topic.split(".")[0]}
    if delivery:
        headers["X-WC-Webhook-Delivery-ID"] = delivery
    if secret is not None:
        headers["X-WC-Webhook-Signature"] = signature(secret, body)
    return requests.post(f"{base}/webhooks/{platform}/{shop}", data=body, headers=headers, timeout=10)


def tts_body(notification: str, kind: int = 1, **data: object) -> bytes:
    payload = {"type": kind, "tts_notification_id": notification, "shop_id": "7000", "timestamp": 1764237600,
               "data": data or {"order_id": "576461413038785752", "order_status": "AWAITING_SHIPMENT"}}  # fmt: skip
    return json.dumps(payload, separators=(",", ":")).encode()


def tts_post(base: str, body: bytes, *, secret: str = APP_SECRET, shop: str = "tshop") -> requests.Response:
    headers = {"Content-Type": "application/json", "Authorization": webhook_signature(APP_KEY, secret, body)}
    return requests.post(f"{base}/webhooks/tiktok_shop/{shop}", data=body, headers=headers, timeout=10)


def health(base: str) -> dict[str, int]:
    return requests.get(f"{base}/webhooks/health", timeout=10).json()["counts"]


def test_signed_woocommerce_delivery_is_committed_before_the_answer(
    engine: sa.Engine, shops: dict[str, Shop], receiver: str
) -> None:
    body = json.dumps(ORDER).encode()
    answer = woo_post(receiver, body)
    assert answer.status_code == 200 and answer.json()["status"] == "queued"
    # Read on another connection right after the answer: the row was committed before the 2xx left.
    (row,) = inbox_rows(engine)
    assert row.id == answer.json()["id"]
    assert (row.shop_key, row.platform, row.topic) == ("wshop", "woocommerce", "order.updated")
    assert (row.delivery_id, row.resource_id, row.status) == ("d41d8cd98f00b204e9800998ecf8427e", "727", "pending")
    assert row.payload == ORDER and row.received_at is not None and row.run_id is None

    # A replay of the same delivery id: 200 (the platform stops retrying), no second row.
    again = woo_post(receiver, body)
    assert again.status_code == 200 and again.json() == {"status": "duplicate"}
    # A topic storepipe does not apply is kept for the record, not queued.
    other = woo_post(receiver, b'{"action":"woocommerce_x","arg":1}', topic="action.woocommerce_x", delivery="a" * 32)
    assert other.json()["status"] == "ignored"
    stored = [(r.topic, r.status) for r in inbox_rows(engine)]
    assert stored == [("order.updated", "pending"), ("action.woocommerce_x", "ignored")]
    assert health(receiver) == {"accepted": 1, "duplicate": 1, "ignored": 1}


def test_the_creation_ping_is_recorded_not_queued(engine: sa.Engine, shops: dict[str, Shop], receiver: str) -> None:
    for _ in range(2):
        ping = requests.post(
            f"{receiver}/webhooks/woocommerce/wshop", data={"webhook_id": "12"},
            headers={"User-Agent": "WooCommerce/10.2.1 Hookshot (WordPress/6.8)"}, timeout=10,
        )  # fmt: skip
        assert ping.status_code == 200  # WooCommerce wants exactly 200 [C2]
    (row,) = inbox_rows(engine)  # one row per webhook id: unsigned pings cannot fill the inbox
    assert (row.topic, row.delivery_id, row.status, row.payload) == ("ping", "ping:12", "ignored", {"webhook_id": 12})
    assert health(receiver) == {"ping": 1, "duplicate": 1}


def _chunks(total: int) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * 65536
        sent += 65536


def test_bad_requests_are_rejected_counted_and_write_nothing(
    engine: sa.Engine, shops: dict[str, Shop], receiver: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="storepipe.webhooks")
    body = json.dumps(ORDER).encode()
    assert woo_post(receiver, body, secret="someone-else").status_code == 401  # forged
    assert woo_post(receiver, body, secret=None).status_code == 401  # unsigned
    assert woo_post(receiver, body, shop="nope").status_code == 404  # unknown shop
    assert woo_post(receiver, body, shop="tshop").status_code == 404  # a TikTok shop on the WooCommerce route
    assert woo_post(receiver, body, platform="tiktok_shop").status_code == 404  # and the reverse
    assert woo_post(receiver, b"not json", delivery="b" * 32).status_code == 400  # signed, but not JSON
    assert woo_post(receiver, body, topic=None).status_code == 400  # no topic: not a delivery, not a ping
    assert woo_post(receiver, b'{"id":1,"x":"\\u0000"}', delivery="e" * 32).status_code == 400  # jsonb refuses it
    big = b'{"id":1,"pad":"' + b"x" * MAX_BODY + b'"}'
    assert woo_post(receiver, big).status_code == 413  # Content-Length over the limit
    chunked = requests.post(f"{receiver}/webhooks/woocommerce/wshop", data=_chunks(MAX_BODY + 1), timeout=10)
    assert chunked.status_code == 413  # no Content-Length: counted as it streams
    assert tts_post(receiver, tts_body("1"), secret="forged").status_code == 401
    no_auth = requests.post(f"{receiver}/webhooks/tiktok_shop/tshop", data=tts_body("2"), timeout=10)
    assert no_auth.status_code == 401
    set_enabled(engine, "wshop", False)
    assert woo_post(receiver, body).status_code == 404  # a disabled shop takes nothing
    set_enabled(engine, "wshop", True)
    del os.environ["WSHOP_WEBHOOK_SECRET"]
    assert woo_post(receiver, body).status_code == 503  # misconfigured: the platform should retry later

    assert inbox_rows(engine) == []
    assert health(receiver) == {
        "bad_signature": 2, "missing_signature": 2, "unknown_shop": 4, "bad_json": 2, "bad_request": 1,
        "too_large": 2, "secret_not_configured": 1,
    }  # fmt: skip
    assert "rejected 503 secret_not_configured (set WSHOP_WEBHOOK_SECRET to the webhook's secret)" in caplog.text
    assert "webhook woocommerce/nope: rejected 404 unknown_shop" in caplog.text


def test_tiktok_notifications_are_verified_and_deduplicated(
    engine: sa.Engine, shops: dict[str, Shop], receiver: str
) -> None:
    body = tts_body("7400000000000000001")
    first = tts_post(receiver, body)
    assert first.status_code == 200 and first.json()["status"] == "queued"
    # TikTok retries until it gets a 2xx: the same notification id is answered 200 and stored once.
    assert tts_post(receiver, body).json() == {"status": "duplicate"}
    message = tts_post(receiver, tts_body("7400000000000000002", 14, conversation_id="c1"))
    assert message.json()["status"] == "ignored"  # chat messages are not storepipe's business, but are recorded
    not_a_notification = tts_post(receiver, b'{"type":1,"data":{}}')
    assert not_a_notification.status_code == 400
    rows = inbox_rows(engine)
    assert [(r.topic, r.delivery_id, r.resource_id, r.status) for r in rows] == [
        ("ORDER_STATUS_CHANGE", "7400000000000000001", "576461413038785752", "pending"),
        ("NEW_MESSAGE", "7400000000000000002", None, "ignored"),
    ]
    assert rows[0].payload == json.loads(body)


def test_secrets_and_signatures_are_never_logged_or_stored(
    engine: sa.Engine, shops: dict[str, Shop], receiver: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = json.dumps(ORDER).encode()
    sent = [
        woo_post(receiver, body),
        woo_post(receiver, body, secret="wrong-secret", delivery="c" * 32),
        tts_post(receiver, tts_body("9")),
        tts_post(receiver, tts_body("10"), secret="forged-secret"),
    ]
    assert [r.status_code for r in sent] == [200, 401, 200, 401]
    signatures = [
        signature(WOO_SECRET, body),
        signature("wrong-secret", body),
        webhook_signature(APP_KEY, APP_SECRET, tts_body("9")),
        webhook_signature(APP_KEY, "forged-secret", tts_body("10")),
    ]
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT string_agg(t::text, ' ') FROM ops.webhook_inbox t")).scalar_one()
    for secret in (WOO_SECRET, APP_SECRET, *signatures):
        assert secret not in caplog.text
        assert secret not in stored
    assert "rejected 401 bad_signature" in caplog.text


def test_storepipe_webhooks_serve_runs_the_receiver(settings, shops: dict[str, Shop]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ)  # the settings fixture's database, the shops' variables
    command = [sys.executable, "-m", "storepipe.cli", "webhooks", "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                assert requests.get(f"{base}/webhooks/health", timeout=2).json() == {"status": "ok", "counts": {}}
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and server.poll() is None, "the receiver did not start"
                time.sleep(0.2)
        assert woo_post(base, json.dumps(ORDER).encode()).json()["status"] == "queued"
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0].decode()
    assert f"storepipe webhook receiver on http://127.0.0.1:{port}/webhooks/<platform>/<shop_key>" in output
    assert WOO_SECRET not in output
