"""The ASGI app: TikTok Shop gateway checks (app key, timestamp, signature, token, cipher, QPS) and endpoints."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from storepipe.emulators.tiktok_shop import errors
from storepipe.emulators.tiktok_shop.config import EmulatorConfig
from storepipe.emulators.tiktok_shop.control import ControlApi
from storepipe.emulators.tiktok_shop.errors import ApiError, bad_request
from storepipe.emulators.tiktok_shop.faults import Fault
from storepipe.emulators.tiktok_shop.store import TikTokStore
from storepipe.sources.tiktok_shop.signing import sign

# Signed calls must be stamped within now-5min..now+30s of the (emulator) clock [C1].
TIMESTAMP_PAST_S = 300
TIMESTAMP_FUTURE_S = 30


@dataclass
class Call:
    """One authenticated API call as the handlers see it."""

    request: Request
    query: dict[str, str]
    body: dict[str, Any]
    match: dict[str, str]


Handler = Callable[[Call], dict[str, Any]]


@dataclass
class Route:
    method: str
    pattern: str  # also the rate-limit bucket: limits are per app per API, not per URL
    handler: Handler
    needs_cipher: bool


def envelope(store: TikTokStore, code: int, message: str, data: Any = None, status: int = 200) -> Response:
    body: dict[str, Any] = {"code": code, "message": message, "request_id": store.request_id()}
    if data is not None:
        body["data"] = data
    # [INF] the real gateway also echoes the request id in X-Tt-Logid.
    headers = {"X-Tt-Logid": body["request_id"]}
    return Response(json.dumps(body, separators=(",", ":")), status, headers=headers, media_type="application/json")


def error(store: TikTokStore, exc: ApiError) -> Response:
    return envelope(store, exc.code, exc.message, status=exc.http_status)


class TikTokApp:
    """ASGI callable. Routing is a small regex table so unknown paths get the gateway's 36009009."""

    def __init__(self, store: TikTokStore) -> None:
        self.store = store
        self.config: EmulatorConfig = store.config
        table = [
            Route("GET", r"/authorization/202309/shops", lambda c: store.shops(), False),
            Route("GET", r"/logistics/202309/warehouses", lambda c: store.warehouses_answer(), True),
            Route("POST", r"/product/(?:202309|202312|202502)/products/search", self.product_search, True),
            Route("GET", r"/product/202309/products/(?P<id>\d+)", lambda c: store.get_product(c.match["id"]), True),
            Route("POST", r"/product/202309/inventory/search", lambda c: store.search_inventory(c.body), True),
            Route("POST", r"/order/202309/orders/search", self.order_search, True),
            Route("GET", r"/order/202309/orders", self.order_detail, True),
            Route("GET", r"/finance/202309/statements", lambda c: store.ledger.statements(c.query), True),
            Route(
                "GET",
                r"/finance/202309/statements/(?P<id>\d+)/statement_transactions",
                lambda c: store.ledger.statement_transactions(c.match["id"], c.query),
                True,
            ),
            Route("GET", r"/finance/202507/orders/unsettled", lambda c: store.ledger.unsettled(c.query), True),
            Route("GET", r"/fbt/202408/warehouses", lambda c: store.fbt.warehouses_answer(), True),
            Route("POST", r"/fbt/202408/inventory/search", lambda c: store.fbt.search_inventory(c.query, c.body), True),
            Route(
                "POST",
                r"/fbt/202410/inventory_records/search",
                lambda c: store.fbt.search_records(c.query, c.body),
                True,
            ),
            Route("GET", r"/fbt/202409/inbound_orders", lambda c: store.fbt.inbound_orders(c.query), True),
            Route("POST", r"/fbt/202409/goods/search", lambda c: store.fbt.search_goods(c.query, c.body), True),
            Route(
                "GET", r"/analytics/202405/shop/performance", lambda c: store.analytics.shop_performance(c.query), True
            ),
            Route(
                "GET",
                r"/analytics/202405/shop_products/performance",
                lambda c: store.analytics.product_performance(c.query),
                True,
            ),
            Route(
                "POST",
                r"/return_refund/202309/returns/search",
                lambda c: store.returns.search_returns(c.query, c.body),
                True,
            ),
            Route(
                "POST",
                r"/return_refund/202309/cancellations/search",
                lambda c: store.returns.search_cancellations(c.query, c.body),
                True,
            ),
        ]
        self.routes = [(re.compile(f"^{route.pattern}/?$"), route) for route in table]
        self.control = ControlApi(store)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self.respond(request)
        # The Date header follows the emulator clock, so clients can stamp `timestamp` from it.
        response.headers["Date"] = formatdate(self.store.now, usegmt=True)
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        path = request.url.path
        if path.startswith("/_emulator"):
            return await self.control.handle(request)
        method = request.method.upper()
        decision = self.store.decide_faults(method, path)
        delay = decision.delay_s + self.config.latency_ms / 1000
        if delay:
            await asyncio.sleep(delay)
        if decision.outcome is not None:
            return self.fault_response(decision.outcome)
        try:
            if path.rstrip("/") == "/api/v2/token/get":
                return self.token_get(request)
            if path.rstrip("/") == "/api/v2/token/refresh":
                return self.token_refresh(request)
            return await self.api(request, method, path)
        except ApiError as exc:
            return error(self.store, exc)

    def fault_response(self, fault: Fault) -> Response:
        if fault.kind == "rate_limit":
            return error(self.store, errors.TOO_MANY_REQUESTS)
        return envelope(self.store, errors.INTERNAL_ERROR.code, errors.INTERNAL_ERROR.message, status=fault.status)

    # ------------------------------------------------------------------ tokens (unsigned, app_secret in query)

    def token_get(self, request: Request) -> Response:
        q = request.query_params
        if q.get("grant_type") != "authorized_code":
            raise bad_request("grant_type must be authorized_code.")
        data = self.store.exchange_code(q.get("app_key"), q.get("app_secret"), q.get("auth_code"))
        return envelope(self.store, 0, "success", data)

    def token_refresh(self, request: Request) -> Response:
        q = request.query_params
        if q.get("grant_type") != "refresh_token":
            raise bad_request("grant_type must be refresh_token.")
        data = self.store.refresh(q.get("app_key"), q.get("app_secret"), q.get("refresh_token"))
        return envelope(self.store, 0, "success", data)

    # ------------------------------------------------------------------ signed API

    def _route(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        known_path = False
        for regex, route in self.routes:
            found = regex.match(path)
            if found is None:
                continue
            known_path = True
            if route.method == method:
                return route, found.groupdict()
        raise errors.INVALID_METHOD if known_path else errors.INVALID_PATH

    async def api(self, request: Request, method: str, path: str) -> Response:
        route, match = self._route(method, path)
        query_lists: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            query_lists.setdefault(key, []).append(value)
        query = {key: ",".join(values) for key, values in query_lists.items()}
        app_key = query.get("app_key", "")
        if not self.store.allow_call(app_key, route.pattern):
            raise errors.TOO_MANY_REQUESTS  # per app per API path [C1]
        raw = await request.body()
        self.verify(request, path, query, raw, route)
        body: dict[str, Any] = {}
        if method == "POST":
            if not request.headers.get("content-type", "").lower().startswith("application/json"):
                raise errors.WRONG_CONTENT_TYPE
            if raw.strip():
                try:
                    parsed = json.loads(raw)
                except ValueError as exc:
                    raise bad_request("the body is not valid JSON.") from exc
                if not isinstance(parsed, dict):
                    raise bad_request("the body must be a JSON object.")
                body = parsed
        try:
            data = route.handler(Call(request, query, body, match))
        except ValueError as exc:  # e.g. a tampered page token that decodes to non-numbers
            raise bad_request(str(exc)) from exc
        return envelope(self.store, 0, "Success", data)

    def verify(self, request: Request, path: str, query: dict[str, str], raw: bytes, route: Route) -> None:
        cfg = self.config
        if query.get("app_key") != cfg.app_key:
            raise ApiError(36009004, "Invalid app_key.")
        if cfg.check_timestamp:
            try:
                stamp = int(query.get("timestamp", ""))
            except ValueError:
                stamp = None
            now = self.store.now
            if stamp is None or not now - TIMESTAMP_PAST_S <= stamp <= now + TIMESTAMP_FUTURE_S:
                raise ApiError(36009004, "Invalid timestamp. The timestamp must be within 5 minutes of now.")
        given = query.get("sign", "")
        # Multipart bodies are not signed; every JSON body is, byte for byte as sent [C2].
        multipart = request.headers.get("content-type", "").lower().startswith("multipart/")
        expected = sign(cfg.app_secret, path, query, None if multipart else raw)
        # Exact comparison: an upper-case hex signature is rejected like a wrong one [C2].
        if not given or given != expected:
            raise errors.INVALID_SIGN
        self.store.check_access_token(request.headers.get("x-tts-access-token"))
        cipher = query.get("shop_cipher")
        if route.needs_cipher:
            if not cipher:
                raise errors.MISSING_CIPHER
            if cipher != cfg.shop_cipher:
                raise ApiError(36009004, "Invalid shop_cipher. The shop_cipher is invalid.")  # [INF]
        elif cipher:
            raise ApiError(36009004, f"Unexpected identifier. The shop_cipher {cipher} is not required.")

    # ------------------------------------------------------------------ handlers needing the request

    def order_search(self, call: Call) -> dict[str, Any]:
        return self.store.search_orders(call.query, call.body)

    def product_search(self, call: Call) -> dict[str, Any]:
        return self.store.search_products(call.query, call.body)

    def order_detail(self, call: Call) -> dict[str, Any]:
        ids = [i for i in call.query.get("ids", "").split(",") if i]
        return self.store.get_orders(ids)


def create_app(source: TikTokStore | EmulatorConfig) -> TikTokApp:
    return TikTokApp(source if isinstance(source, TikTokStore) else TikTokStore(source))
