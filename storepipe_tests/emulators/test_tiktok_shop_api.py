"""TikTok Shop emulator gateway over real HTTP: signatures, timestamps, tokens, ciphers, envelope, faults."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from storepipe.emulators.tiktok_shop import EmulatorConfig, RunningEmulator, run_in_thread
from storepipe.emulators.tiktok_shop.store import RateLimiter
from storepipe.emulators.tiktok_shop.testing import SignedClient
from storepipe.sources.tiktok_shop.signing import sign

ORDERS = "/order/202309/orders/search"
SHOPS = "/authorization/202309/shops"


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with run_in_thread(EmulatorConfig(seed=11, orders=300, rate_limit_qps=None)) as running:
        yield running


@pytest.fixture
def fresh() -> Iterator[RunningEmulator]:
    """A private emulator for tests that move the clock or configure faults."""
    with run_in_thread(EmulatorConfig(seed=12, orders=200, rate_limit_qps=None)) as running:
        yield running


def _envelope_ok(response: requests.Response) -> dict:
    assert response.status_code == 200, response.text
    payload = response.json()
    assert set(payload) == {"code", "message", "request_id", "data"}
    assert payload["code"] == 0
    assert isinstance(payload["request_id"], str) and payload["request_id"]
    return payload["data"]


def test_signed_call_is_accepted_and_enveloped(emu: RunningEmulator) -> None:
    client = SignedClient(emu)
    data = _envelope_ok(client.call("GET", SHOPS, cipher=False))
    (shop,) = data["shops"]
    assert shop["cipher"] == emu.shop_cipher and shop["id"] == emu.config.shop_id
    assert shop["seller_type"] in ("LOCAL", "CROSS_BORDER")


def test_post_with_body_is_signed_over_raw_bytes(emu: RunningEmulator) -> None:
    client = SignedClient(emu)
    data = _envelope_ok(client.call("POST", ORDERS, {"page_size": "5"}, body={"order_status": "COMPLETED"}))
    assert data["orders"] and all(o["status"] == "COMPLETED" for o in data["orders"])


@pytest.mark.parametrize("mangle", ["wrong", "upper", "missing"])
def test_bad_signature_is_106001_with_401(emu: RunningEmulator, mangle: str) -> None:
    client = SignedClient(emu)
    query = {"app_key": emu.app_key, "timestamp": str(emu.store.now)}
    good = sign(emu.app_secret, SHOPS, query, None)
    signature = {"wrong": "0" * 64, "upper": good.upper(), "missing": ""}[mangle]
    response = client.call("GET", SHOPS, cipher=False, signature=signature)
    assert response.status_code == 401
    payload = response.json()
    assert payload["code"] == 106001 and "sign" in payload["message"]
    assert "data" not in payload


def test_body_tampering_breaks_the_signature(emu: RunningEmulator) -> None:
    client = SignedClient(emu)
    params = {"app_key": emu.app_key, "timestamp": str(emu.store.now), "shop_cipher": emu.shop_cipher}
    params["page_size"] = "5"
    params["sign"] = sign(emu.app_secret, ORDERS, params, b'{"order_status":"COMPLETED"}')
    response = requests.post(
        emu.base_url + ORDERS,
        params=params,
        data=b'{"order_status":"CANCELLED"}',
        headers={"content-type": "application/json", "x-tts-access-token": client.access_token},
        timeout=10,
    )
    assert response.status_code == 401 and response.json()["code"] == 106001


@pytest.mark.parametrize(("offset", "accepted"), [(-301, False), (-300, True), (30, True), (31, False)])
def test_timestamp_window_follows_the_emulator_clock(emu: RunningEmulator, offset: int, accepted: bool) -> None:
    client = SignedClient(emu)
    response = client.call("GET", SHOPS, cipher=False, timestamp=emu.store.now + offset)
    payload = response.json()
    if accepted:
        assert payload["code"] == 0
    else:
        assert payload["code"] == 36009004 and "timestamp" in payload["message"].lower()


def test_wall_clock_timestamp_is_rejected(emu: RunningEmulator) -> None:
    assert abs(int(time.time()) - emu.store.now) > 300  # the emulator never reads the wall clock
    payload = SignedClient(emu).call("GET", SHOPS, cipher=False, timestamp=int(time.time())).json()
    assert payload["code"] == 36009004


def test_shop_cipher_rules(emu: RunningEmulator) -> None:
    client = SignedClient(emu)
    missing = client.call("POST", ORDERS, {"page_size": "1"}, body={}, cipher=False).json()
    assert missing["code"] == 106013
    unexpected = client.call("GET", SHOPS, {"shop_cipher": emu.shop_cipher}, cipher=False).json()
    assert unexpected["code"] == 36009004 and "not required" in unexpected["message"]
    wrong = client.call("POST", ORDERS, {"page_size": "1", "shop_cipher": "ROW_other"}, body={}, cipher=False)
    assert wrong.json()["code"] == 36009004


def test_access_token_header_is_required(emu: RunningEmulator) -> None:
    client = SignedClient(emu)
    for token in ("", "ROW_not-a-token"):
        payload = client.call("GET", SHOPS, cipher=False, access_token=token).json()
        assert payload["code"] == 36009004 and "x-tts-access-token" in payload["message"]


def test_unknown_path_and_method(emu: RunningEmulator) -> None:
    client = SignedClient(emu)
    assert client.call("GET", "/order/202309/nothing").json()["code"] == 36009009
    assert client.call("GET", ORDERS).json()["code"] == 36009010


def test_page_size_is_required_and_bounded(emu: RunningEmulator) -> None:
    client = SignedClient(emu)
    for query in ({}, {"page_size": "0"}, {"page_size": "101"}, {"page_size": "x"}):
        payload = client.call("POST", ORDERS, query, body={}).json()
        assert payload["code"] != 0 and "page_size" in payload["message"]


def _token_get(emu: RunningEmulator, code: str) -> requests.Response:
    params = {"app_key": emu.app_key, "app_secret": emu.app_secret, "auth_code": code, "grant_type": "authorized_code"}
    return requests.get(emu.base_url + "/api/v2/token/get", params=params, timeout=10)


def _token_refresh(emu: RunningEmulator, refresh_token: str) -> requests.Response:
    params = {
        "app_key": emu.app_key,
        "app_secret": emu.app_secret,
        "refresh_token": refresh_token,
        "grant_type": "refresh_token",
    }
    return requests.get(emu.base_url + "/api/v2/token/refresh", params=params, timeout=10)


def test_token_lifecycle(fresh: RunningEmulator) -> None:
    emu = fresh
    code = requests.post(emu.control_url + "/auth_codes", timeout=10).json()["auth_code"]
    granted = _envelope_ok(_token_get(emu, code))
    now = emu.store.now
    assert granted["access_token_expire_in"] == now + 7 * 86400  # absolute unix time
    assert granted["refresh_token_expire_in"] > granted["access_token_expire_in"]
    assert {"open_id", "seller_name", "seller_base_region", "granted_scopes"} <= set(granted)
    # The code is single-use.
    assert _token_get(emu, code).json()["code"] == 36004004

    client = SignedClient(emu, access_token=granted["access_token"])
    assert client.call("GET", SHOPS, cipher=False).json()["code"] == 0
    emu.store.advance_time(days=7)
    expired = client.call("GET", SHOPS, cipher=False).json()
    assert expired["code"] == 105002

    refreshed = _envelope_ok(_token_refresh(emu, granted["refresh_token"]))
    assert refreshed["refresh_token"] != granted["refresh_token"]
    assert refreshed["access_token"] != granted["access_token"]
    assert refreshed["access_token_expire_in"] == emu.store.now + 7 * 86400
    assert refreshed["refresh_token_expire_in"] == granted["refresh_token_expire_in"]
    # The old refresh token is invalidated by the rotation; the new one works once.
    assert _token_refresh(emu, granted["refresh_token"]).json()["code"] == 36009004
    assert (
        SignedClient(emu, access_token=refreshed["access_token"]).call("GET", SHOPS, cipher=False).json()["code"] == 0
    )
    assert _envelope_ok(_token_refresh(emu, refreshed["refresh_token"]))["refresh_token"] != refreshed["refresh_token"]


def test_token_endpoint_rejects_wrong_secret(fresh: RunningEmulator) -> None:
    params = {"app_key": fresh.app_key, "app_secret": "nope", "auth_code": fresh.store.issue_auth_code()}
    payload = requests.get(
        fresh.base_url + "/api/v2/token/get", params={**params, "grant_type": "authorized_code"}, timeout=10
    ).json()
    assert payload["code"] == 36009004


def test_rate_limit_per_app_per_path() -> None:
    with run_in_thread(EmulatorConfig(seed=5, orders=50, rate_limit_qps=3)) as emu:
        client = SignedClient(emu)
        answers = [client.call("GET", SHOPS, cipher=False) for _ in range(8)]
        limited = [r for r in answers if r.status_code == 429]
        assert limited, "8 calls at once must exceed 3 QPS"
        assert all(r.json()["code"] == 36009002 for r in limited)
        # Another API path has its own budget.
        assert client.call("POST", ORDERS, {"page_size": "1"}, body={}).json()["code"] == 0
        time.sleep(1.05)
        assert client.call("GET", SHOPS, cipher=False).json()["code"] == 0


def test_injected_faults_via_control_api(fresh: RunningEmulator) -> None:
    client = SignedClient(fresh)
    control = fresh.control_url
    assert requests.post(control + "/faults", json={"kind": "rate_limit", "count": 2}, timeout=10).ok
    for _ in range(2):
        response = client.call("GET", SHOPS, cipher=False)
        assert response.status_code == 429 and response.json()["code"] == 36009002
    assert client.call("GET", SHOPS, cipher=False).json()["code"] == 0

    requests.post(control + "/faults", json={"kind": "server_error", "status": 503, "path": "^/order/"}, timeout=10)
    assert client.call("GET", SHOPS, cipher=False).status_code == 200  # path filter
    failed = client.call("POST", ORDERS, {"page_size": "1"}, body={})
    assert failed.status_code == 503 and failed.json()["code"] == 36009003

    requests.post(control + "/faults", json={"kind": "latency", "latency_ms": 300, "count": 1}, timeout=10)
    started = time.monotonic()
    assert client.call("GET", SHOPS, cipher=False).json()["code"] == 0
    assert time.monotonic() - started >= 0.3
    listed = requests.get(control + "/faults", timeout=10).json()
    assert [f["fired"] for f in listed] == [2, 1, 1]
    assert requests.delete(control + "/faults", timeout=10).json() == {"removed": 3}
    assert requests.post(control + "/faults", json={"kind": "bogus"}, timeout=10).status_code == 400


def test_rate_fault_is_deterministic() -> None:
    def run() -> list[int]:
        with run_in_thread(EmulatorConfig(seed=9, orders=20, rate_limit_qps=None)) as emu:
            emu.store.set_fault("server_error", rate=0.5)
            client = SignedClient(emu)
            return [client.call("GET", SHOPS, cipher=False).status_code for _ in range(20)]

    first = run()
    assert first == run() and 500 in first and 200 in first


def test_date_header_follows_the_emulator_clock(fresh: RunningEmulator) -> None:
    response = requests.get(fresh.control_url + "/state", timeout=10)
    assert response.json()["now"] == "2026-11-01T00:00:00Z"
    api = SignedClient(fresh).call("GET", SHOPS, cipher=False)
    assert api.headers["Date"] == "Sun, 01 Nov 2026 00:00:00 GMT"
    advanced = requests.post(fresh.control_url + "/time/advance", json={"hours": 2}, timeout=10).json()
    assert advanced["now_epoch"] == fresh.store.now == fresh.config.now_epoch + 7200


def test_tampered_page_token_is_a_clean_error(emu: RunningEmulator) -> None:
    client = SignedClient(emu)
    for token in ("not base64!", "YWJj", "eHx5fHp8dw=="):  # garbage, 1 part, 4 non-numeric parts
        payload = client.call("POST", ORDERS, {"page_size": "5", "page_token": token}, body={}).json()
        assert payload["code"] == 36009004 and "Invalid params" in payload["message"]


def test_refresh_token_expires_with_the_authorization() -> None:
    with run_in_thread(EmulatorConfig(seed=6, orders=10, refresh_token_ttl_s=30 * 86400)) as emu:
        granted = emu.store.authorize()
        emu.store.advance_time(days=31)
        assert _token_refresh(emu, granted["refresh_token"]).json()["code"] == 105002


def test_rate_limiter_window_with_a_fake_clock() -> None:
    clock = [100.0]
    limiter = RateLimiter(2, clock=lambda: clock[0])
    assert [limiter.allow("app", "/a") for _ in range(3)] == [True, True, False]
    assert limiter.allow("app", "/b") and limiter.allow("other", "/a")
    clock[0] += 1.0
    assert limiter.allow("app", "/a")
    assert RateLimiter(None).allow("app", "/a")
