"""The documented TikTok Shop signature vectors (research sheet §1 and §5) must match exactly."""

from __future__ import annotations

from storepipe.sources.tiktok_shop.signing import sign, string_to_sign, verify_webhook, webhook_signature

WEBHOOK_BODY = (
    b'{"type":1,"shop_id":"7494726673780148744","timestamp":1664095733,"data":{"order_id":"576684019603311365",'
    b'"order_status":"AWAITING_SHIPMENT","update_time":1664095610}}'
)


def test_official_vector() -> None:
    query = {"timestamp": "1623812664", "app_key": "29a39d"}
    assert string_to_sign("/authorization/202309/shops", query, None) == (
        b"/authorization/202309/shopsapp_key29a39dtimestamp1623812664"
    )
    assert sign("e59af819cc", "/authorization/202309/shops", query, None) == (
        "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"
    )


def test_ecomphp_vector() -> None:
    assert sign("app_secret", "/test-api", {"foo": "bar"}, None) == (
        "d3cb7fe11ecae942802ceeca67e7cf10120cc12f1517d45fbc1c8cfe5413c80f"
    )


def test_sign_and_access_token_are_excluded() -> None:
    base = sign("s", "/p", {"a": "1"}, None)
    assert sign("s", "/p", {"a": "1", "sign": "x", "access_token": "t"}, None) == base


def test_arrays_are_comma_joined_and_body_appended() -> None:
    assert string_to_sign("/p", {"ids": ["1", "2"], "b": "z"}, b'{"k":1}') == b'/pbzids1,2{"k":1}'
    assert sign("s", "/p", {"ids": ["1", "2"]}, None) == sign("s", "/p", {"ids": "1,2"}, None)
    assert sign("s", "/p", {}, b"{}") != sign("s", "/p", {}, None)


def test_sign_is_lower_hex() -> None:
    value = sign("secret", "/x", {"a": "b"}, b"body")
    assert value == value.lower() and len(value) == 64


def test_webhook_vector() -> None:
    expected = "21109834de72ec53c9959716d8514ae388ce1f123e5ffdcafc46713fcdf62b27"
    assert webhook_signature("fake_app_key", "fake_app_secret", WEBHOOK_BODY) == expected
    assert verify_webhook("fake_app_key", "fake_app_secret", WEBHOOK_BODY, expected)
    assert not verify_webhook("fake_app_key", "fake_app_secret", WEBHOOK_BODY + b" ", expected)
