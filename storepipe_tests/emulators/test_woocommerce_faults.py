"""Every fault kind, observed from the client side over real HTTP."""

from __future__ import annotations

import json
import time

import pytest
import requests


def test_rate_limit_with_retry_after(make_shop, client) -> None:
    with make_shop() as emu:
        api = client(emu)
        emu.store.set_fault("rate_limit", count=2, retry_after=7, path="^/wc/v3/orders$")
        for _ in range(2):
            limited = api.get("/orders")
            assert limited.status_code == 429
            assert limited.headers["Retry-After"] == "7"
            assert limited.headers["Content-Type"].startswith("text/html")
        assert api.get("/orders").status_code == 200
        assert emu.store.list_faults()[0]["fired"] == 2


@pytest.mark.parametrize(
    ("status", "marker"),
    [(500, "critical error"), (502, "502 Bad Gateway"), (503, "503 Service Temporarily Unavailable")],
)
def test_server_errors_are_html(make_shop, client, status: int, marker: str) -> None:
    with make_shop() as emu:
        api = client(emu)
        emu.store.set_fault("server_error", status=status)
        response = api.get("/orders")
        assert response.status_code == status
        assert response.headers["Content-Type"].startswith("text/html")
        assert marker in response.text
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.text)
        assert api.get("/orders").status_code == 200


def test_connection_reset(make_shop, client) -> None:
    with make_shop() as emu:
        api = client(emu)
        emu.store.set_fault("reset")
        with pytest.raises(requests.ConnectionError) as caught:
            api.get("/orders")
        assert "reset" in str(caught.value).lower()
        assert api.get("/orders").status_code == 200


def test_hang_exceeds_client_timeout(make_shop, client) -> None:
    with make_shop(hang_s=1.5) as emu:
        api = client(emu)
        emu.store.set_fault("hang", path="^/wc/v3/orders$")
        started = time.monotonic()
        with pytest.raises(requests.Timeout):
            api.get("/orders", timeout=0.5)
        assert time.monotonic() - started < 1.4
        assert api.get("/customers", timeout=5).status_code == 200  # other requests are served meanwhile
        emu.store.set_fault("hang", hang_s=0.2)
        assert api.get("/orders", timeout=5).status_code == 200  # a short hang still answers


def test_truncated_json(make_shop, client) -> None:
    with make_shop() as emu:
        api = client(emu)
        emu.store.set_fault("truncate", fraction=0.4)
        response = api.get("/orders", params={"per_page": 20})
        assert response.status_code == 200
        assert int(response.headers["Content-Length"]) == len(response.content)
        with pytest.raises(requests.JSONDecodeError):
            response.json()
        full = api.get("/orders", params={"per_page": 20})
        assert len(response.content) == int(len(full.content) * 0.4)
        assert full.content.startswith(response.content)


def test_malformed_records_are_stable_per_id(make_shop, client) -> None:
    with make_shop() as emu:
        api, store = client(emu), emu.store
        store.set_fault("malformed", rate=0.2)
        first = api.all_pages("/orders", {"orderby": "id", "order": "asc"})
        again = api.all_pages("/orders", {"orderby": "id", "order": "asc"})
        assert first == again
        kinds = {o["id"]: store.malformed_kind(o["id"]) for o in first}
        assert {"bad_date", "missing_total", "negative_quantity"} <= set(kinds.values())
        assert 0.1 < sum(k is not None for k in kinds.values()) / len(kinds) < 0.3
        for order in first:
            kind = kinds[order["id"]]
            assert (order["date_created_gmt"] == "0000-00-00T00:00:00") == (kind == "bad_date")
            assert ("total" not in order) == (kind == "missing_total")
            assert (order["line_items"][0]["quantity"] < 0) == (kind == "negative_quantity")
        single = next(o for o in first if kinds[o["id"]] == "missing_total")
        assert "total" not in api.get(f"/orders/{single['id']}").json()
        store.clear_faults("malformed")
        assert "total" in api.get(f"/orders/{single['id']}").json()


def test_inserts_while_paging_shift_offsets(make_shop, client) -> None:
    with make_shop() as emu:
        api = client(emu)
        emu.store.set_fault("insert", inserts=3, rate=1.0, path="^/wc/v3/orders$")
        page1 = api.get("/orders", params={"per_page": 10, "page": 1})
        page2 = api.get("/orders", params={"per_page": 10, "page": 2})
        assert int(page2.headers["X-WP-Total"]) == int(page1.headers["X-WP-Total"]) + 3
        ids1, ids2 = [o["id"] for o in page1.json()], [o["id"] for o in page2.json()]
        # Newest first: three new orders pushed page 1's last three rows onto page 2.
        assert ids2[:3] == ids1[-3:]


def test_latency(make_shop, client) -> None:
    with make_shop(latency_ms=120) as emu:
        api = client(emu)
        started = time.monotonic()
        assert api.get("/orders", params={"per_page": 1}).status_code == 200
        assert time.monotonic() - started >= 0.12
        emu.store.set_fault("latency", latency_ms=300)
        started = time.monotonic()
        api.get("/orders", params={"per_page": 1})
        assert time.monotonic() - started >= 0.42


def test_probabilistic_faults_are_deterministic(make_shop, client) -> None:
    outcomes = []
    for _ in range(2):
        with make_shop() as emu:
            api = client(emu)
            emu.store.set_fault("server_error", rate=0.5, status=503)
            outcomes.append([api.get("/orders", params={"per_page": 1}).status_code for _ in range(30)])
    assert outcomes[0] == outcomes[1]
    assert 5 < outcomes[0].count(503) < 25


def test_faults_respect_path_and_spare_control(make_shop, client) -> None:
    with make_shop() as emu:
        api = client(emu)
        emu.store.set_fault("server_error", rate=1.0, path="^/wc/v3/customers")
        assert api.get("/customers").status_code == 503
        assert api.get("/orders").status_code == 200
        assert api.control("GET", "/state").status_code == 200
        assert emu.store.clear_faults() == 1
        assert api.get("/customers").status_code == 200
