"""The emulated shop's state: clock, tokens, catalog, orders, faults and the per-app-per-path QPS limiter."""

from __future__ import annotations

import base64
import collections
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from storepipe.emulators.faults import FaultControls
from storepipe.emulators.tiktok_shop import errors
from storepipe.emulators.tiktok_shop.analytics import Analytics
from storepipe.emulators.tiktok_shop.config import DAY, EmulatorConfig
from storepipe.emulators.tiktok_shop.data import (
    Order,
    OrderFactory,
    Product,
    make_catalog,
    make_orders,
    make_warehouses,
    stable_hash,
)
from storepipe.emulators.tiktok_shop.errors import ApiError, bad_request
from storepipe.emulators.tiktok_shop.faults import Decision, FaultInjector
from storepipe.emulators.tiktok_shop.fbt import FbtDesk
from storepipe.emulators.tiktok_shop.finance import Ledger
from storepipe.emulators.tiktok_shop.notify import TikTokNotifier
from storepipe.emulators.tiktok_shop.paging import (
    decode_cursor,
    encode_cursor,
    in_window,
    int_filter,
    keyset_start,
    page_size_param,
    time_bounds,
    time_sort_params,
)
from storepipe.emulators.tiktok_shop.render import (
    order_status,
    render_order,
    render_product_detail,
    render_product_summary,
    render_warehouse,
    update_time,
)
from storepipe.emulators.tiktok_shop.returns import ReturnDesk
from storepipe.emulators.webhooks import WebhookControls

ORDER_STATUSES = (
    "UNPAID", "ON_HOLD", "AWAITING_SHIPMENT", "PARTIALLY_SHIPPING", "AWAITING_COLLECTION",
    "IN_TRANSIT", "DELIVERED", "COMPLETED", "CANCELLED",
)  # fmt: skip
GRANTED_SCOPES = ["seller.authorization.info", "seller.order.info", "seller.product.basic", "seller.finance.info"]


class NotFound(KeyError):
    """A control-API lookup of something that does not exist."""


class RateLimiter:
    """Sliding one-second window per (app_key, API path). QPS is about the client's real pace, so this is the
    one place that reads a real (monotonic) clock; response data never depends on it."""

    def __init__(self, qps: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.qps = qps
        self.clock = clock
        self._calls: dict[tuple[str, str], collections.deque[float]] = {}

    def allow(self, app_key: str, api: str) -> bool:
        if self.qps is None:
            return True
        now = self.clock()
        window = self._calls.setdefault((app_key, api), collections.deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= self.qps:
            return False
        window.append(now)
        return True


class TikTokStore(FaultControls, WebhookControls):
    """Thread-safe state behind the HTTP app and the control API."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.now = config.now_epoch
        self.warehouses = make_warehouses(config)
        self.products: list[Product] = make_catalog(config, self.warehouses)
        self.products_by_id = {p.id: p for p in self.products}
        self.factory = OrderFactory(config, self.products, self.warehouses)
        self.orders: list[Order] = make_orders(config, self.factory)
        self.orders_by_id = {o.id: o for o in self.orders}
        self.faults = FaultInjector(config.seed)
        self.limiter = RateLimiter(config.rate_limit_qps)
        self.ledger = Ledger(self)
        self.returns = ReturnDesk(self)
        self.fbt = FbtDesk(self)
        self.analytics = Analytics(self)
        self.notifier = TikTokNotifier(self)
        self._requests = 0
        self._generation = 0  # bumped by every order mutation (invalidates search caches)
        self._search_cache: collections.OrderedDict[Any, tuple[list[tuple[int, int]], list[Order]]] = (
            collections.OrderedDict()
        )
        self._tokens_issued = 0
        self._auth_codes: dict[str, int] = {}  # code -> expiry
        self._access: dict[str, int] = {}  # access token -> expiry
        self._refresh: dict[str, int] = {}  # live refresh token -> expiry (rotated tokens are removed)

    # ------------------------------------------------------------------ clock and bookkeeping

    @property
    def generation(self) -> int:
        """Changes whenever an order is created or modified (with the clock, the key of derived caches)."""
        return self._generation

    def advance_time(self, seconds: int = 0, minutes: int = 0, hours: int = 0, days: int = 0) -> int:
        delta = int(seconds) + 60 * int(minutes) + 3600 * int(hours) + DAY * int(days)
        if delta < 0:
            raise ValueError("the emulator clock only moves forward")
        with self.lock:
            before = self.now
            self.now += delta
            self.notifier.time_advanced(before, self.now)
            return self.now

    def request_id(self) -> str:
        """Deterministic request ids in the real format: emulator time + 20 hex digits."""
        with self.lock:
            self._requests += 1
            stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(self.now))
            return f"{stamp}{stable_hash(self.config.seed, 'req', self._requests):016X}{self._requests % 65536:04X}"

    def state(self) -> dict[str, Any]:
        with self.lock:
            counts = collections.Counter(order_status(o, self.now) for o in self.orders)
            return {
                "now_epoch": self.now,
                "now": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.now)),
                "seed": self.config.seed,
                "orders": len(self.orders),
                "order_statuses": dict(sorted(counts.items())),
                "products": len(self.products),
                "temporary_listings": sorted({ln.product_id for o in self.orders for ln in o.lines if ln.temporary}),
                "requests": self._requests,
                "live_access_tokens": sum(1 for exp in self._access.values() if exp > self.now),
                "faults": self.faults.list(),
            }

    # ------------------------------------------------------------------ tokens

    def _token(self, kind: str) -> str:
        self._tokens_issued += 1
        digest = stable_hash(self.config.seed, kind, self._tokens_issued)
        raw = f"{kind}{self._tokens_issued}:{digest:016x}".encode()
        return "ROW_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def issue_auth_code(self) -> str:
        """What the seller's consent redirect would hand over; single use, ~30 minutes [C1]."""
        with self.lock:
            code = self._token("code")
            self._auth_codes[code] = self.now + self.config.auth_code_ttl_s
            return code

    def _check_app(self, app_key: str | None, app_secret: str | None) -> None:
        if app_key != self.config.app_key or app_secret != self.config.app_secret:
            # [INF] wrong app credentials on the token endpoints; no dedicated code in the fact sheet.
            raise ApiError(36009004, "Invalid credentials. app_key or app_secret is invalid.")

    def _grant(self, refresh_token: str | None, refresh_expiry: int | None) -> dict[str, Any]:
        access = self._token("access")
        access_expiry = self.now + self.config.access_token_ttl_s
        self._access[access] = access_expiry
        refresh = self._token("refresh")
        # The refresh token's lifetime is tied to the authorization, so rotation keeps the expiry [C1].
        expiry = refresh_expiry if refresh_expiry is not None else self.now + self.config.refresh_token_ttl_s
        self._refresh[refresh] = expiry
        if refresh_token is not None:
            self._refresh.pop(refresh_token, None)  # each refresh invalidates the previous refresh token [C1]
        return {
            "access_token": access,
            "access_token_expire_in": access_expiry,  # absolute unix time [C2]
            "refresh_token": refresh,
            "refresh_token_expire_in": expiry,
            "open_id": f"open_{stable_hash(self.config.seed, 'open'):x}",
            "seller_name": self.config.shop_name,
            "seller_base_region": self.config.region,
            "user_type": 0,
            "granted_scopes": GRANTED_SCOPES,
        }

    def exchange_code(self, app_key: str | None, app_secret: str | None, auth_code: str | None) -> dict[str, Any]:
        with self.lock:
            self._check_app(app_key, app_secret)
            expiry = self._auth_codes.pop(auth_code or "", None)
            if expiry is None or expiry < self.now:
                raise errors.INVALID_AUTH_CODE
            return self._grant(None, None)

    def refresh(self, app_key: str | None, app_secret: str | None, refresh_token: str | None) -> dict[str, Any]:
        with self.lock:
            self._check_app(app_key, app_secret)
            expiry = self._refresh.get(refresh_token or "")
            if expiry is None:
                raise ApiError(36009004, "Invalid credentials. The refresh_token is invalid.")
            if expiry < self.now:
                # [INF] an expired refresh token answers like an expired access token.
                raise ApiError(105002, "Expired credentials. The refresh_token has expired.")
            return self._grant(refresh_token, expiry)

    def authorize(self) -> dict[str, Any]:
        """Shortcut for tests: consent + code exchange in one step."""
        return self.exchange_code(self.config.app_key, self.config.app_secret, self.issue_auth_code())

    def check_access_token(self, token: str | None) -> None:
        with self.lock:
            if not token:
                raise errors.INVALID_TOKEN
            expiry = self._access.get(token)
            if expiry is None:
                raise errors.INVALID_TOKEN
            if expiry <= self.now:
                raise errors.EXPIRED_TOKEN

    # ------------------------------------------------------------------ gateway

    def decide_faults(self, method: str, path: str) -> Decision:
        with self.lock:
            return self.faults.decide(method, path)

    def allow_call(self, app_key: str, api: str) -> bool:
        with self.lock:
            return self.limiter.allow(app_key, api)

    # ------------------------------------------------------------------ read API

    def shops(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "shops": [
                {
                    "id": cfg.shop_id,
                    "name": cfg.shop_name,
                    "region": cfg.region,
                    "seller_type": "LOCAL",
                    "cipher": cfg.shop_cipher,
                    "code": f"US{stable_hash(cfg.seed, 'shop-code') % 10**10:010d}",
                }
            ]
        }

    def warehouses_answer(self) -> dict[str, Any]:
        return {"warehouses": [render_warehouse(w, self.config) for w in self.warehouses]}

    def search_orders(self, query: Mapping[str, str], body: Mapping[str, Any]) -> dict[str, Any]:
        # page_size is required, 1–100 [C2]; the docs also name a default of 20, which cannot apply to a
        # required parameter, so a missing page_size is an error here [INF].
        size = page_size_param(query)
        sort_field, sort_order = time_sort_params(query, "DESC")  # defaults create_time, DESC [C2]
        bounds = time_bounds(body)
        status = body.get("order_status")
        if status is not None and status not in ORDER_STATUSES:
            raise bad_request("order_status is invalid.")
        shipping_type = body.get("shipping_type")
        buyer = body.get("buyer_user_id")
        descending = sort_order == "DESC"
        filters = (
            sort_field,
            descending,
            bounds,
            status,
            shipping_type if isinstance(shipping_type, str) else repr(shipping_type),
            buyer if isinstance(buyer, str) else repr(buyer),
        )
        with self.lock:
            now = self.now
            cache_key = (now, self._generation, filters)
            cached = self._search_cache.get(cache_key)
            if cached is None:
                # Filtered and sorted once per (clock, mutation generation, filters): paging a large shop then
                # costs a bisect per page instead of a scan.
                rows: list[tuple[tuple[int, int], Order]] = []
                for order in self.orders:
                    created, updated = order.create_time, update_time(order, now)
                    if not in_window(created, updated, bounds):
                        continue
                    if status is not None and order_status(order, now) != status:
                        continue
                    if shipping_type is not None and order.shipping_type != shipping_type:
                        continue
                    if buyer is not None and order.user_id != buyer:
                        continue
                    key = (created if sort_field == "create_time" else updated, int(order.id))
                    # Descending order is ascending order of the negated key, so one bisect serves both.
                    rows.append(((-key[0], -key[1]) if descending else key, order))
                rows.sort(key=lambda row: row[0])
                cached = ([row[0] for row in rows], [row[1] for row in rows])
                self._search_cache[cache_key] = cached
                while len(self._search_cache) > 16:
                    self._search_cache.popitem(last=False)
            keys, orders = cached
            # Keyset cursor: the (sort key, id) of the last order served.
            start = keyset_start(keys, query.get("page_token") or "", (sort_field, sort_order), descending)
            page = orders[start : start + size]
            more = start + size < len(orders)
            last = page[-1] if page else None
            next_token = ""
            if more and last is not None:
                last_key = last.create_time if sort_field == "create_time" else update_time(last, now)
                next_token = encode_cursor(sort_field, sort_order, last_key, last.id)
            return {
                "orders": [render_order(o, now, self.config) for o in page],
                "next_page_token": next_token,
                "total_count": len(orders),  # the size of the whole filtered set, on every page
            }

    def get_orders(self, ids: list[str]) -> dict[str, Any]:
        if not ids or len(ids) > 50:
            raise bad_request("ids must list 1 to 50 order ids.")
        with self.lock:
            found = [self.orders_by_id[i] for i in ids if i in self.orders_by_id]
            return {"orders": [render_order(o, self.now, self.config) for o in found]}

    def search_products(self, query: Mapping[str, str], body: Mapping[str, Any]) -> dict[str, Any]:
        size = page_size_param(query)
        status = body.get("status") or "ALL"
        ge, le = int_filter(body, "update_time_ge"), int_filter(body, "update_time_le")
        cge, cle = int_filter(body, "create_time_ge"), int_filter(body, "create_time_le")
        seller_skus, sku_ids = body.get("seller_skus"), body.get("sku_ids")
        for name, value in (("seller_skus", seller_skus), ("sku_ids", sku_ids)):
            if value is not None and (not isinstance(value, list) or len(value) > 10):
                raise bad_request(f"{name} must be a list of at most 10 values.")
        rows: list[Product] = []
        for product in self.products:
            # [INF] status ALL (the default here) lists every status; both time filters are inclusive [C2 for le].
            if status != "ALL" and product.status != status:
                continue
            if (ge is not None and product.update_time < ge) or (le is not None and product.update_time > le):
                continue
            if (cge is not None and product.create_time < cge) or (cle is not None and product.create_time > cle):
                continue
            if seller_skus and not any(s.seller_sku in seller_skus for s in product.skus):
                continue
            if sku_ids and not any(s.id in sku_ids for s in product.skus):
                continue
            rows.append(product)
        # [INF] order: newest update first, id as tie-break (undocumented).
        rows.sort(key=lambda p: (p.update_time, int(p.id)), reverse=True)
        total = len(rows)
        served = 0
        token = query.get("page_token") or ""
        if token:
            key, last_id, served_raw = decode_cursor(token, 3)
            served = int(served_raw)
            after = (int(key), int(last_id))
            rows = [p for p in rows if (p.update_time, int(p.id)) < after]
        cap = self.config.search_cap
        room = max(0, cap - served)  # results beyond search_cap are never served [C1]
        take = min(size, room)
        if take > 1 and stable_hash(self.config.seed, "short", served, token) % 10_000 < (
            self.config.short_page_rate * 10_000
        ):
            # Real product search sometimes returns fewer than page_size while more remain [C1: RB];
            # clients must follow next_page_token, not stop on a short page.
            take -= 1 + stable_hash(self.config.seed, "short-by", served) % (take // 2 or 1)
        page = rows[:take]
        more = len(rows) > len(page) and served + len(page) < cap
        last = page[-1] if page else None
        return {
            "products": [render_product_summary(p, self.config) for p in page],
            "total_count": total,
            "next_page_token": encode_cursor(last.update_time, last.id, served + len(page)) if more and last else "",
        }

    def search_inventory(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /product/202309/inventory/search: product_ids (≤100) or sku_ids (≤600; sku_ids win), unpaged [C2]."""
        product_ids, sku_ids = body.get("product_ids"), body.get("sku_ids")
        if sku_ids:
            if not isinstance(sku_ids, list) or len(sku_ids) > 600:
                raise bad_request("sku_ids must be a list of at most 600 ids.")
            wanted = {str(s) for s in sku_ids}
            selected = [(p, [s for s in p.skus if s.id in wanted]) for p in self.products]
        elif product_ids:
            if not isinstance(product_ids, list) or len(product_ids) > 100:
                raise bad_request("product_ids must be a list of at most 100 ids.")
            wanted = {str(p) for p in product_ids}
            selected = [(p, p.skus) for p in self.products if p.id in wanted]
        else:
            raise bad_request("product_ids or sku_ids is required.")
        inventory = []
        for product, skus in selected:
            if not skus:
                continue
            rows = []
            for sku in skus:
                # [INF] committed stock is not modelled: generated orders do not reserve inventory.
                total = sum(sku.inventory.values())
                rows.append(
                    {
                        "id": sku.id,
                        "seller_sku": sku.seller_sku,
                        "total_available_quantity": total,
                        "total_committed_quantity": 0,
                        "warehouse_inventory": [
                            {"warehouse_id": wid, "available_quantity": qty, "committed_quantity": 0}
                            for wid, qty in sorted(sku.inventory.items())
                        ],
                        "total_available_inventory_distribution": {
                            "in_shop_inventory": {"quantity": total},
                            "campaign_inventory": [],
                            "creator_inventory": [],
                        },
                    }
                )
            inventory.append({"product_id": product.id, "skus": rows})
        return {"inventory": inventory}

    def get_product(self, product_id: str) -> dict[str, Any]:
        product = self.products_by_id.get(product_id)
        if product is None:
            # Temporary (Countdown Bidding) listings end with their LIVE session: not found either [INF].
            raise errors.PRODUCT_NOT_FOUND
        return render_product_detail(product, self.config)

    # ------------------------------------------------------------------ control: order mutations

    def order(self, order_id: str) -> Order:
        try:
            return self.orders_by_id[str(order_id)]
        except KeyError:
            raise NotFound(f"order {order_id}") from None

    def get_order(self, order_id: str) -> dict[str, Any]:
        with self.lock:
            return render_order(self.order(order_id), self.now, self.config)

    def order_ids(self) -> list[str]:
        with self.lock:
            return [o.id for o in self.orders]

    def create_order(self, line_items: list[dict[str, Any]] | None = None, auction: bool = False) -> dict[str, Any]:
        """A new order created now. line_items: [{"sku_id": ..., "quantity": n}] (random lines when None)."""
        with self.lock:
            picks = None
            if line_items:
                picks = []
                for item in line_items:
                    sku_id = str(item["sku_id"])
                    match = [(s, p) for p in self.products for s in p.skus if s.id == sku_id]
                    if not match:
                        raise NotFound(f"sku {sku_id}")
                    quantity = int(item.get("quantity", 1))
                    if quantity < 1:
                        raise ValueError("quantity must be >= 1")
                    picks.append((match[0][0], match[0][1], quantity))
            order = self.factory.build(self.now, auction=auction, cancel=False, picks=picks)
            order.touched = self.now
            self.orders.append(order)
            self.orders_by_id[order.id] = order
            self._generation += 1
            self.notifier.order_changed(order, None)
            return render_order(order, self.now, self.config)

    def modify_order(self, order_id: str, bump_update: bool = True, **fields: Any) -> dict[str, Any]:
        """Change seller_note / buyer_message / status (forced); bumps update_time to now unless told not to."""
        with self.lock:
            order = self.order(order_id)
            status_before = order_status(order, self.now)
            for name, value in fields.items():
                if name in ("seller_note", "buyer_message"):
                    setattr(order, name, str(value))
                elif name == "status":
                    if value not in ORDER_STATUSES:
                        raise ValueError(f"unknown status {value!r}")
                    order.extra["status"] = value
                else:
                    raise ValueError(f"cannot modify {name!r}")
            if bump_update:
                order.touched = self.now
            self._generation += 1
            self.notifier.order_changed(order, status_before)
            return render_order(order, self.now, self.config)

    def cancel_order(self, order_id: str, reason: str = "Cancelled by seller", initiator: str = "SELLER") -> dict:
        with self.lock:
            order = self.order(order_id)
            if order.cancel_time is not None and order.cancel_time <= self.now:
                raise ValueError("order is already cancelled")
            if order.collection_time is not None and order.collection_time <= self.now:
                raise ValueError("order was already collected by the carrier; it can only be returned")
            order.cancel_time = self.now
            order.cancel_reason = reason
            order.cancellation_initiator = initiator
            order.touched = self.now
            order.extra.pop("status", None)
            self._generation += 1
            self.notifier.order_cancelled(order)
            return render_order(order, self.now, self.config)
