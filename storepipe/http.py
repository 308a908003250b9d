"""One HTTP client for every platform: timeouts, retries with backoff that honour Retry-After, rate limits.

Platform clients (WooCommerce, TikTok Shop) build on `HttpClient`; they add authentication and the
platform's error envelope. Nothing here logs or raises a secret: URLs are masked and auth headers are
never formatted into messages.
"""

from __future__ import annotations

import collections
import email.utils
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
import requests
from requests.adapters import HTTPAdapter

USER_AGENT = "storepipe/0.1 (+https://github.com/storepipe)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 520, 521, 522, 524})
# Query parameters that carry credentials on some platforms (WooCommerce query auth, TikTok signing).
SECRET_PARAMS = frozenset({"consumer_key", "consumer_secret", "access_token", "sign", "app_secret", "oauth_signature"})


def mask_url(url: str) -> str:
    """The URL with credential-bearing query values replaced by ***, safe for logs and errors."""
    parts = urlsplit(url)
    query = [(k, "***" if k in SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*,[]"), ""))


class HttpError(RuntimeError):
    """A request that failed for good; `status` is None when no response arrived."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None, url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.url = url


class AuthError(HttpError):
    """The API rejected the credentials: retrying cannot help, the configuration must change."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; a server's Retry-After wins when it asks for longer."""

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 60.0
    # Give up on one request after this long in total, however many attempts are left.
    deadline: float = 600.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        jittered = rng.uniform(backoff / 2, backoff)
        if retry_after is not None:
            return min(self.max_delay, max(retry_after, jittered))
        return jittered


class RateLimiter:
    """A token bucket shared by the threads of one shop: at most `rate` requests/s, bursts of `burst`."""

    def __init__(self, rate: float, burst: int | None = None) -> None:
        self.rate = rate
        self.capacity = float(burst or max(1, int(rate)))
        self._tokens = self.capacity
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Block until a request may go; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return waited
                pause = (1 - self._tokens) / self.rate
            time.sleep(pause)
            waited += pause


class WindowLimiter:
    """At most `limit` requests in any sliding `window` seconds, the way TikTok counts QPS per app per API.

    A token bucket would let `limit + burst` requests into some one-second window and draw 429s from a
    server that counts by window; this never does (plus `margin` seconds for the request's travel time).
    """

    def __init__(self, limit: int, window: float = 1.0, margin: float = 0.02) -> None:
        self.limit = max(1, limit)
        self.span = window + margin
        self._sent: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                while self._sent and self._sent[0] <= now - self.span:
                    self._sent.popleft()
                if len(self._sent) < self.limit:
                    self._sent.append(now)
                    return waited
                pause = self._sent[0] + self.span - now
            time.sleep(pause)
            waited += pause


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


WaitHook = Callable[[str, float], None]


class RetryLater(Exception):
    """Raised by a `check_body` hook: the answer is a transient error inside a 200 (TikTok's envelope)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass
class HttpClient:
    """A pooled session against one base URL with retries, timeouts and an optional rate limiter.

    `on_wait(reason, seconds)` is called before each backoff sleep (the importer marks the entity
    Paused with the reason); `on_resume()` after a request that had to wait succeeds.
    """

    base_url: str
    auth: requests.auth.AuthBase | tuple[str, str] | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    limiter: RateLimiter | WindowLimiter | None = None
    pool_size: int = 8
    on_wait: WaitHook | None = None
    on_resume: Callable[[], None] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    seed: int | None = None
    requests_sent: int = 0
    retries: int = 0

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=self.pool_size, pool_maxsize=self.pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json", **self.headers})
        if self.auth is not None:
            self.session.auth = self.auth
        self._rng = random.Random(self.seed)
        self._count_lock = threading.Lock()

    def close(self) -> None:
        self.session.close()

    def _count(self, *, retry: bool) -> None:
        with self._count_lock:
            self.requests_sent += 1
            self.retries += int(retry)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json_body: Any = None,
        classify: Callable[[requests.Response], HttpError | None] | None = None,
        decode: Callable[[bytes], Any] | None = orjson.loads,
        prepare: Callable[[], dict[str, Any]] | None = None,
        check_body: Callable[[Any], None] | None = None,
        limiter: RateLimiter | WindowLimiter | None = None,
    ) -> tuple[requests.Response, Any]:
        """Send with retries; return the response and its body through `decode` (JSON by default; None: not read).

        `classify` lets a platform turn a response into a permanent error (AuthError, a bad parameter)
        before the generic rules run; it returns None for "not my business". `prepare()` is called before
        every attempt and returns request arguments that must be fresh each time (a signed timestamp, the
        current access token, the exact body bytes that were signed). `check_body(parsed)` inspects a
        parsed 2xx answer: it raises HttpError for a permanent error or RetryLater for a transient one.
        `limiter` replaces the client's limiter for this request (limits per API, not per host).
        """
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        started = time.monotonic()
        attempt = 0
        waited = False
        while True:
            attempt += 1
            gate = limiter or self.limiter
            if gate:
                gate.acquire()
            reason: str
            retry_after: float | None = None
            arguments: dict[str, Any] = {"params": params, "json": json_body}
            if prepare:
                arguments |= prepare()
            try:
                self._count(retry=attempt > 1)
                response = self.session.request(
                    method, url, **arguments, timeout=(self.connect_timeout, self.read_timeout)
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                reason = f"{type(exc).__name__} on {mask_url(url)}"
            else:
                error = classify(response) if classify else None
                if error is not None:
                    raise error
                if response.status_code in RETRY_STATUSES:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    reason = f"HTTP {response.status_code} from {mask_url(response.url)}"
                elif response.status_code >= 400:
                    raise HttpError(
                        f"HTTP {response.status_code} from {mask_url(response.url)}: {response.text[:200]}",
                        status=response.status_code,
                        url=mask_url(response.url),
                    )
                else:
                    try:
                        # orjson: parsing pages of orders is a large share of an import's CPU. A `decode`
                        # raises ValueError for a body that is not what it should be (cut short, HTML).
                        body = decode(response.content) if decode else None
                    except ValueError:
                        # Truncated or HTML bodies behind a 200 happen under load (proxies, PHP limits).
                        reason = f"invalid JSON in HTTP {response.status_code} from {mask_url(response.url)}"
                    else:
                        try:
                            if check_body:
                                check_body(body)
                        except RetryLater as later:
                            reason, retry_after = f"{later.reason} from {mask_url(response.url)}", later.retry_after
                        else:
                            if waited and self.on_resume:
                                self.on_resume()
                            return response, body
            elapsed = time.monotonic() - started
            if attempt >= self.retry.max_attempts or elapsed >= self.retry.deadline:
                raise HttpError(f"gave up after {attempt} attempts in {elapsed:.0f} s: {reason}", url=mask_url(url))
            delay = self.retry.delay(attempt, retry_after, self._rng)
            waited = True
            if self.on_wait:
                self.on_wait(f"retry {attempt}/{self.retry.max_attempts - 1} in {delay:.1f} s: {reason}", delay)
            time.sleep(delay)

    def get(
        self, path: str, params: Mapping[str, Any] | list[tuple[str, Any]] | None = None, **kw: Any
    ) -> tuple[requests.Response, Any]:
        return self.request("GET", path, params=params, **kw)
