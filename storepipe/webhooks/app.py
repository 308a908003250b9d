"""The webhook receiver (Starlette): verify each delivery on its raw bytes, commit it to the inbox, then answer.

Routes: POST /webhooks/woocommerce/{shop_key}, POST /webhooks/tiktok_shop/{shop_key} (the URL names the shop),
GET /webhooks/health (counts of accepted and rejected deliveries by reason). Answers, in the order checked:
413 body over the limit; 404 unknown or disabled shop, or a shop of the other platform; 503 the secret's
environment variable is not set; 401 no signature, or a signature that does not match; 400 a body that is not
the platform's JSON; 200 stored (or already stored: a replay of a delivery id is answered 200 and writes
nothing, because both platforms retry until they get a 2xx). Nothing is written unless the answer is 200.
Log lines name the shop, the reason and the peer, never a secret, a signature or a body.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from storepipe.shops import Shop, ShopConfigError, get_shop
from storepipe.sources.tiktok_shop import webhooks as tiktok_shop
from storepipe.sources.tiktok_shop.signing import verify_webhook
from storepipe.sources.woocommerce import webhooks as woocommerce
from storepipe.webhooks import inbox
from storepipe.webhooks.inbox import Envelope

log = logging.getLogger("storepipe.webhooks")

MAX_BODY = 1024 * 1024  # a WooCommerce order with 100 lines is ~60 KiB; anything near 1 MiB is not a delivery


@dataclass(frozen=True)
class Answer:
    status: int
    outcome: str  # the counter it adds to: accepted, duplicate, ping, ignored, or the rejection reason
    body: dict[str, Any]


# (transaction, shop, headers, raw body) -> the answer; raises Rejected.
Verify = Callable[[sa.Connection, Shop, Mapping[str, str], bytes], Answer]


class Rejected(Exception):
    """A request that gets a 4xx/5xx; `detail` goes to the log (never a secret or a signature)."""

    def __init__(self, status: int, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.status, self.reason, self.detail = status, reason, detail


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Rejected(400, "bad_json", "body is not JSON") from None


class Receiver:
    """The app's state: the warehouse engine, the body limit and the counters of this process."""

    def __init__(self, engine: sa.Engine, max_body: int = MAX_BODY) -> None:
        self.engine = engine
        self.max_body = max_body
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ plumbing

    def _shop(self, conn: sa.Connection, platform: str, key: str) -> Shop:
        try:
            shop = get_shop(conn, key)
        except ShopConfigError:
            raise Rejected(404, "unknown_shop", "no such shop") from None
        if shop.platform != platform:
            raise Rejected(404, "unknown_shop", f"the shop is a {shop.platform} shop")
        if not shop.enabled:
            raise Rejected(404, "unknown_shop", "the shop is disabled")
        return shop

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            raise Rejected(413, "too_large", f"Content-Length {declared} > {self.max_body}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():  # chunked bodies have no Content-Length: count as they come
            size += len(chunk)
            if size > self.max_body:
                raise Rejected(413, "too_large", f"body over {self.max_body} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _store(
        self, conn: sa.Connection, shop: Shop, envelope: Envelope, body: str, status: str | None = None
    ) -> Answer:
        status = status or ("pending" if envelope.applies else "ignored")
        try:
            # The caller commits the transaction before the answer is sent; a DataError rolls it back.
            row_id = inbox.record(
                conn,
                shop_key=shop.key,
                platform=shop.platform,
                topic=envelope.topic,
                delivery_id=envelope.delivery_id,
                resource_id=envelope.resource_id,
                body=body,
                status=status,
            )
        except sa.exc.DataError:  # JSON PostgreSQL will not store (a \u0000 in a string)
            raise Rejected(400, "bad_json", "body cannot be stored as jsonb") from None
        if row_id is None:
            return Answer(200, "duplicate", {"status": "duplicate"})
        if status == "pending":
            return Answer(200, "accepted", {"status": "queued", "id": row_id})
        return Answer(200, "ping" if envelope.topic == "ping" else "ignored", {"status": "ignored", "id": row_id})

    async def _handle(self, request: Request, platform: str, verify: Verify) -> JSONResponse:
        key = request.path_params["shop_key"]
        peer = request.client.host if request.client else "?"

        def look_up_verify_store(body: bytes) -> Answer:
            # One connection and one transaction per delivery: the shop lookup and the insert, committed on
            # leaving the block, before the answer is sent.
            with self.engine.begin() as conn:
                return verify(conn, self._shop(conn, platform, key), request.headers, body)

        try:
            body = await self._body(request)
            answer = await run_in_threadpool(look_up_verify_store, body)
        except Rejected as rejected:
            log.warning(f"webhook {platform}/{key}: rejected {rejected.status} {rejected.reason} "
                        f"({rejected.detail}) from {peer}")  # fmt: skip
            answer = Answer(rejected.status, rejected.reason, {"error": rejected.reason})
        except sa.exc.OperationalError as down:  # nothing was committed: 503 makes the platform retry
            log.error(f"webhook {platform}/{key}: 503, the warehouse is unavailable ({type(down.orig).__name__})")
            answer = Answer(503, "database_unavailable", {"error": "database_unavailable"})
        else:
            if log.isEnabledFor(logging.DEBUG):
                log.debug(f"webhook {platform}/{key}: {answer.outcome} {answer.body} from {peer}")
        with self._lock:
            self.counts[answer.outcome] += 1
        return JSONResponse(answer.body, status_code=answer.status)

    # ------------------------------------------------------------------ platforms

    def _woocommerce(self, conn: sa.Connection, shop: Shop, headers: Mapping[str, str], body: bytes) -> Answer:
        signature = headers.get("x-wc-webhook-signature")
        webhook_id = woocommerce.ping_id(body)
        if webhook_id is not None and signature is None and "x-wc-webhook-topic" not in headers:
            # The creation ping is unsigned [C2]; one row per webhook id, so unsigned pings cannot fill the inbox.
            ping = Envelope("ping", f"ping:{webhook_id}", webhook_id, False)
            return self._store(conn, shop, ping, orjson.dumps({"webhook_id": int(webhook_id)}).decode(), "ignored")
        variable = woocommerce.secret_variable(shop)
        secret = os.environ.get(variable)
        if not secret:
            raise Rejected(503, "secret_not_configured", f"set {variable} to the webhook's secret")
        if not signature:
            raise Rejected(401, "missing_signature", "no X-WC-Webhook-Signature header")
        if not woocommerce.verify_signature(secret, body, signature):
            raise Rejected(401, "bad_signature", "X-WC-Webhook-Signature does not match the body")
        described = woocommerce.describe(headers, body, _json(body))
        if isinstance(described, str):
            raise Rejected(400, "bad_request", described)
        return self._store(conn, shop, described, body.decode())

    def _tiktok_shop(self, conn: sa.Connection, shop: Shop, headers: Mapping[str, str], body: bytes) -> Answer:
        try:
            credentials = shop.credentials()
        except ShopConfigError as missing:  # its message names the variable, never a value
            raise Rejected(503, "secret_not_configured", str(missing)) from None
        authorization = headers.get("authorization")
        if not authorization:
            raise Rejected(401, "missing_signature", "no Authorization header")
        if not verify_webhook(credentials["key"], credentials["secret"], body, authorization):
            raise Rejected(401, "bad_signature", "Authorization does not match the body")
        payload = _json(body)
        described = tiktok_shop.describe(payload)
        if isinstance(described, str):
            raise Rejected(400, "bad_request", described)
        if payload.get("type") == 6:
            log.warning(f"webhook tiktok_shop/{shop.key}: the seller deauthorized the app; reconnect the shop")
        return self._store(conn, shop, described, body.decode())

    # ------------------------------------------------------------------ routes

    async def woocommerce(self, request: Request) -> JSONResponse:
        return await self._handle(request, "woocommerce", self._woocommerce)

    async def tiktok_shop(self, request: Request) -> JSONResponse:
        return await self._handle(request, "tiktok_shop", self._tiktok_shop)

    async def health(self, request: Request) -> JSONResponse:
        with self._lock:
            counts = dict(self.counts)
        return JSONResponse({"status": "ok", "counts": counts})


def create_app(engine: sa.Engine, *, max_body: int = MAX_BODY) -> Starlette:
    receiver = Receiver(engine, max_body)
    app = Starlette(
        routes=[
            Route("/webhooks/woocommerce/{shop_key}", receiver.woocommerce, methods=["POST"]),
            Route("/webhooks/tiktok_shop/{shop_key}", receiver.tiktok_shop, methods=["POST"]),
            Route("/webhooks/health", receiver.health, methods=["GET"]),
        ]
    )
    app.state.receiver = receiver
    return app
