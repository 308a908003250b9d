"""The shared HTTP client against the emulator's faults over real HTTP: retries, Retry-After, timeouts, giving up."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator

import pytest

from storepipe.emulators.woocommerce import EmulatorConfig, RunningEmulator, run_in_thread
from storepipe.http import HttpClient, HttpError, RetryPolicy, mask_url, parse_retry_after

FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=2.0)


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with run_in_thread(EmulatorConfig(seed=2, orders=120, hang_s=3.0)) as running:
        yield running


@pytest.fixture
def client(emu: RunningEmulator) -> Iterator[HttpClient]:
    emu.store.clear_faults()
    waits: list[tuple[str, float]] = []
    http = HttpClient(
        emu.api_url, auth=emu.auth, retry=FAST, read_timeout=1.0, on_wait=lambda r, s: waits.append((r, s))
    )
    http.waits = waits  # type: ignore[attr-defined]
    yield http
    http.close()
    emu.store.clear_faults()


def _orders(client: HttpClient) -> list[dict]:
    return client.get("/orders", {"per_page": 5})[1]


def test_429_waits_as_long_as_retry_after_says(emu: RunningEmulator, client: HttpClient) -> None:
    emu.store.set_fault("rate_limit", count=1, retry_after=1)
    started = time.monotonic()
    assert len(_orders(client)) == 5
    assert time.monotonic() - started >= 1.0
    ((reason, seconds),) = client.waits  # type: ignore[attr-defined]
    assert "HTTP 429" in reason and seconds == 1.0
    assert (client.requests_sent, client.retries) == (2, 1)


@pytest.mark.parametrize(
    ("kind", "options", "reason"),
    [
        ("server_error", {"status": 502}, "HTTP 502"),
        ("reset", {}, "ConnectionError"),
        ("truncate", {"fraction": 0.5}, "invalid JSON"),
        ("hang", {"hang_s": 2.0}, "ReadTimeout"),
    ],
)
def test_transient_failures_are_retried(
    emu: RunningEmulator, client: HttpClient, kind: str, options: dict, reason: str
) -> None:
    emu.store.set_fault(kind, count=2, **options)
    assert len(_orders(client)) == 5
    reasons = [r for r, _ in client.waits]  # type: ignore[attr-defined]
    assert len(reasons) == 2 and all(reason in r for r in reasons), reasons


def test_gives_up_after_the_last_attempt_naming_the_cause(emu: RunningEmulator, client: HttpClient) -> None:
    emu.store.set_fault("server_error", count=10, status=503)
    with pytest.raises(HttpError, match=r"gave up after 4 attempts .*HTTP 503"):
        _orders(client)


def test_unreachable_host_fails_after_retries() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    http = HttpClient(f"http://127.0.0.1:{port}", retry=FAST, connect_timeout=0.5)
    with pytest.raises(HttpError, match=r"gave up after 4 attempts .*ConnectionError"):
        http.get("/orders", {"consumer_secret": "cs_hidden"})


def test_urls_in_errors_hide_credentials() -> None:
    masked = mask_url("https://shop.example/wp-json/wc/v3/orders?consumer_key=ck_1&consumer_secret=cs_2&page=3")
    assert "ck_1" not in masked and "cs_2" not in masked and "page=3" in masked


def test_retry_after_is_honoured_within_the_ceiling() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0)
    rng = random.Random(1)
    assert policy.delay(1, 12.0, rng) == 12.0  # the server asked for longer than our backoff
    assert policy.delay(1, 600.0, rng) == 30.0  # but never past the ceiling
    delays = [policy.delay(attempt, None, rng) for attempt in range(1, 8)]
    assert all(0.25 <= d <= 30.0 for d in delays) and delays[-1] > delays[0]
    assert parse_retry_after("7") == 7.0 and parse_retry_after("soon") is None


def test_rate_limiter_spaces_requests_across_threads(emu: RunningEmulator) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from storepipe.http import RateLimiter

    http = HttpClient(emu.api_url, auth=emu.auth, retry=FAST, limiter=RateLimiter(20, burst=2))
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: http.get("/orders", {"per_page": 1}), range(22)))
    # 2 requests from the burst, then 20 at 20/s: about a second, whatever the number of threads.
    assert time.monotonic() - started >= 0.95
    assert http.requests_sent == 22
