"""TikTok Shop Open API client: signed calls, the {code, message, data} envelope, tokens, per-API rate limits.

Every attempt is stamped and signed afresh (a retried request with an old timestamp would be refused),
with the body bytes exactly as sent. Errors arrive inside HTTP 200 envelopes: 105002 refreshes the access
token and repeats the call; 36009002 / 36009003 / 36009007 are retried with backoff; a bad signature
(106001) or refused app credentials fail at once and name the environment variable to fix.

Time: TikTok refuses a timestamp outside now-5min..now+30s and token expiries are its unix seconds, so the
client keeps the server's clock (from each answer's Date header) instead of trusting the host's.
"""

from __future__ import annotations

import email.utils
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests

from storepipe.http import AuthError, HttpClient, HttpError, RetryLater, RetryPolicy, WindowLimiter, mask_url
from storepipe.shops import Shop, ShopConfigError
from storepipe.sources.tiktok_shop.signing import sign
from storepipe.sources.tiktok_shop.tokens import TokenFile, TokenKeeper, TokenPair, token_path

OFFICIAL_API_HOST = "open-api.tiktokglobalshop.com"
OFFICIAL_AUTH_URL = "https://auth.tiktok-shops.com"
DEFAULT_QPS = 40  # below the documented default of 50 per app per API [C1]: other tools share the app

EXPIRED_TOKEN = 105002
BAD_SIGN = 106001
TRANSIENT = {36009002: "rate limited (36009002)", 36009003: "internal error (36009003)", 36009007: "timeout (36009007)"}
ROUTE_MISSING = {36009009, 36009010, 36009014}  # invalid path / method / version: endpoint not available


class TikTokApiError(HttpError):
    """TikTok refused a request for good (a parameter, a missing scope, an unknown id)."""


class RouteMissing(TikTokApiError):
    """The gateway does not know the endpoint (36009009/10/14): an optional stage is skipped."""


class TokenExpired(HttpError):
    """105002 for the access token the request carried."""

    def __init__(self, message: str, token: str) -> None:
        super().__init__(message, code=str(EXPIRED_TOKEN))
        self.token = token


class ServerClock:
    """The API server's unix time, learnt from the Date header of its answers (one-second resolution)."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.known = False  # no answer seen yet: the host's clock is all we have

    def now(self) -> float:
        return time.time() + self.offset

    def server_now(self) -> float | None:
        """The server's time once an answer has told it; None before (expiries cannot be judged yet)."""
        return self.now() if self.known else None

    def observe(self, response: requests.Response) -> None:
        header = response.headers.get("Date")
        if not header:
            return
        try:
            server = email.utils.parsedate_to_datetime(header).timestamp()
        except (TypeError, ValueError):
            return
        local = time.time()
        self.known = True
        if abs(server - (local + self.offset)) >= 2:  # Date has one-second resolution: ignore jitter
            self.offset = server - local


# One clock per API host for the whole process: every stage's client starts with it already known.
_clocks: dict[str, ServerClock] = {}
_clocks_lock = threading.Lock()


def server_clock(base_url: str) -> ServerClock:
    with _clocks_lock:
        return _clocks.setdefault(base_url, ServerClock())


# Limits are per app per API [C1]: every shop of one app in this process shares one limiter per path.
_limiters: dict[tuple[str, str, int], WindowLimiter] = {}
_limiters_lock = threading.Lock()


def api_limiter(app_key: str, api: str, qps: int) -> WindowLimiter:
    with _limiters_lock:
        return _limiters.setdefault((app_key, api, qps), WindowLimiter(qps))


@dataclass(frozen=True)
class AuthorizedShop:
    """The TikTok shop behind a token: its id and the cipher shop-scoped calls carry."""

    shop_id: str
    cipher: str
    name: str
    region: str


def auth_base_url(shop: Shop) -> str:
    """Token endpoints live on auth.tiktok-shops.com for the real API; emulators and proxies serve both."""
    override = os.environ.get(shop.credentials_prefix + "_AUTH_URL")
    if override:
        return override.rstrip("/")
    return OFFICIAL_AUTH_URL if urlsplit(shop.base_url).hostname == OFFICIAL_API_HOST else shop.base_url


class TikTokClient:
    """One TikTok shop's API. App credentials come from the environment; tokens from the token file."""

    def __init__(
        self,
        shop: Shop,
        *,
        concurrency: int = 4,
        requests_per_second: int | None = None,
        retry: RetryPolicy | None = None,
        on_wait: Callable[[str, float], None] | None = None,
        on_resume: Callable[[], None] | None = None,
        token_file: TokenFile | None = None,
    ) -> None:
        self.shop = shop
        credentials = shop.credentials()
        self.app_key, self._app_secret = credentials["key"], credentials["secret"]
        self.qps = requests_per_second or DEFAULT_QPS
        self.clock = server_clock(shop.base_url)
        self.http = HttpClient(
            base_url=shop.base_url,
            retry=retry or RetryPolicy(),
            pool_size=max(concurrency, 1) + 1,
            on_wait=on_wait,
            on_resume=on_resume,
            headers={"content-type": "application/json"},  # on GET too [C2]
        )
        self.auth_url = auth_base_url(shop)
        self.tokens = TokenKeeper(
            shop,
            token_file or TokenFile(token_path(shop)),
            self._refresh,
            self.clock.server_now,
            bootstrap_refresh_token=os.environ.get(shop.credentials_prefix + "_REFRESH_TOKEN") or None,
        )
        self._authorized: AuthorizedShop | None = None

    def close(self) -> None:
        self.http.close()

    @property
    def requests_sent(self) -> int:
        return self.http.requests_sent

    # ------------------------------------------------------------------ tokens (unsigned, app secret in query)

    def _token_call(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        base = {"app_key": self.app_key, "app_secret": self._app_secret}
        _, body = self.http.request(
            "GET", self.auth_url + path, params=base | params, classify=self._classify, check_body=self._transient
        )
        code = body.get("code")
        if code != 0:
            raise self._token_error(code, str(body.get("message")), path)
        return body["data"]

    def _token_error(self, code: Any, message: str, path: str) -> AuthError:
        if "app_key or app_secret" in message or "app_secret" in message:
            what = f"TikTok refused the app credentials; check {' and '.join(self.shop.credentials_env.values())}"
        elif path.endswith("/get"):
            what = "the authorization code was refused (codes are single-use and expire after ~30 minutes)"
        else:
            what = (
                f"TikTok refused the refresh token; reconnect the shop: storepipe shops connect {self.shop.key} "
                "--auth-code CODE"
            )
        return AuthError(f"shop {self.shop.key!r}: {what} ({code}: {message})", code=str(code))

    def _refresh(self, refresh_token: str) -> TokenPair:
        params = {"refresh_token": refresh_token, "grant_type": "refresh_token"}
        data = self._token_call("/api/v2/token/refresh", params)
        return TokenPair.from_grant(data)

    def connect(self, auth_code: str) -> TokenPair:
        """Exchange a consent code for the shop's first token pair and store it."""
        data = self._token_call("/api/v2/token/get", {"auth_code": auth_code, "grant_type": "authorized_code"})
        pair = TokenPair.from_grant(data)
        self.tokens.store.save(pair)
        return pair

    # ------------------------------------------------------------------ signed calls

    def authorized_shop(self) -> AuthorizedShop:
        """The shop this token covers (one token may cover several: <PREFIX>_SHOP_ID picks one)."""
        if self._authorized is None:
            shops = self.call("GET", "/authorization/202309/shops", cipher=False).get("shops") or []
            wanted = os.environ.get(self.shop.credentials_prefix + "_SHOP_ID")
            chosen = [s for s in shops if not wanted or str(s.get("id")) == wanted]
            if len(chosen) != 1:
                listed = ", ".join(f"{s.get('id')} ({s.get('name')})" for s in shops) or "none"
                raise ShopConfigError(
                    "credentials",
                    f"shop {self.shop.key!r}: the TikTok authorization covers {len(shops)} shop(s) [{listed}]; "
                    f"set {self.shop.credentials_prefix}_SHOP_ID to the one to import",
                )
            found = chosen[0]
            self._authorized = AuthorizedShop(
                str(found["id"]), str(found["cipher"]), str(found.get("name")), str(found.get("region"))
            )
        return self._authorized

    def call(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        *,
        api: str | None = None,
        cipher: bool = True,
    ) -> dict[str, Any]:
        """The `data` of one signed call. `api` names the rate-limit bucket (the path pattern, not the URL)."""
        if not self.clock.known:
            self._probe_clock()
        base: dict[str, str] = {k: str(v) for k, v in (query or {}).items() if v is not None and v != ""}
        if cipher:
            base["shop_cipher"] = self.authorized_shop().cipher
        raw = orjson.dumps(body) if body is not None else b""
        limiter = api_limiter(self.app_key, api or path, self.qps)
        for _attempt in range(3):
            token = self.tokens.access_token()

            def prepare(token: str = token) -> dict[str, Any]:
                params = base | {"app_key": self.app_key, "timestamp": str(int(self.clock.now()))}
                params["sign"] = sign(self._app_secret, path, params, raw)
                return {"params": params, "data": raw or None, "headers": {"x-tts-access-token": token}}

            def check(answer: Any, token: str = token) -> None:
                self._check_envelope(answer, token, path)

            try:
                _, answer = self.http.request(
                    method, path, prepare=prepare, classify=self._classify, check_body=check, limiter=limiter
                )
            except TokenExpired as expired:
                self.tokens.expired(expired.token)
                continue
            return answer.get("data") or {}
        raise AuthError(f"shop {self.shop.key!r}: the access token kept expiring after refreshes; reconnect the shop")

    def _probe_clock(self) -> None:
        """Learn the server's time from the Date header of an unsigned request before the first signed one:
        a timestamp off by more than five minutes (a skewed host) would be refused (36009004)."""
        try:
            response = self.http.session.get(self.http.base_url + "/", timeout=(self.http.connect_timeout, 10))
        except requests.RequestException:
            return  # the signed call will report the connection problem with its retries
        self.clock.observe(response)

    def _transient(self, answer: Any) -> None:
        code = answer.get("code") if isinstance(answer, dict) else None
        if code in TRANSIENT:
            raise RetryLater(TRANSIENT[code])

    def _check_envelope(self, answer: Any, token: str, path: str) -> None:
        if not isinstance(answer, dict):
            raise RetryLater("an answer that is not a JSON object")
        code = answer.get("code")
        if code == 0:
            return
        message = str(answer.get("message"))
        self._transient(answer)
        if code == EXPIRED_TOKEN:
            raise TokenExpired(f"shop {self.shop.key!r}: access token expired", token)
        if "Invalid timestamp" in message:
            # Our idea of the server's clock was off (first call, or the clock moved): retry re-stamped.
            raise RetryLater("timestamp outside the server's window (36009004)", retry_after=0)
        raise self._error(code, message, path, None)

    def _classify(self, response: requests.Response) -> HttpError | None:
        self.clock.observe(response)  # HttpClient shows every answer here first: the one place that reads Date
        if response.status_code < 400 or response.status_code in (429, 500, 502, 503, 504):
            return None
        try:
            answer = response.json()
            code, message = answer.get("code"), str(answer.get("message"))
        except (ValueError, AttributeError):
            code, message = None, response.text[:200]
        return self._error(code, message, response.request.path_url.split("?")[0], response.status_code)

    def _error(self, code: Any, message: str, path: str, status: int | None) -> HttpError:
        where = f"shop {self.shop.key!r}: TikTok {code} on {mask_url(path)}"
        if code == BAD_SIGN:
            return AuthError(
                f"{where}: the request signature was refused; check the app secret in "
                f"{self.shop.credentials_env.get('secret')}",
                status=status,
                code=str(code),
            )
        if "credentials" in message.lower() or code == 105005:
            return AuthError(
                f"{where}: {message} Reconnect the shop: storepipe shops connect {self.shop.key} --auth-code CODE",
                status=status,
                code=str(code),
            )
        if code in ROUTE_MISSING:
            return RouteMissing(f"{where}: {message}", status=status, code=str(code))
        return TikTokApiError(f"{where}: {message}", status=status, code=str(code))
