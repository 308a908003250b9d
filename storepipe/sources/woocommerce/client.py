"""WooCommerce REST (wc/v3) client: Basic auth, WooCommerce's error envelope, paged listing, store version."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import orjson
import requests

from storepipe.http import AuthError, HttpClient, HttpError, RateLimiter, RetryPolicy, mask_url
from storepipe.shops import Shop

API_PREFIX = "/wp-json/wc/v3"


class RouteMissing(HttpError):
    """404 rest_no_route: the store lacks this endpoint (old version, plugin not active)."""


class WooRequestError(HttpError):
    """A request WooCommerce refused for good (400 invalid parameter, 404 unknown id)."""


def version_tuple(version: str) -> tuple[int, ...]:
    """'9.4.1' -> (9, 4, 1); pre-release suffixes ('9.5.0-beta.1') are ignored."""
    return tuple(int(p) for p in re.findall(r"\d+", version.split("-")[0])[:3]) or (0,)


@dataclass(frozen=True)
class StoreInfo:
    """What /system_status tells about the store, and the API features its version implies."""

    version: tuple[int, ...]
    currency: str | None
    home_url: str | None
    # The store's clock (HTTP Date header). Sync windows are computed in it, so a client whose clock is
    # off does not skip or re-read changes; None when the server sends no Date header.
    server_time: datetime | None = None

    @property
    def has_modified_filter(self) -> bool:
        return self.version >= (5, 8)  # modified_after/_before on orders, products, coupons (WC 5.8.0)

    @property
    def has_refunds_endpoint(self) -> bool:
        return self.version >= (9, 0)  # store-wide GET /refunds (WC 9.0)


@dataclass(frozen=True)
class Page:
    """One page of a listing. `body` is the JSON array as delivered: the import hands it to PostgreSQL as text
    (sources/woocommerce/raw.py); `records` parses it only where Python needs to look inside."""

    body: str
    total: int | None
    total_pages: int | None

    @cached_property
    def records(self) -> list[Any]:
        return orjson.loads(self.body)


def json_array_text(content: bytes) -> str | Any:
    """A listing's body as text if it is framed as a JSON array, without parsing it; any other JSON parsed.

    A body cut short loses its closing bracket and is retried like any invalid JSON (ValueError); one cut right
    after an inner ']' is refused by PostgreSQL and the page is fetched again (sync.py)."""
    text = content.decode()  # UnicodeDecodeError is a ValueError: retried
    framed = text.strip()
    if framed[:1] == "[" and framed[-1:] == "]":
        return text
    return orjson.loads(content)


class WooClient:
    """One shop's wc/v3 API. Credentials are read from the environment when the client is made."""

    def __init__(
        self,
        shop: Shop,
        *,
        concurrency: int = 4,
        requests_per_second: float | None = None,
        retry: RetryPolicy | None = None,
        read_timeout: float = 60.0,
        on_wait: Callable[[str, float], None] | None = None,
        on_resume: Callable[[], None] | None = None,
    ) -> None:
        self.shop = shop
        credentials = shop.credentials()
        self.http = HttpClient(
            base_url=shop.base_url + API_PREFIX,
            auth=(credentials["key"], credentials["secret"]),
            read_timeout=read_timeout,
            retry=retry or RetryPolicy(),
            limiter=RateLimiter(requests_per_second, burst=concurrency) if requests_per_second else None,
            pool_size=max(concurrency, 1),
            on_wait=on_wait,
            on_resume=on_resume,
        )

    def close(self) -> None:
        self.http.close()

    @property
    def requests_sent(self) -> int:
        return self.http.requests_sent

    def _classify(self, response: requests.Response) -> HttpError | None:
        if response.status_code not in (400, 401, 403, 404):
            return None
        try:
            body = response.json()
            code, message = body.get("code"), body.get("message")
        except (ValueError, AttributeError):
            code, message = None, response.text[:200]
        url = mask_url(response.url)
        if response.status_code in (401, 403):
            names = " and ".join(self.shop.credentials_env.values())
            return AuthError(
                f"shop {self.shop.key!r}: WooCommerce refused the API credentials "
                f"(HTTP {response.status_code} {code}: {message}); check {names}",
                status=response.status_code,
                code=code,
                url=url,
            )
        if response.status_code == 404 and code == "rest_no_route":
            return RouteMissing(f"shop {self.shop.key!r}: no route {url}", status=404, code=code, url=url)
        return WooRequestError(
            f"shop {self.shop.key!r}: HTTP {response.status_code} {code}: {message} ({url})",
            status=response.status_code,
            code=code,
            url=url,
        )

    def store_info(self) -> StoreInfo:
        response, status = self.http.get("/system_status", classify=self._classify)
        try:
            server_time = email.utils.parsedate_to_datetime(response.headers["Date"]).astimezone(UTC)
        except (KeyError, TypeError, ValueError):
            server_time = None
        environment = status.get("environment") or {}
        settings = status.get("settings") or {}
        return StoreInfo(
            version=version_tuple(str(environment.get("version") or "0")),
            currency=settings.get("currency"),
            home_url=environment.get("home_url"),
            server_time=server_time,
        )

    def page(self, path: str, params: Mapping[str, Any], page: int, per_page: int) -> Page:
        response, body = self.http.get(
            path, {**params, "page": page, "per_page": per_page}, classify=self._classify, decode=json_array_text
        )
        if not isinstance(body, str):
            raise WooRequestError(
                f"shop {self.shop.key!r}: expected a JSON list from {mask_url(response.url)}, got {type(body).__name__}"
            )
        total = response.headers.get("X-WP-Total")
        pages = response.headers.get("X-WP-TotalPages")
        return Page(
            body=body,
            total=int(total) if total and total.isdigit() else None,
            total_pages=int(pages) if pages and pages.isdigit() else None,
        )
