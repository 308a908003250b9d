"""The ASGI application: wc/v3 routes, authentication, WordPress error shapes, faults and the control API."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from storepipe.emulators.woocommerce.config import EmulatorConfig
from storepipe.emulators.woocommerce.control import ControlApi
from storepipe.emulators.woocommerce.faults import HTML_ERRORS, Fault
from storepipe.emulators.woocommerce.oauth import OAuthError, verify_oauth
from storepipe.emulators.woocommerce.params import (
    InvalidParams,
    ListQuery,
    PhpValue,
    link_query,
    parse_item_fields,
    parse_list_query,
    php_query,
)
from storepipe.emulators.woocommerce.skeleton import SUB_STATUSES
from storepipe.emulators.woocommerce.store import NotFound, Page, WooStore, wp_json
from storepipe.emulators.woocommerce.transport import reset_current_connection

JSON_TYPE = "application/json; charset=UTF-8"
# Headers WordPress adds to every REST response.
_REST_HEADERS = {
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
    "Access-Control-Expose-Headers": "X-WP-Total, X-WP-TotalPages, Link",
    "Access-Control-Allow-Headers": (
        "Authorization, X-WP-Nonce, Content-Disposition, Content-MD5, Content-Type"
    ),
}
_BASIC_REALM = (
    'Basic realm="WooCommerce API. Use a consumer key in the username field and a consumer secret in the '
    'password field."'
)
_HPOS_STORE = "Automattic\\WooCommerce\\Internal\\DataStores\\Orders\\OrdersTableDataStore"
_SUB_STATUS_LABELS = {
    "pending": "Pending payment",
    "active": "Active",
    "on-hold": "On hold",
    "cancelled": "Cancelled",
    "switched": "Switched",
    "expired": "Expired",
    "pending-cancel": "Pending cancellation",
}
# Which 404 each single-object route answers with (WooCommerce's "woocommerce_rest_{post_type}_invalid_id").
_INVALID_ID = {
    "orders": ("woocommerce_rest_shop_order_invalid_id", "Invalid ID."),
    "subscriptions": ("woocommerce_rest_invalid_shop_subscription_id", "Invalid ID."),
    "products": ("woocommerce_rest_product_invalid_id", "Invalid ID."),
    "variations": ("woocommerce_rest_product_variation_invalid_id", "Invalid ID."),
    "coupons": ("woocommerce_rest_shop_coupon_invalid_id", "Invalid ID."),
    "customers": ("woocommerce_rest_invalid_id", "Invalid resource ID."),
    "order_refunds": ("woocommerce_rest_invalid_order_refund_id", "Invalid order refund ID."),
}


@dataclass
class Call:
    """One API request after routing."""

    request: Request
    method: str
    route: str  # path below /wp-json, e.g. "/wc/v3/orders/12"
    params: dict[str, PhpValue]
    match: dict[str, str]
    authed: bool


Handler = Callable[[Call], Response]


@dataclass(frozen=True)
class Route:
    pattern: str
    regex: re.Pattern[str]
    handler: Handler
    needs_auth: bool
    resource: str | None  # single-object routes: which store resource the id belongs to


def error_response(
    code: str,
    message: str,
    status: int,
    data: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """WordPress REST error envelope: {"code", "message", "data": {"status", …}}."""
    body = {"code": code, "message": message, "data": {"status": status, **(data or {})}}
    return Response(wp_json(body), status, headers={**_REST_HEADERS, **(headers or {})}, media_type=JSON_TYPE)


def no_route() -> Response:
    return error_response("rest_no_route", "No route was found matching the URL and request method.", 404)


def invalid_params(exc: InvalidParams) -> Response:
    """rest_invalid_param as WP_REST_Request::has_valid_params builds it (WordPress 5.6+ adds `details`)."""
    params = {name: message for name, (_, message) in exc.errors.items()}
    details = {
        name: {"code": code, "message": message, "data": None} for name, (code, message) in exc.errors.items()
    }
    return error_response(
        "rest_invalid_param",
        f"Invalid parameter(s): {', '.join(exc.errors)}",
        400,
        {"params": params, "details": details},
    )


def json_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status, headers={**_REST_HEADERS, **(headers or {})}, media_type=JSON_TYPE)


class WooApp:
    """ASGI callable. Routing is a small regex table so every miss can answer WordPress's rest_no_route."""

    def __init__(self, store: WooStore) -> None:
        self.store = store
        self.config: EmulatorConfig = store.config
        self._nonces: dict[str, float] = {}
        # (path pattern, handler, needs authentication, resource of a single-object route)
        table: list[tuple[str, Handler, bool, str | None]] = [
            (r"/wc/v3/?", self.namespace_index, False, None),
            (r"/wc/v3/orders", self.collection("orders"), True, None),
            (r"/wc/v3/orders/(?P<id>\d+)", self.item("orders"), True, "orders"),
            (r"/wc/v3/orders/(?P<parent>\d+)/refunds", self.order_refunds, True, None),
            (
                r"/wc/v3/orders/(?P<parent>\d+)/refunds/(?P<id>\d+)",
                self.item("order_refunds"),
                True,
                "order_refunds",
            ),
            (r"/wc/v3/customers", self.collection("customers"), True, None),
            (r"/wc/v3/customers/(?P<id>\d+)", self.item("customers"), True, "customers"),
            (r"/wc/v3/products", self.collection("products"), True, None),
            (r"/wc/v3/products/(?P<id>\d+)", self.item("products"), True, "products"),
            (r"/wc/v3/products/(?P<parent>\d+)/variations", self.collection("variations"), True, None),
            (
                r"/wc/v3/products/(?P<parent>\d+)/variations/(?P<id>\d+)",
                self.item("variations"),
                True,
                "variations",
            ),
            (r"/wc/v3/coupons", self.collection("coupons"), True, None),
            (r"/wc/v3/coupons/(?P<id>\d+)", self.item("coupons"), True, "coupons"),
            (r"/wc/v3/system_status", self.system_status, True, None),
        ]
        if self.config.at_least("9.0.0"):  # Store-wide refunds arrived with WooCommerce 9.0.
            table.append((r"/wc/v3/refunds", self.collection("refunds"), True, None))
        if self.config.at_least("10.3.0"):  # All variations in one collection (POS sync) since 10.3.
            table.append((r"/wc/v3/variations", self.collection("variations"), True, None))
        if self.config.subscriptions:
            table += [
                (r"/wc/v3/subscriptions", self.collection("subscriptions"), True, None),
                (r"/wc/v3/subscriptions/statuses", self.subscription_statuses, False, None),
                (r"/wc/v3/subscriptions/(?P<id>\d+)", self.item("subscriptions"), True, "subscriptions"),
                (r"/wc/v3/subscriptions/(?P<id>\d+)/orders", self.subscription_orders, True, "subscriptions"),
            ]
        # WordPress matches routes case-insensitively and tolerates a trailing slash.
        self.routes = [
            Route(pattern, re.compile(f"^{pattern}/?$", re.IGNORECASE), handler, auth, resource)
            for pattern, handler, auth, resource in table
        ]
        self.control = ControlApi(store)

    # ------------------------------------------------------------------ ASGI entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self.respond(request)
        if response is not None:
            # The Date header follows the emulator clock (uvicorn's wall-clock Date header is switched off),
            # so clients that read "server now" from it stay consistent with the generated data.
            response.headers["Date"] = formatdate(self.store.now, usegmt=True)
            response.headers["Server"] = "nginx"
            await response(scope, receive, _with_wordpress_header_case(send))

    async def respond(self, request: Request) -> Response | None:
        path = request.url.path
        if path.startswith("/_emulator"):
            return await self.control.handle(request)
        if path in ("", "/"):
            return self.front_page()
        if path.rstrip("/") == "/wp-json":
            return json_response(wp_json(self.rest_index()))
        if not path.startswith("/wp-json/"):
            return Response(
                "<!DOCTYPE html><html><body><h1>Page not found</h1></body></html>",
                404,
                media_type="text/html; charset=UTF-8",
            )
        route = path[len("/wp-json") :]
        method = request.method.upper()
        delay, outcome = self.store.decide_faults(method, route)
        delay += self.config.latency_ms / 1000
        if delay:
            await asyncio.sleep(delay)
        if outcome is not None and outcome.kind != "truncate":
            return await self.fault_response(outcome)
        response = self.api_response(request, method, route)
        if outcome is not None and response.status_code == 200:
            response = _truncated(response, outcome.fraction, framed=outcome.framed)
        return response

    def api_response(self, request: Request, method: str, route: str) -> Response:
        params = php_query(request.url.query)
        authed, auth_error = self.authenticate(request, method, params)
        if auth_error is not None:
            return auth_error  # WordPress rejects failed authentication before routing.
        if method not in ("GET", "HEAD"):
            return no_route()  # The emulator is read-only over REST; writes go through /_emulator.
        for entry in self.routes:
            found = entry.regex.match(route)
            if found is None:
                continue
            call = Call(request, method, route.rstrip("/"), params, found.groupdict(), authed)
            if entry.needs_auth and not authed and self._visible(call, entry.resource):
                return self.forbidden(call)
            return entry.handler(call)
        return no_route()

    # ------------------------------------------------------------------ authentication

    def authenticate(
        self, request: Request, method: str, params: dict[str, PhpValue]
    ) -> tuple[bool, Response | None]:
        """WC_REST_Authentication: the emulator answers as a store behind TLS (is_ssl() is true), so HTTP
        Basic and consumer_key/consumer_secret query parameters are accepted even over plain http. When
        they do not identify a key, OAuth 1.0a (one-legged) is tried, as WooCommerce does."""
        cfg = self.config
        key, secret = params.get("consumer_key"), params.get("consumer_secret")
        if not (isinstance(key, str) and key and isinstance(secret, str) and secret):
            key, secret = _basic_credentials(request.headers.get("authorization", ""))
        # An unknown key via Basic sets no error: the request goes on anonymously (then 401 cannot_view).
        if key is not None and hmac.compare_digest(key, cfg.consumer_key):
            if hmac.compare_digest(secret or "", cfg.consumer_secret):
                return True, None
            return False, error_response(
                "woocommerce_rest_authentication_error",
                "Consumer secret is invalid.",
                401,
                headers={"WWW-Authenticate": _BASIC_REALM},
            )
        try:
            ok = verify_oauth(
                method=method,
                url=f"{request.url.scheme}://{request.url.netloc}{request.url.path}",
                params=params,
                authorization=request.headers.get("authorization", ""),
                consumer_key=cfg.consumer_key,
                consumer_secret=cfg.consumer_secret,
                nonces=self._nonces,
                now=time.time() if cfg.oauth_check_timestamp else None,
            )
        except OAuthError as exc:
            return False, error_response(exc.code, exc.message, 401)
        return ok, None

    def _visible(self, call: Call, resource: str | None) -> bool:
        """WooCommerce checks read permission only for objects that exist (a missing id stays a 404)."""
        if resource is None or "id" not in call.match:
            return True
        parent = int(call.match["parent"]) if "parent" in call.match else None
        return self.store.exists(resource, int(call.match["id"]), parent)

    @staticmethod
    def forbidden(call: Call) -> Response:
        """Anonymous requests: rest_authorization_required_code() is 401 for visitors not logged in."""
        if "id" in call.match:
            return error_response(
                "woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.", 401
            )
        return error_response("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.", 401)

    # ------------------------------------------------------------------ faults

    async def fault_response(self, fault: Fault) -> Response | None:
        if fault.kind == "reset":
            if reset_current_connection():
                await asyncio.sleep(0)  # let connection_lost run so uvicorn does not try to answer
                return None
            # Next best outside our uvicorn protocol: promise a body and close early (IncompleteRead).
            return _broken_body()
        if fault.kind == "rate_limit":
            html = HTML_ERRORS[429]
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return Response(html, 429, headers=headers, media_type="text/html")
        html = HTML_ERRORS[fault.status]
        return Response(html, fault.status, media_type="text/html")

    # ------------------------------------------------------------------ handlers

    def collection(self, resource: str) -> Handler:
        def handler(call: Call) -> Response:
            try:
                query = parse_list_query(resource, call.params, self.config, self.store.tz)
            except InvalidParams as exc:
                return invalid_params(exc)
            parent = int(call.match["parent"]) if "parent" in call.match else None
            page = self.store.list_collection(resource, query, call.route, parent)
            return self.page_response(call, query, page)

        return handler

    def order_refunds(self, call: Call) -> Response:
        parent = int(call.match["parent"])
        if not self.store.order_exists(parent):
            return error_response("woocommerce_rest_invalid_order_id", "Invalid order ID.", 404)  # [UNV] list
        try:
            query = parse_list_query("refunds", call.params, self.config, self.store.tz)
        except InvalidParams as exc:
            return invalid_params(exc)
        return self.page_response(
            call, query, self.store.list_collection("order_refunds", query, call.route, parent)
        )

    def page_response(self, call: Call, query: ListQuery, page: Page) -> Response:
        """Body plus X-WP-Total / X-WP-TotalPages and Link prev/next (WC_REST_CRUD_Controller::get_items)."""
        headers = {"X-WP-Total": str(page.total), "X-WP-TotalPages": str(page.total_pages)}
        base = f"{self.store.home_url}/wp-json{call.route}"
        links = []
        if query.page > 1:
            links.append(
                f'<{base}?{link_query(call.params, min(query.page - 1, page.total_pages))}>; rel="prev"'
            )
        if page.total_pages > query.page:
            links.append(f'<{base}?{link_query(call.params, query.page + 1)}>; rel="next"')
        response = json_response(page.body, headers=headers)
        for link in links:  # PHP header('Link: …', false) sends one header line per relation.
            response.raw_headers.append((b"link", link.encode()))
        return response

    def item(self, resource: str) -> Handler:
        def handler(call: Call) -> Response:
            parent = int(call.match["parent"]) if "parent" in call.match else None
            if resource == "order_refunds" and not self.store.order_exists(parent or 0):
                return error_response("woocommerce_rest_invalid_order_id", "Invalid order ID.", 404)
            try:
                body = self.store.get_item(
                    resource, int(call.match["id"]), call.route, parse_item_fields(call.params), parent
                )
            except NotFound:
                code, message = _INVALID_ID[resource]
                return error_response(code, message, 404)
            return json_response(body)

        return handler

    def subscription_orders(self, call: Call) -> Response:
        try:
            items = self.store.subscription_orders(int(call.match["id"]))
        except NotFound:
            return error_response(*_INVALID_ID["subscriptions"], 404)
        body = b"[" + b",".join(items) + b"]"
        return json_response(body, headers={"X-WP-Total": str(len(items)), "X-WP-TotalPages": "1"})

    def subscription_statuses(self, call: Call) -> Response:
        return json_response(
            wp_json({f"wc-{s}": _SUB_STATUS_LABELS[s] for s in SUB_STATUSES if s != "trash"})
        )

    def namespace_index(self, call: Call) -> Response:
        routes = {entry.pattern: {"namespace": "wc/v3", "methods": ["GET"]} for entry in self.routes}
        return json_response(wp_json({"namespace": "wc/v3", "routes": routes}))

    def system_status(self, call: Call) -> Response:
        return json_response(wp_json(self.system_status_body()))

    def system_status_body(self) -> dict[str, Any]:
        cfg, store = self.config, self.store
        info = cfg.currency_info
        home = store.home_url
        version = ".".join(str(p) for p in cfg.version_tuple)
        plugins = [_plugin("woocommerce/woocommerce.php", "WooCommerce", version, "Automattic")]
        if cfg.subscriptions:
            plugins.append(
                _plugin(
                    "woocommerce-subscriptions/woocommerce-subscriptions.php",
                    "WooCommerce Subscriptions",
                    "7.0.0",
                    "WooCommerce",
                )
            )
        hpos = cfg.at_least("8.2.0")
        counts = store.state()["order_statuses"]
        return {
            "environment": {
                "home_url": home,
                "site_url": home,
                "store_id": f"storepipe-{cfg.seed}",
                "version": version,
                "log_directory": "/var/www/html/wp-content/uploads/wc-logs/",
                "log_directory_writable": True,
                "wp_version": cfg.wp_version,
                "wp_multisite": False,
                "wp_memory_limit": 268435456,
                "wp_debug_mode": False,
                "wp_cron": True,
                "language": "en_US",
                "external_object_cache": None,
                "server_info": "nginx/1.26.2",
                "php_version": "8.2.24",
                "php_post_max_size": 67108864,
                "php_max_execution_time": 30,
                "php_max_input_vars": 1000,
                "curl_version": "8.9.1, OpenSSL/3.0.13",
                "suhosin_installed": False,
                "max_upload_size": 67108864,
                "mysql_version": "8.0.39",
                "mysql_version_string": "8.0.39",
                "default_timezone": "UTC",
                "fsockopen_or_curl_enabled": True,
                "soapclient_enabled": True,
                "domdocument_enabled": True,
                "gzip_enabled": True,
                "mbstring_enabled": True,
                "remote_post_successful": True,
                "remote_post_response": 200,
                "remote_get_successful": True,
                "remote_get_response": 200,
            },
            "database": {"wc_database_version": version, "database_prefix": "wp_"},
            "active_plugins": plugins,
            "inactive_plugins": [],
            "dropins_mu_plugins": {"dropins": [], "mu_plugins": []},
            "theme": {
                "name": "Storefront",
                "version": "4.6.0",
                "is_child_theme": False,
                "has_woocommerce_support": True,
            },
            "settings": {
                "api_enabled": True,
                "force_ssl": False,
                "currency": cfg.currency,
                "currency_symbol": info.symbol,
                "currency_position": "right_space" if cfg.currency == "EUR" else "left",
                "thousand_separator": "." if cfg.currency == "EUR" else ",",
                "decimal_separator": "," if cfg.currency == "EUR" else ".",
                "number_of_decimals": cfg.dp,
                "geolocation_enabled": False,
                "woocommerce_com_connected": "no",
                "enforce_approved_download_dirs": True,
                "order_datastore": _HPOS_STORE if hpos else "WC_Order_Data_Store_CPT",
                "HPOS_enabled": hpos,
                "HPOS_sync_enabled": False,
                # Emulator convenience, NOT part of real WooCommerce: real stores expose the site
                # timezone only via wp/v2/settings (or the public /wp-json/ index's timezone_string);
                # clients can also infer the offset from date_created vs date_created_gmt.
                "timezone": cfg.timezone,
            },
            "security": {"secure_connection": True, "hide_errors": True},
            "pages": [],
            "post_type_counts": [
                {"type": "shop_order", "count": str(sum(counts.values()))},
                {"type": "product", "count": str(store.state()["products"])},
            ],
        }

    # ------------------------------------------------------------------ public pages

    def front_page(self) -> Response:
        home = self.store.home_url
        html = (
            f'<!DOCTYPE html><html lang="en-US"><head><meta charset="UTF-8"><title>{self.config.store_name}'
            f"</title></head><body><h1>{self.config.store_name}</h1><p>WooCommerce emulator (storepipe)</p>"
            "</body></html>"
        )
        return Response(
            html,
            200,
            headers={"Link": f'<{home}/wp-json/>; rel="https://api.w.org/"'},
            media_type="text/html; charset=UTF-8",
        )

    def rest_index(self) -> dict[str, Any]:
        """The public /wp-json/ index (WordPress lists timezone_string and gmt_offset here)."""
        store = self.store
        home = store.home_url
        return {
            "name": self.config.store_name,
            "description": "Coffee, roasted weekly",
            "url": home,
            "home": home,
            "gmt_offset": store.tz.hours_offset(store.now),
            "timezone_string": self.config.timezone,
            "namespaces": ["oembed/1.0", "wc/store/v1", "wc/v1", "wc/v2", "wc/v3", "wp/v2"]
            + (["wc/v1/subscriptions"] if self.config.subscriptions else []),
            "authentication": [],
            "routes": {"/wc/v3": {"namespace": "wc/v3", "methods": ["GET"]}},
            "site_logo": 0,
            "site_icon": 0,
            "site_icon_url": "",
            "_links": {"help": [{"href": "https://developer.wordpress.org/rest-api/"}]},
        }


def _plugin(path: str, name: str, version: str, author: str) -> dict[str, Any]:
    return {
        "plugin": path,
        "name": name,
        "version": version,
        "version_latest": version,
        "url": "https://woocommerce.com/",
        "author_name": author,
        "author_url": "https://woocommerce.com",
        "network_activated": False,
    }


def _basic_credentials(header: str) -> tuple[str | None, str | None]:
    if not header.lower().startswith("basic "):
        return None, None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, _, password = decoded.partition(":")
    return (user or None), password


def _truncated(response: Response, fraction: float, *, framed: bool = False) -> Response:
    """HTTP 200 whose JSON body stops early, with a Content-Length that matches what is sent; `framed` ends it
    just after an inner ']' (when there is one before the cut)."""
    body = bytes(response.body)
    cut = body[: max(1, int(len(body) * fraction))]
    inner = cut.rfind(b"]", 1)
    if framed and inner > 0:
        cut = cut[: inner + 1]
    out = Response(cut, 200, media_type=JSON_TYPE)
    for name, value in response.raw_headers:
        if name not in (b"content-length", b"content-type"):
            out.raw_headers.append((name, value))
    return out


class _BrokenBody(Response):
    """Announces more bytes than it sends, then ends the exchange (fallback when no TCP reset is possible)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"100000")],
            }
        )
        await send({"type": "http.response.body", "body": b'[{"id":', "more_body": False})


def _broken_body() -> Response:
    return _BrokenBody()


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


# Starlette lowercases header names; WordPress sends them capitalised (X-WP-Total, Link, Content-Type).
# HTTP says names are case-insensitive, but clients that put headers in a plain dict read them as sent.
_HEADER_CASE = {
    name.lower(): name
    for name in (
        "X-WP-Total", "X-WP-TotalPages", "Link", "Content-Type", "Content-Length", "Retry-After", "Date", "Server",
        "Allow", "WWW-Authenticate", "X-Robots-Tag", "X-Content-Type-Options", "Access-Control-Expose-Headers",
        "Access-Control-Allow-Headers", "Connection",
    )
}  # fmt: skip


def _with_wordpress_header_case(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {
                **message,
                "headers": [
                    (_HEADER_CASE.get(k.decode("latin-1"), k.decode("latin-1")).encode("latin-1"), v)
                    for k, v in message.get("headers", [])
                ],
            }
        await send(message)

    return wrapped


def create_app(source: WooStore | EmulatorConfig) -> WooApp:
    """The ASGI app for a store (or a config, which builds the store now)."""
    store = source if isinstance(source, WooStore) else WooStore(source)
    return WooApp(store)
