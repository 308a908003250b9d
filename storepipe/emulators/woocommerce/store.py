"""The emulated shop's state: indexed tables over the skeleton, overrides, caches, queries and control."""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from copy import deepcopy
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from storepipe.emulators.faults import FaultControls
from storepipe.emulators.webhooks import WebhookControls
from storepipe.emulators.woocommerce.catalog import (
    FIRST_NAMES,
    LAST_NAMES,
    Coupon,
    Product,
    ascii_slug,
    build_catalog,
    buyer_email,
)
from storepipe.emulators.woocommerce.config import EmulatorConfig
from storepipe.emulators.woocommerce.faults import Fault, FaultInjector, malform
from storepipe.emulators.woocommerce.money import ZERO, dec, fmt, rnd
from storepipe.emulators.woocommerce.notify import WooNotifier
from storepipe.emulators.woocommerce.params import ListQuery
from storepipe.emulators.woocommerce.render import ORDER_META_STRIDE, OrderSpec, Renderer, apply_totals
from storepipe.emulators.woocommerce.skeleton import (
    DELETED,
    KIND_CREATED,
    KIND_PARENT,
    ORDER_STATUSES,
    OS,
    SS,
    SUB_STATUSES,
    build_skeleton,
)
from storepipe.emulators.woocommerce.timeutil import DAY, TzTable, iso_z

# WooCommerce appends an ID tiebreak to date/modified ordering only in recent versions (the pagination fix
# referenced as #61410 in the research sheet). [UNV: exact release; 10.4 assumed.] Older stores let MySQL
# order ties arbitrarily, and that order can differ between LIMIT windows (duplicates/skips across pages).
ID_TIEBREAK_SINCE = "10.4.0"
_PAID_STATUSES = ("processing", "completed", "on-hold", "refunded", "trash")
_COUPON_COUNTED = np.array([OS[s] for s in _PAID_STATUSES], dtype=np.int8)
_MODIFIABLE = {
    "status",
    "customer_note",
    "billing",
    "shipping",
    "payment_method",
    "payment_method_title",
    "transaction_id",
    "customer_id",
    "meta_data",
}
# What the control API may change on the other webhook resources (the REST fields of the same name; billing and
# shipping are merged). Only the REST view changes: orders keep what they recorded at checkout.
_EDITABLE = {
    "customer": {"first_name", "last_name", "email", "billing", "shipping"},
    "product": {"name", "description", "short_description", "regular_price", "sale_price", "stock_quantity"},
    "coupon": {"description", "amount", "date_expires", "minimum_amount", "individual_use"},
}


def wp_json(obj: Any) -> bytes:
    """wp_json_encode as the REST server sends it: compact, ASCII-escaped, and with escaped slashes."""
    return json.dumps(obj, separators=(",", ":")).replace("/", "\\/").encode()


class Table:
    """Growable numpy columns addressed by position; `id` is ascending so ids resolve by binary search."""

    def __init__(self, columns: dict[str, np.ndarray]) -> None:
        self._cols = {name: np.array(values) for name, values in columns.items()}
        self.n = len(next(iter(self._cols.values())))
        self.generation = 0
        self._perms: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        return self._cols[name][: self.n]

    def has(self, name: str) -> bool:
        return name in self._cols

    def touch(self, changed: Iterable[str] = ()) -> None:
        self.generation += 1
        for name in changed:
            self._perms.pop(name, None)

    def set(self, pos: int, **values: Any) -> None:
        for name, value in values.items():
            self._cols[name][pos] = value
        self.touch(values)

    def set_column(self, name: str, values: np.ndarray) -> None:
        """Replace a whole column (e.g. sort ranks after an insert)."""
        self._cols[name][: self.n] = values
        self.touch([name])

    def append(self, **values: Any) -> int:
        if self.n == len(next(iter(self._cols.values()))):
            grow = max(16, self.n // 4)
            for name, col in self._cols.items():
                self._cols[name] = np.concatenate([col, np.zeros(grow, dtype=col.dtype)])
        pos = self.n
        for name, col in self._cols.items():
            col[pos] = values.get(name, 0)
        self.n += 1
        self.touch(self._cols)
        return pos

    def pos_of(self, obj_id: int) -> int | None:
        ids = self["id"]
        i = int(np.searchsorted(ids, obj_id))
        return i if i < self.n and ids[i] == obj_id else None

    def perm(self, key: str) -> np.ndarray:
        """Positions sorted ascending by (key, id); cached until the key column changes."""
        cached = self._perms.get(key)
        if cached is None or len(cached) != self.n:
            cached = np.arange(self.n) if key == "id" else np.lexsort((self["id"], self[key]))
            self._perms[key] = cached
        return cached


class ByteLRU:
    """Rendered JSON by key, evicting least-recently-used entries beyond a byte budget.

    (zlib with a preset dictionary would fit 7x more, but costs ~85 µs per order on the cold path, which is
    the path importer benchmarks exercise; plain bytes keep cold pages fast.)"""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._data: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        value = self._data.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        self._data.move_to_end(key)
        return value

    def put(self, key: tuple[Any, ...], value: bytes) -> None:
        old = self._data.pop(key, None)
        if old is not None:
            self.size -= len(old)
        self._data[key] = value
        self.size += len(value)
        while self.size > self.budget and self._data:
            _, dropped = self._data.popitem(last=False)
            self.size -= len(dropped)

    def drop(self, key: tuple[Any, ...]) -> None:
        old = self._data.pop(key, None)
        if old is not None:
            self.size -= len(old)

    def clear(self) -> None:
        self._data.clear()
        self.size = 0

    def __len__(self) -> int:
        return len(self._data)


@dataclass
class Page:
    """One page of a collection, ready to send."""

    items: list[bytes]
    total: int
    total_pages: int

    @property
    def body(self) -> bytes:
        return b"[" + b",".join(self.items) + b"]"


class NotFound(LookupError):
    """No such object (maps to WooCommerce's *_invalid_id 404)."""


class WooStore(FaultControls, WebhookControls):
    """A generated WooCommerce shop. Thread-safe: every public method holds the store lock."""

    def __init__(self, config: EmulatorConfig) -> None:
        started = time.perf_counter()
        self.config = config
        self.lock = threading.RLock()
        self._now = config.now_epoch
        self.start = self._now - int(config.years * 365.25 * DAY)
        self.tz = TzTable(config.timezone, self.start - 400 * DAY, self._now + 40 * 365 * DAY)
        self.catalog = build_catalog(config, self.start, self._now)
        self.sk = sk = build_skeleton(config, self.catalog, self.tz, self.start, self._now)
        self.renderer = Renderer(config, self.catalog, self.tz, sk, self._now)
        self.faults = FaultInjector(config.seed, config.hang_s)
        self._next_post_id = int(sk.next_post_id)
        self.orders = Table(
            {
                "id": sk.o_id,
                "created": sk.o_created,
                "created_w": self.tz.walls(sk.o_created),
                "modified": sk.o_modified,
                "modified_w": self.tz.walls(sk.o_modified),
                "paid": sk.o_paid,
                "completed": sk.o_completed,
                "status": sk.o_status,
                "customer": sk.o_customer,
                "buyer": sk.o_buyer,
                "coupon": sk.o_coupon,
                "kind": sk.o_kind,
                "sub": sk.o_sub,
                "parent": np.zeros(len(sk.o_id), np.int64),
            }
        )
        self.refunds = Table(
            {
                "id": sk.r_id,
                "order": sk.r_order,
                "created": sk.r_created,
                "created_w": self.tz.walls(sk.r_created),
                "modified": sk.r_created,
                "modified_w": self.tz.walls(sk.r_created),
                "kind": sk.r_kind,
                "bump": sk.r_bump,
                "status": np.zeros(len(sk.r_id), np.int8),
                "parent": sk.o_id[sk.r_order],
            }
        )
        self.subs = Table(
            {
                "id": sk.s_id,
                "created": sk.s_created,
                "created_w": self.tz.walls(sk.s_created),
                "modified": sk.s_modified,
                "modified_w": self.tz.walls(sk.s_modified),
                "status": sk.s_status,
                "customer": sk.o_customer[sk.s_parent],
                "parent": sk.o_id[sk.s_parent],
            }
        )
        self._build_customers()
        self._build_catalog_tables()
        self._order_overrides: dict[int, dict[str, Any]] = {}
        self._refund_overrides: dict[int, dict[str, Any]] = {}
        self._order_refunds: dict[int, list[int]] = {}
        for rpos, opos in enumerate(sk.r_order.tolist()):
            self._order_refunds.setdefault(opos, []).append(rpos)
        self._refund_cache: OrderedDict[int, list[dict[str, Any]]] = OrderedDict()
        self.cache = ByteLRU(config.cache_bytes)
        self._search_text: np.ndarray | None = None
        self._trashed_from: dict[int, int] = {}
        self._next_meta_id = (self._next_post_id + 1_000_000) * ORDER_META_STRIDE
        self.requests_served = 0
        self.notifier = WooNotifier(self)
        # (resource, id) -> REST fields changed through the control API; deleted customers and coupons.
        self._resource_overrides: dict[tuple[str, int], dict[str, Any]] = {}
        self._deleted: dict[str, set[int]] = {"customer": set(), "coupon": set()}
        self.build_seconds = time.perf_counter() - started

    # ------------------------------------------------------------------ setup helpers

    def _build_customers(self) -> None:
        sk = self.sk
        first = np.array([s.casefold() for s in FIRST_NAMES])[sk.b_first[sk.c_buyer]]
        last = np.array([s.casefold() for s in LAST_NAMES])[sk.b_last[sk.c_buyer]]
        # WC sorts customers by display_name ("First Last"); MySQL collations ignore case and accents.
        display = np.char.add(np.char.add(_fold(first), " "), _fold(last))
        rank = np.empty(len(display) + 1, dtype=np.int64)
        rank[1:] = np.argsort(np.argsort(display, kind="stable"), kind="stable") + 1
        rank[0] = 0  # the admin ("admin") sorts first
        created = np.concatenate([[self.sk.launch - 30 * DAY], sk.c_created])
        self.customers = Table(
            {
                "id": np.concatenate([[1], np.arange(2, len(sk.c_buyer) + 2)]),
                "buyer": np.concatenate([[-1], sk.c_buyer]),
                "created": created,
                "created_w": self.tz.walls(created),
                "modified": np.concatenate([created[:1], sk.c_modified]),
                "paying": np.concatenate([[False], sk.c_paying]),
                "name": rank,
                "role": np.concatenate([[0], np.ones(len(sk.c_buyer), np.int8)]),
            }
        )

    def _build_catalog_tables(self) -> None:
        products = sorted(self.catalog.products, key=lambda p: p.post_id)
        by_idx = {p.idx: p for p in products}
        created = np.array([p.created for p in products], dtype=np.int64)
        modified = np.array([p.modified for p in products], dtype=np.int64)
        self._sales = self._estimate_sales()
        self.products = Table(
            {
                "id": np.array([p.post_id for p in products], dtype=np.int64),
                "idx": np.array([p.idx for p in products], dtype=np.int32),
                "created": created,
                "created_w": self.tz.walls(created),
                "modified": modified,
                "modified_w": self.tz.walls(modified),
                "parent": np.array(
                    [by_idx[p.parent].post_id if p.parent is not None else 0 for p in products]
                ),
                "deleted": np.array([p.deleted is not None for p in products]),
                "variation": np.array([p.type == "variation" for p in products]),
                "title": _ranks([p.name.casefold() for p in products]),
                "slug": _ranks([p.slug for p in products]),
                "price": np.array([float(p.price) for p in products]),  # sort key only, never money math
                "popularity": np.array([self._sales.get(p.idx, 0) for p in products]),
                "rating": np.zeros(len(products)),
            }
        )
        coupons = sorted(self.catalog.coupons, key=lambda c: c.post_id)
        c_created = np.array([c.created for c in coupons], dtype=np.int64)
        c_modified = np.array([c.modified for c in coupons], dtype=np.int64)
        self.coupons = Table(
            {
                "id": np.array([c.post_id for c in coupons], dtype=np.int64),
                "idx": np.array([c.idx for c in coupons], dtype=np.int32),
                "created": c_created,
                "created_w": self.tz.walls(c_created),
                "modified": c_modified,
                "modified_w": self.tz.walls(c_modified),
                "title": _ranks([c.code for c in coupons]),
                "parent": np.zeros(len(coupons), np.int64),
            }
        )

    def _estimate_sales(self) -> dict[int, int]:
        """total_sales per product: popularity share of paid orders (an estimate; lines render lazily)."""
        paid = int((self.sk.o_paid > 0).sum())
        sellable = [p for p in self.catalog.products if p.weight > 0]
        weight = sum(p.weight for p in sellable) or 1.0
        sales = {p.idx: int(paid * 1.6 * p.weight / weight) for p in sellable}
        for p in self.catalog.products:
            if p.children:
                sales[p.idx] = sum(sales.get(c, 0) for c in p.children)
        return sales

    # ------------------------------------------------------------------ clock and info

    @property
    def now(self) -> int:
        """The emulator clock (epoch seconds)."""
        return self._now

    def advance_time(
        self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0
    ) -> int:
        """Move the clock forward (never backward); returns the new epoch."""
        delta = int(seconds + 60 * minutes + 3600 * hours + DAY * days)
        if delta < 0:
            raise ValueError("the emulator clock only moves forward")
        with self.lock:
            self._now += delta
            return self._now

    def set_home_url(self, url: str) -> None:
        """Where the shop lives (links, permalinks); call before serving (cached JSON is dropped)."""
        with self.lock:
            self.renderer.set_home_url(url)
            self.cache.clear()

    @property
    def home_url(self) -> str:
        return self.renderer.home_url

    def state(self) -> dict[str, Any]:
        with self.lock:
            status = self.orders["status"]
            counts = {name: int((status == code).sum()) for code, name in enumerate(ORDER_STATUSES)}
            return {
                "now": iso_z(self._now),
                "now_epoch": self._now,
                "seed": self.config.seed,
                "version": self.config.version,
                "timezone": self.config.timezone,
                "currency": self.config.currency,
                "orders": int((status != DELETED).sum()),
                "order_statuses": counts,
                "refunds": int((self.refunds["status"] == 0).sum()),
                "subscriptions": self.subs.n,
                "customers": self.customers.n - 1,
                "products": int((~self.products["variation"]).sum()),
                "next_post_id": self._next_post_id,
                "home_url": self.home_url,
                "faults": self.faults.list(),
                "requests_served": self.requests_served,
                "build_seconds": round(self.build_seconds, 3),
                "cache": {
                    "entries": len(self.cache),
                    "bytes": self.cache.size,
                    "hits": self.cache.hits,
                    "misses": self.cache.misses,
                },
            }

    def order_ids(self, status: str | None = None) -> list[int]:
        """Ids of existing orders (all statuses incl. trash), optionally of one status; ascending."""
        with self.lock:
            codes = self.orders["status"]
            mask = codes != DELETED if status is None else codes == OS[status]
            return self.orders["id"][mask].tolist()

    def refund_ids(self) -> list[int]:
        with self.lock:
            return self.refunds["id"][self.refunds["status"] == 0].tolist()

    def subscription_ids(self) -> list[int]:
        with self.lock:
            return self.subs["id"].tolist()

    def customer_ids(self) -> list[int]:
        """Registered customers (role customer), not the admin."""
        with self.lock:
            return self.customers["id"][1:].tolist()

    # ------------------------------------------------------------------ rendering

    def _order_pos(self, order_id: int) -> int:
        pos = self.orders.pos_of(order_id)
        if pos is None or self.orders["status"][pos] == DELETED:
            raise NotFound(order_id)
        return pos

    def _status_name(self, pos: int) -> str:
        return ORDER_STATUSES[int(self.orders["status"][pos])]

    def _pristine_order(self, pos: int) -> dict[str, Any]:
        return self.renderer.build_order(
            self.renderer.spec_for(pos), ORDER_STATUSES[int(self.sk.o_status[pos])]
        )

    def _order_dict(self, pos: int) -> dict[str, Any]:
        oid = int(self.orders["id"][pos])
        override = self._order_overrides.get(oid)
        if override is not None:
            out = dict(override)
            pristine = None
        else:
            out = self.renderer.build_order(self.renderer.spec_for(pos), self._status_name(pos))
            pristine = out
        self._apply_dynamic(out, pos, pristine)
        return out

    def _apply_dynamic(self, out: dict[str, Any], pos: int, pristine: dict[str, Any] | None) -> None:
        """Fields owned by the index columns (status, dates, refunds), so mutations stay consistent."""
        orders, r = self.orders, self.renderer
        status = self._status_name(pos)
        modified, paid, completed = (int(orders[c][pos]) for c in ("modified", "paid", "completed"))
        out["status"] = status
        out["date_modified"], out["date_modified_gmt"] = r.local(modified), r.gmt(modified)
        out["date_paid"], out["date_paid_gmt"] = r.local(paid), r.gmt(paid)
        out["date_completed"], out["date_completed_gmt"] = r.local(completed), r.gmt(completed)
        out["is_editable"] = status in ("pending", "on-hold", "checkout-draft")
        out["needs_payment"] = status in ("pending", "failed") and dec(out.get("total")) > 0
        out["refunds"] = [
            {"id": ref["id"], "reason": ref["reason"], "total": fmt(-dec(ref["amount"]), self.config.dp)}
            for ref in reversed(self._refunds_of(pos, pristine))
        ]

    def _refunds_of(self, pos: int, pristine: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Refunds of one order, oldest first: generated ones (from the pristine order) plus added ones."""
        rows = self._order_refunds.get(pos)
        if not rows:
            return []
        refunds = self.refunds
        generated = [r for r in rows if refunds["kind"][r] >= 0]
        out: list[dict[str, Any]] = []
        if generated:
            cached = self._refund_cache.get(pos)
            if cached is None:
                base = pristine if pristine is not None else self._pristine_order(pos)
                specs = [
                    (
                        int(refunds["id"][r]),
                        int(refunds["created"][r]),
                        int(refunds["kind"][r]),
                        bool(refunds["bump"][r]),
                    )
                    for r in generated
                ]
                cached = self.renderer.build_refunds(base, specs)
                self._refund_cache[pos] = cached
                if len(self._refund_cache) > 20000:
                    self._refund_cache.popitem(last=False)
            out += cached
        out += [self._refund_overrides[int(refunds["id"][r])] for r in rows if refunds["kind"][r] < 0]
        live = {int(refunds["id"][r]) for r in rows if refunds["status"][r] == 0}
        return sorted((ref for ref in out if ref["id"] in live), key=lambda ref: ref["id"])

    def _order_bytes(self, pos: int, route: str) -> bytes:
        oid = int(self.orders["id"][pos])
        damage = self.faults.malformation(route, oid)
        if damage:
            return wp_json(malform(self._order_dict(pos), damage))
        key = ("o", oid)
        cached = self.cache.get(key)
        if cached is None:
            cached = wp_json(self._order_dict(pos))
            self.cache.put(key, cached)
        return cached

    def _sub_dict(self, pos: int) -> dict[str, Any]:
        status = SUB_STATUSES[int(self.subs["status"][pos])]
        return self.renderer.build_subscription(pos, status, int(self.subs["modified"][pos]))

    def _customer_dict(self, pos: int) -> dict[str, Any]:
        c = self.customers
        if pos == 0:
            return self.renderer.build_admin(int(c["created"][0]))
        out = self.renderer.build_customer(
            int(c["id"][pos]),
            int(c["buyer"][pos]),
            int(c["created"][pos]),
            int(c["modified"][pos]),
            bool(c["paying"][pos]),
        )
        return self._overridden("customer", out)

    def _product_dict(self, pos: int) -> dict[str, Any]:
        product = self.catalog.products[int(self.products["idx"][pos])]
        if product.type == "variation":
            return self.renderer.build_variation(product)
        out = self.renderer.build_product(product, self._sales.get(product.idx, 0))
        return self._overridden("product", out)

    def _overridden(self, resource: str, out: dict[str, Any]) -> dict[str, Any]:
        for name, value in self._resource_overrides.get((resource, out["id"]), {}).items():
            if name in ("billing", "shipping"):
                out[name] = {**out[name], **value}
            else:
                out[name] = value
        return out

    def _coupon_dict(self, pos: int) -> dict[str, Any]:
        coupon = self.catalog.coupons[int(self.coupons["idx"][pos])]
        orders = self.orders
        used = np.flatnonzero((orders["coupon"] == coupon.idx) & np.isin(orders["status"], _COUPON_COUNTED))
        used_by = []
        for opos in used.tolist():
            customer = int(orders["customer"][opos])
            if customer:
                used_by.append(str(customer))
            else:  # Guests are recorded by their billing e-mail.
                used_by.append(self._order_email(opos))
        out = self.renderer.build_coupon(coupon, len(used), used_by, self.config.at_least("6.2.0"))
        return self._overridden("coupon", out)

    def _order_email(self, pos: int) -> str:
        override = self._order_overrides.get(int(self.orders["id"][pos]))
        if override is not None:
            return str(override["billing"]["email"])
        return self.renderer.profile(int(self.orders["buyer"][pos])).email

    def _refund_by_pos(self, rpos: int) -> dict[str, Any]:
        rid = int(self.refunds["id"][rpos])
        for ref in self._refunds_of(int(self.refunds["order"][rpos])):
            if ref["id"] == rid:
                return ref
        raise NotFound(rid)

    # ------------------------------------------------------------------ collections

    def list_collection(self, resource: str, q: ListQuery, route: str, parent_id: int | None = None) -> Page:
        """A page of `resource` (orders, subscriptions, refunds, customers, products, variations, coupons)."""
        with self.lock:
            self.requests_served += 1
            table, mask, render, cache_tag = self._collection_setup(resource, q, parent_id)
            selection = self._select(table, q, mask, resource)
            start = q.offset if q.offset is not None else (q.page - 1) * q.per_page
            window = self._window(table, selection, q, start, resource)
            total = len(selection)
            pages = math.ceil(total / q.per_page) if total else 0
            items = [self._item_bytes(resource, table, int(p), q, route, render, cache_tag) for p in window]
            return Page(items, total, pages)

    def _collection_setup(
        self, resource: str, q: ListQuery, parent_id: int | None
    ) -> tuple[Table, np.ndarray, Callable[[int], dict[str, Any]], str | None]:
        if resource == "orders":
            status = self.orders["status"]
            mask = _status_mask(status, q.status, ORDER_STATUSES, OS["trash"]) & (status != DELETED)
            if q.customer is not None:
                mask &= self.orders["customer"] == q.customer
            if q.search:
                mask &= self._search_mask(q.search)[np.clip(self.orders["buyer"], 0, None)]
            return self.orders, mask, self._order_dict, "o"
        if resource == "subscriptions":
            mask = _status_mask(self.subs["status"], q.status, SUB_STATUSES, SS["trash"])
            if q.customer is not None:
                mask &= self.subs["customer"] == q.customer
            return self.subs, mask, self._sub_dict, "s"
        if resource in ("refunds", "order_refunds"):
            mask = self.refunds["status"] == 0
            if resource == "order_refunds":
                mask &= self.refunds["parent"] == parent_id
            return self.refunds, mask, self._refund_by_pos, None
        if resource == "customers":
            roles = {"all": None, "customer": 1, "administrator": 0}
            role = roles.get(q.role, -1)
            mask = np.ones(self.customers.n, bool) if role is None else self.customers["role"] == role
            mask &= ~np.isin(self.customers["id"], list(self._deleted["customer"]))
            if q.email:
                mask &= self.customers["id"] == self._user_by_email(q.email)
            if q.search:
                buyers = self.customers["buyer"]
                mask &= (buyers >= 0) & self._search_mask(q.search)[np.clip(buyers, 0, None)]
            return self.customers, mask, self._customer_dict, "c"
        if resource in ("products", "variations"):
            p = self.products
            mask = ~p["deleted"] & (p["variation"] if resource == "variations" else ~p["variation"])
            if parent_id is not None:
                mask &= p["parent"] == parent_id
            if q.status not in (["any"], ["publish"]):
                mask &= False  # Everything generated is published.
            for attr, pick in (
                ("type", lambda prod: prod.type),
                ("sku", lambda prod: prod.sku),
                ("slug", lambda prod: prod.slug),
            ):
                wanted = getattr(q, attr)
                if wanted:
                    mask &= np.array([pick(self.catalog.products[i]) == wanted for i in p["idx"]])
            return p, mask, self._product_dict, "p"
        if resource == "coupons":
            mask = ~np.isin(self.coupons["id"], list(self._deleted["coupon"]))
            if q.code:
                mask &= np.array(
                    [self.catalog.coupons[i].code == q.code.lower() for i in self.coupons["idx"]]
                )
            return self.coupons, mask, self._coupon_dict, f"k{self.orders.generation}"
        raise KeyError(resource)

    def _select(self, table: Table, q: ListQuery, mask: np.ndarray, resource: str) -> np.ndarray:
        """Positions that match, in response order (vectorised; sort permutations are cached)."""
        gmt = q.dates_are_gmt
        # Strict comparisons: WP_Date_Query uses inclusive=false for after/before.
        for value, column, op in (
            (q.after, "created", np.greater),
            (q.before, "created", np.less),
            (q.modified_after, "modified", np.greater),
            (q.modified_before, "modified", np.less),
        ):
            if value is not None:
                mask = mask & op(table[column if gmt else column + "_w"], value)
        ids = table["id"]
        if q.include:
            mask = mask & np.isin(ids, q.include)
        if q.exclude:
            mask = mask & ~np.isin(ids, q.exclude)
        if table.has("parent") and resource != "order_refunds":
            if q.parent:
                mask = mask & np.isin(table["parent"], q.parent)
            if q.parent_exclude:
                mask = mask & ~np.isin(table["parent"], q.parent_exclude)
        if q.orderby == "include" and q.include:
            order = {v: i for i, v in enumerate(q.include)}
            chosen = np.flatnonzero(mask)
            return chosen[np.argsort([order[int(i)] for i in ids[chosen]], kind="stable")]
        perm = table.perm(self._sort_key(q.orderby, resource))
        selection = perm[mask[perm]]
        return selection[::-1] if q.order == "desc" else selection

    @staticmethod
    def _sort_key(orderby: str, resource: str) -> str:
        if resource == "customers":
            return {"id": "id", "name": "name", "registered_date": "created"}.get(orderby, "name")
        if orderby in ("title", "slug") and resource in ("products", "variations", "coupons"):
            return "title" if orderby == "title" or resource == "coupons" else "slug"
        # Order-like posts: post_title is "Order &ndash; <date>" and the slug is derived from it, so title
        # and slug ordering follow the creation date closely; the emulator uses the creation date.
        return {
            "id": "id",
            "modified": "modified",
            "price": "price",
            "popularity": "popularity",
            "rating": "rating",
        }.get(orderby, "created")

    def _window(
        self, table: Table, selection: np.ndarray, q: ListQuery, start: int, resource: str
    ) -> np.ndarray:
        """The LIMIT window; on stores without the ID tiebreak, ties are ordered differently per window."""
        window = selection[start : start + q.per_page]
        key = self._sort_key(q.orderby, resource)
        if (
            len(window) == 0
            or key == "id"
            or q.orderby == "include"
            or resource == "customers"
            or self.config.at_least(ID_TIEBREAK_SINCE)
        ):
            return window
        values = table[key][selection]
        lo = start
        first, last = values[start], values[min(start + q.per_page, len(selection)) - 1]
        while lo > 0 and values[lo - 1] == first:
            lo -= 1
        hi = min(start + q.per_page, len(selection))
        while hi < len(selection) and values[hi] == last:
            hi += 1
        segment = selection[lo:hi]
        if len(segment) == len(window):
            return window
        # A cheap integer hash of (id, LIMIT window): the tie order changes from one window to the next.
        salt = np.uint64((start * 7919 + q.per_page * 104729) & 0xFFFFFFFF)
        mixed = (table["id"][segment].astype(np.uint64) * np.uint64(0x9E3779B1)) & np.uint64(0xFFFFFFFF)
        noise = ((mixed ^ salt) * np.uint64(0x85EBCA6B)) & np.uint64(0xFFFFFFFF)
        groups = np.concatenate([[0], np.cumsum(values[lo + 1 : hi] != values[lo : hi - 1])])
        shuffled = segment[np.lexsort((noise, groups))]
        return shuffled[start - lo : start - lo + q.per_page]

    def _item_bytes(
        self,
        resource: str,
        table: Table,
        pos: int,
        q: ListQuery,
        route: str,
        render: Callable[[int], dict[str, Any]],
        cache_tag: str | None,
    ) -> bytes:
        plain = q.fields is None and q.dp is None and q.include_meta is None and q.exclude_meta is None
        if resource == "orders" and plain:
            return self._order_bytes(pos, route)
        if plain and cache_tag is not None:
            key = (cache_tag, int(table["id"][pos]))
            cached = self.cache.get(key)
            if cached is None:
                cached = wp_json(render(pos))
                self.cache.put(key, cached)
            return cached
        obj = render(pos)
        if resource == "refunds":
            obj = _with_parent(obj, int(table["parent"][pos]))
        if resource in ("orders", "subscriptions"):
            damage = self.faults.malformation(route, obj["id"]) if resource == "orders" else None
            obj = self._reshape(obj, q, damage)
        return wp_json(_filter_fields(obj, q.fields))

    def _reshape(self, obj: dict[str, Any], q: ListQuery, damage: str | None) -> dict[str, Any]:
        if q.dp is not None and q.dp != self.config.dp:
            obj = _redecimal(obj, q.dp)
        if q.include_meta is not None:
            obj["meta_data"] = [m for m in obj["meta_data"] if m["key"] in q.include_meta]
        if q.exclude_meta is not None:
            obj["meta_data"] = [m for m in obj["meta_data"] if m["key"] not in q.exclude_meta]
        return malform(obj, damage) if damage else obj

    # ------------------------------------------------------------------ single objects

    def get_item(
        self,
        resource: str,
        obj_id: int,
        route: str,
        fields: list[str] | None = None,
        parent_id: int | None = None,
    ) -> bytes:
        """One object as JSON; raises NotFound."""
        with self.lock:
            self.requests_served += 1
            if resource == "orders":
                pos = self._order_pos(obj_id)
                if fields is None:
                    return self._order_bytes(pos, route)
                obj = self._order_dict(pos)
                damage = self.faults.malformation(route, obj_id)
                return wp_json(_filter_fields(malform(obj, damage) if damage else obj, fields))
            return wp_json(_filter_fields(self._item_dict(resource, obj_id, parent_id), fields))

    def exists(self, resource: str, obj_id: int, parent_id: int | None = None) -> bool:
        with self.lock:
            try:
                self._item_dict(resource, obj_id, parent_id, probe=True)
            except NotFound:
                return False
            return True

    def _item_dict(
        self, resource: str, obj_id: int, parent_id: int | None, probe: bool = False
    ) -> dict[str, Any]:
        tables = {
            "orders": self.orders,
            "subscriptions": self.subs,
            "customers": self.customers,
            "products": self.products,
            "variations": self.products,
            "coupons": self.coupons,
            "order_refunds": self.refunds,
        }
        table = tables[resource]
        pos = table.pos_of(obj_id)
        if pos is None:
            raise NotFound(obj_id)
        if resource == "orders" and self.orders["status"][pos] == DELETED:
            raise NotFound(obj_id)
        if resource in ("customers", "coupons") and obj_id in self._deleted[resource[:-1]]:
            raise NotFound(obj_id)
        if resource in ("products", "variations"):
            if self.products["deleted"][pos] or bool(self.products["variation"][pos]) != (
                resource == "variations"
            ):
                raise NotFound(obj_id)
            if parent_id is not None and self.products["parent"][pos] != parent_id:
                raise NotFound(obj_id)
        if resource == "order_refunds" and (
            self.refunds["parent"][pos] != parent_id or self.refunds["status"][pos]
        ):
            raise NotFound(obj_id)
        if probe:
            return {}
        render = {
            "orders": self._order_dict,
            "subscriptions": self._sub_dict,
            "customers": self._customer_dict,
            "products": self._product_dict,
            "variations": self._product_dict,
            "coupons": self._coupon_dict,
            "order_refunds": self._refund_by_pos,
        }
        return render[resource](pos)

    def subscription_orders(self, sub_id: int) -> list[bytes]:
        """WCS /subscriptions/<id>/orders: parent and renewal orders with `order_type`, unpaginated."""
        with self.lock:
            self.requests_served += 1
            spos = self.subs.pos_of(sub_id)
            if spos is None:
                raise NotFound(sub_id)
            related = np.flatnonzero((self.orders["sub"] == spos) & (self.orders["status"] != DELETED))
            out = []
            for pos in related[::-1].tolist():
                obj = self._order_dict(pos)
                obj["order_type"] = "parent" if self.orders["kind"][pos] == KIND_PARENT else "renewal"
                out.append(wp_json(obj))
            return out

    def order_exists(self, order_id: int) -> bool:
        with self.lock:
            try:
                self._order_pos(order_id)
            except NotFound:
                return False
            return True

    def _user_by_email(self, email: str) -> int:
        """Registered user id for an e-mail (buyer e-mails embed the buyer index; verify by regenerating)."""
        email = email.strip().lower()
        local = email.split("@")[0]
        sk = self.sk
        for digits in re.findall(r"\d+", local):
            buyer = int(digits)
            if buyer < len(sk.b_first):
                profile_email = buyer_email(
                    FIRST_NAMES[sk.b_first[buyer]], LAST_NAMES[sk.b_last[buyer]], buyer
                )
                if profile_email.lower() == email and sk.b_user[buyer]:
                    return int(sk.b_user[buyer])
        return -1

    def _search_mask(self, term: str) -> np.ndarray:
        """Per-buyer match of WooCommerce-style search (name and e-mail), built once on first use."""
        if self._search_text is None:
            n = len(self.sk.b_first)
            self._search_text = np.array(
                [
                    f"{p.first} {p.last} {p.email}".casefold()
                    for p in (self.renderer.profile(b) for b in range(n))
                ]
            )
        return np.char.find(self._search_text, term.casefold()) >= 0

    # ------------------------------------------------------------------ control: orders

    def get_order(self, order_id: int) -> dict[str, Any]:
        """The order as the API would return it (a fresh dict)."""
        with self.lock:
            return json.loads(wp_json(self._order_dict(self._order_pos(order_id))))

    def get_refunds(self, order_id: int) -> list[dict[str, Any]]:
        with self.lock:
            return deepcopy(self._refunds_of(self._order_pos(order_id)))

    def _take_post_id(self) -> int:
        post_id = self._next_post_id
        self._next_post_id += 1
        return post_id

    def _changed_order(self, pos: int, bump_modified: bool, **columns: Any) -> None:
        if bump_modified:
            columns["modified"] = self._now
            columns["modified_w"] = self.tz.to_wall(self._now)
        if columns:
            self.orders.set(pos, **columns)
        else:
            self.orders.touch()
        self.cache.drop(("o", int(self.orders["id"][pos])))

    def create_order(
        self,
        *,
        status: str = "processing",
        customer_id: int | None = None,
        email: str | None = None,
        line_items: list[dict[str, int]] | None = None,
        coupon: str | None = None,
    ) -> dict[str, Any]:
        """A new order created now with the next post id (as a checkout would); returns it."""
        if status not in OS or status in ("trash", "refunded"):
            raise ValueError(f"cannot create an order with status {status!r}")
        with self.lock:
            order_id = self._take_post_id()
            rng = random.Random(f"{self.config.seed}:created:{order_id}")
            buyer = self._buyer_for(customer_id, rng)
            now = self._now
            paid = now if status in ("processing", "completed") else 0
            spec = OrderSpec(
                id=order_id,
                created=now,
                paid=paid,
                completed=now if status == "completed" else 0,
                modified=now,
                status=status,
                customer_id=int(self.sk.b_user[buyer]) if customer_id is None else customer_id,
                buyer=buyer,
                coupon=self._coupon_idx(coupon),
                kind=KIND_CREATED,
                email=email,
                lines=self._line_specs(line_items) if line_items else None,
            )
            if customer_id is None and rng.random() < 0.35:
                spec.customer_id = 0  # guest checkout
            order = self.renderer.build_order(spec, status)
            self._order_overrides[order_id] = order
            self.orders.append(
                id=order_id,
                created=now,
                created_w=self.tz.to_wall(now),
                modified=now,
                modified_w=self.tz.to_wall(now),
                paid=paid,
                completed=spec.completed,
                status=OS[status],
                customer=spec.customer_id,
                buyer=buyer,
                coupon=spec.coupon,
                kind=KIND_CREATED,
                sub=-1,
            )
            self._order_event("order.created", order_id)
            return self.get_order(order_id)

    def _buyer_for(self, customer_id: int | None, rng: random.Random) -> int:
        if customer_id is None:
            return rng.randrange(len(self.sk.b_first))
        pos = self.customers.pos_of(customer_id)
        if pos is None or pos == 0:
            raise ValueError(f"no customer {customer_id}")
        return int(self.customers["buyer"][pos])

    def _coupon_idx(self, code: str | None) -> int:
        if code is None:
            return -1
        for c in self.catalog.coupons:
            if c.code == code.lower():
                return c.idx
        raise ValueError(f"no coupon {code!r}")

    def _line_specs(self, line_items: list[dict[str, int]]) -> list[tuple[int, int]]:
        by_post = self.catalog.by_post_id()
        out = []
        for item in line_items:
            product = by_post.get(int(item.get("variation_id") or item.get("product_id") or 0))
            if product is None or not product.sellable:
                raise ValueError(f"not a sellable product/variation: {item}")
            out.append((product.idx, int(item.get("quantity", 1))))
        return out

    def _editable_copy(self, pos: int) -> dict[str, Any]:
        """A deep copy of the order to change and keep as its override."""
        return deepcopy(self._order_dict(pos))

    def modify_order(self, order_id: int, *, bump_modified: bool = True, **fields: Any) -> dict[str, Any]:
        """Change top-level fields: status, customer_note, billing/shipping parts, meta_data {key: value}."""
        unknown = set(fields) - _MODIFIABLE
        if unknown:
            raise ValueError(f"cannot modify: {', '.join(sorted(unknown))}")
        with self.lock:
            pos = self._order_pos(order_id)
            order = self._editable_copy(pos)
            columns: dict[str, Any] = {}
            for name, value in fields.items():
                if name in ("billing", "shipping"):
                    order[name].update(value)
                elif name == "meta_data":
                    self._merge_meta(order, value)
                elif name == "status":
                    columns.update(self._status_columns(pos, value))
                else:
                    order[name] = value
                    if name == "customer_id":
                        columns["customer"] = int(value)
            self._order_overrides[order_id] = order
            self._changed_order(pos, bump_modified, **columns)
            self._order_event("order.updated", order_id)
            return self.get_order(order_id)

    def _merge_meta(self, order: dict[str, Any], changes: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Set meta by key; new rows get fresh ids above every generated one (auto-increment)."""
        pairs = changes.items() if isinstance(changes, dict) else ((m["key"], m["value"]) for m in changes)
        meta = order["meta_data"]
        for key, value in pairs:
            existing = next((m for m in meta if m["key"] == key), None)
            if existing is not None:
                existing["value"] = value
            else:
                self._next_meta_id += 1
                meta.append({"id": self._next_meta_id, "key": key, "value": value})

    def _status_columns(self, pos: int, status: str) -> dict[str, Any]:
        if status not in OS:
            raise ValueError(f"unknown order status {status!r}")
        columns: dict[str, Any] = {"status": OS[status]}
        if status in ("processing", "completed") and not self.orders["paid"][pos]:
            columns["paid"] = self._now
        if status == "completed" and not self.orders["completed"][pos]:
            columns["completed"] = self._now
        return columns

    def trash_order(self, order_id: int) -> dict[str, Any]:
        """Move to trash (bumps date_modified; `status=any` no longer lists it)."""
        with self.lock:
            pos = self._order_pos(order_id)
            if self._status_name(pos) == "trash":
                raise ValueError("already trashed")
            self._trashed_from[order_id] = int(self.orders["status"][pos])
            self._changed_order(pos, True, status=OS["trash"])
            # order.deleted fires on trash (wp_trash_post / woocommerce_trash_order) with only the id [C1].
            self.notifier.deleted("order", order_id)
            return self.get_order(order_id)

    def restore_order(self, order_id: int) -> dict[str, Any]:
        """Undo trash_order (the previous status comes back)."""
        with self.lock:
            pos = self._order_pos(order_id)
            previous = self._trashed_from.pop(order_id, OS["completed"])
            self._changed_order(pos, True, status=previous)
            self._order_event("order.restored", order_id)
            return self.get_order(order_id)

    def delete_order(self, order_id: int) -> None:
        """Force-delete: the order and its refunds disappear everywhere (no tombstone, like WooCommerce). No
        webhook: order.deleted is hooked to trashing, a force delete emits nothing [INF from the hook list]."""
        with self.lock:
            pos = self._order_pos(order_id)
            self._changed_order(pos, False, status=DELETED)
            for rpos in self._order_refunds.get(pos, []):
                self.refunds.set(rpos, status=DELETED)

    def add_refund(
        self,
        order_id: int,
        amount: str | Decimal | None = None,
        line_id: int | None = None,
        *,
        quantity: int = 1,
        reason: str = "",
        bump_modified: bool = True,
    ) -> dict[str, Any]:
        """Refund now. No amount/line: everything left. bump_modified=False is what PayPal IPN refunds do:
        the refund exists (in /orders/<id>/refunds and the order's refunds[]) but date_modified stays."""
        with self.lock:
            pos = self._order_pos(order_id)
            order = self._order_dict(pos)
            existing = self._refunds_of(pos)
            remaining = dec(order["total"]) - sum((dec(r["amount"]) for r in existing), ZERO)
            if remaining <= 0:
                raise ValueError("order is fully refunded")
            refund_id, now, r = self._take_post_id(), self._now, self.renderer
            if line_id is not None:
                if not any(li["id"] == line_id for li in order["line_items"]):
                    raise ValueError(f"order {order_id} has no line item {line_id}")
                refund = r.line_refund(order, refund_id, now, line_id, quantity, remaining)
            elif amount is not None:
                value = rnd(Decimal(str(amount)), self.config.dp)
                if not ZERO < value <= remaining:
                    raise ValueError("Invalid refund amount.")
                refund = r.amount_refund(order, refund_id, now, value)
            elif not existing:
                refund = r.full_refund(order, refund_id, now, remaining)
            else:
                refund = r.amount_refund(order, refund_id, now, remaining)
            refund["reason"] = reason
            refund["refunded_payment"] = order["payment_method"] in ("stripe", "ppcp-gateway")
            self._refund_overrides[refund_id] = refund
            rpos = self.refunds.append(
                id=refund_id,
                order=pos,
                created=now,
                created_w=self.tz.to_wall(now),
                modified=now,
                modified_w=self.tz.to_wall(now),
                kind=-1,
                bump=bump_modified,
                status=0,
                parent=order_id,
            )
            self._order_refunds.setdefault(pos, []).append(rpos)
            columns: dict[str, Any] = {}
            if dec(refund["amount"]) == remaining:
                columns["status"] = OS["refunded"]  # WooCommerce marks fully refunded orders itself.
            self._changed_order(pos, bump_modified, **columns)
            # woocommerce_order_refunded feeds order.updated, whether or not date_modified moved [C1].
            self._order_event("order.updated", order_id)
            return deepcopy(refund)

    def edit_line_item(
        self,
        order_id: int,
        line_id: int,
        *,
        quantity: int | None = None,
        total: str | Decimal | None = None,
        bump_modified: bool = False,
    ) -> dict[str, Any]:
        """Change a line's quantity and/or total and recompute the order. Default: date_modified is NOT
        bumped, like line-item edits on CPT stores (woocommerce#34798)."""
        with self.lock:
            pos = self._order_pos(order_id)
            order = self._editable_copy(pos)
            line = next((li for li in order["line_items"] if li["id"] == line_id), None)
            if line is None:
                raise ValueError(f"order {order_id} has no line item {line_id}")
            dp = self.config.dp
            old_qty = abs(int(line["quantity"])) or 1
            subtotal, line_total = dec(line["subtotal"]), dec(line["total"])
            if quantity is not None:
                if quantity < 1:
                    raise ValueError("quantity must be >= 1")
                subtotal = rnd(subtotal * quantity / old_qty, dp)
                line_total = rnd(line_total * quantity / old_qty, dp)
                line["quantity"] = quantity
            if total is not None:
                line_total = rnd(Decimal(str(total)), dp)
                subtotal = max(subtotal, line_total)
            amounts, taxes = self.renderer.tax_amounts(subtotal, line_total, bool(line["taxes"]))
            line.update(
                {
                    "subtotal": fmt(amounts.subtotal, dp),
                    "subtotal_tax": fmt(amounts.subtotal_tax, dp),
                    "total": fmt(amounts.total, dp),
                    "total_tax": fmt(amounts.total_tax, dp),
                    "taxes": taxes,
                    "price": float(amounts.total / line["quantity"])
                    if amounts.total
                    else 0,  # JSON number, see render
                }
            )
            apply_totals(order, dp)
            self._order_overrides[order_id] = order
            self._changed_order(pos, bump_modified)
            if bump_modified:
                # [INF] an edit that saves the order (and bumps date_modified) fires woocommerce_update_order; the
                # silent CPT line-item edit (woocommerce#34798) is taken to fire nothing.
                self._order_event("order.updated", order_id)
            return self.get_order(order_id)

    # ------------------------------------------------------------------ control: customers, products, coupons

    def _resource_pos(self, resource: str, obj_id: int) -> tuple[Table, int]:
        rest = {"customer": "customers", "product": "products", "coupon": "coupons"}[resource]
        table = {"customer": self.customers, "product": self.products, "coupon": self.coupons}[resource]
        self._item_dict(rest, obj_id, None, probe=True)  # NotFound for unknown, deleted or variation ids
        pos = table.pos_of(obj_id)
        if pos is None or (resource == "customer" and pos == 0):
            raise NotFound(obj_id)
        return table, pos

    def _touch_resource(self, resource: str, obj_id: int, table: Table, pos: int, **columns: Any) -> None:
        """Bump date_modified (table column and catalogue entry) and drop the cached JSON."""
        columns["modified"] = self._now
        if table.has("modified_w"):
            columns["modified_w"] = self.tz.to_wall(self._now)
        table.set(pos, **columns)
        if resource == "product":
            self.catalog.products[int(table["idx"][pos])].modified = self._now
        elif resource == "coupon":
            self.catalog.coupons[int(table["idx"][pos])].modified = self._now
        tag = {"customer": "c", "product": "p"}.get(resource, f"k{self.orders.generation}")
        self.cache.drop((tag, obj_id))

    def update_resource(self, resource: str, obj_id: int, **fields: Any) -> dict[str, Any]:
        """Change REST fields of a customer, product or coupon (see _EDITABLE); fires `<resource>.updated`."""
        if resource not in _EDITABLE:
            raise ValueError(f"unknown resource {resource!r}")
        unknown = set(fields) - _EDITABLE[resource]
        if unknown:
            raise ValueError(f"cannot modify: {', '.join(sorted(unknown))}")
        with self.lock:
            table, pos = self._resource_pos(resource, obj_id)
            override = self._resource_overrides.setdefault((resource, obj_id), {})
            for name, value in fields.items():
                if name in ("billing", "shipping"):
                    if not isinstance(value, dict):
                        raise ValueError(f"{name} must be an object")
                    override[name] = {**override.get(name, {}), **value}
                else:
                    override[name] = value
            self._touch_resource(resource, obj_id, table, pos)
            rest = resource + "s"
            self.notifier.emit(f"{resource}.updated", lambda: wp_json(self._item_dict(rest, obj_id, None)))
            return json.loads(wp_json(self._item_dict(rest, obj_id, None)))

    def delete_resource(self, resource: str, obj_id: int) -> dict[str, Any]:
        """Products go to the trash (gone from the API, like the emulator's other trashed products); customers
        and coupons are deleted. Fires `<resource>.deleted` with the id [C1]."""
        with self.lock:
            table, pos = self._resource_pos(resource, obj_id)
            if resource == "product":
                # Only the listing column: the catalogue entry's `deleted` means "force-deleted", which would
                # change how old orders render their lines; a trashed product keeps them as they are.
                self._touch_resource(resource, obj_id, table, pos, deleted=True)
            else:
                self._deleted[resource].add(obj_id)
                self._touch_resource(resource, obj_id, table, pos)
            self.notifier.deleted(resource, obj_id)
            return {"id": obj_id, "deleted": True}

    def create_customer(
        self, email: str | None = None, first_name: str | None = None, last_name: str | None = None
    ) -> dict[str, Any]:
        """Register a customer now: an earlier guest buyer (or any buyer) signs up; fires customer.created."""
        with self.lock:
            rng = random.Random(f"{self.config.seed}:new-customer:{self.customers.n}")
            guests = np.flatnonzero(self.sk.b_user == 0)
            buyer = int(guests[rng.randrange(len(guests))]) if len(guests) else rng.randrange(len(self.sk.b_user))
            user_id = int(self.customers["id"].max()) + 1  # users have their own id sequence
            self.sk.b_user[buyer] = user_id
            now = self._now
            # [INF approximation] the display-name sort rank of a new customer is "after everyone".
            rank = int(self.customers["name"].max()) + 1
            self.customers.append(
                id=user_id, buyer=buyer, created=now, created_w=self.tz.to_wall(now), modified=now, name=rank, role=1
            )
            fields = {"email": email, "first_name": first_name, "last_name": last_name}
            self._resource_overrides[("customer", user_id)] = {k: v for k, v in fields.items() if v is not None}
            return self._created("customer", user_id)

    def create_coupon(
        self, code: str, amount: str = "10", discount_type: str = "percent", description: str = ""
    ) -> dict[str, Any]:
        """A coupon created now (usable in create_order); fires coupon.created."""
        code = str(code).strip().lower()
        if not code or any(c.code == code for c in self.catalog.coupons):
            raise ValueError(f"coupon code {code!r} is empty or exists already")
        if discount_type not in ("percent", "fixed_cart", "fixed_product"):
            raise ValueError("discount_type must be percent, fixed_cart or fixed_product")
        with self.lock:
            now, post_id, idx = self._now, self._take_post_id(), len(self.catalog.coupons)
            value = rnd(Decimal(str(amount)), self.config.dp)
            coupon = Coupon(idx, code, discount_type, value, now, now, now, None, ZERO, 0.0, description, post_id)
            self.catalog.coupons.append(coupon)
            wall = self.tz.to_wall(now)
            self.coupons.append(id=post_id, idx=idx, created=now, created_w=wall, modified=now, modified_w=wall)
            self.coupons.set_column("title", _ranks([self.catalog.coupons[i].code for i in self.coupons["idx"]]))
            return self._created("coupon", post_id)

    def create_product(self, name: str, regular_price: str = "9.90", sku: str | None = None) -> dict[str, Any]:
        """A simple product published now; fires product.created."""
        with self.lock:
            now, post_id, idx = self._now, self._take_post_id(), len(self.catalog.products)
            price = rnd(Decimal(str(regular_price)), self.config.dp)
            product = Product(
                idx=idx,
                name=str(name),
                slug=f"{ascii_slug(str(name))}-{post_id}",
                sku=sku or f"NEW-{post_id}",
                type="simple",
                category=self.catalog.products[0].category,
                price=price,
                weight=0.0,  # never picked for generated orders
                created=now,
                modified=now,
                post_id=post_id,
            )
            self.catalog.products.append(product)
            self._sales[idx] = 0
            wall = self.tz.to_wall(now)
            self.products.append(
                id=post_id, idx=idx, created=now, created_w=wall, modified=now, modified_w=wall,
                price=float(price),  # the listing's sort key, as in the table built above; never money math
            )
            products = [self.catalog.products[i] for i in self.products["idx"]]
            self.products.set_column("title", _ranks([p.name.casefold() for p in products]))
            self.products.set_column("slug", _ranks([p.slug for p in products]))
            return self._created("product", post_id)

    def _created(self, resource: str, obj_id: int) -> dict[str, Any]:
        rest = resource + "s"
        self.notifier.emit(f"{resource}.created", lambda: wp_json(self._item_dict(rest, obj_id, None)))
        return json.loads(wp_json(self._item_dict(rest, obj_id, None)))

    def _order_event(self, topic: str, order_id: int) -> None:
        self.notifier.emit(topic, lambda: wp_json(self._order_dict(self._order_pos(order_id))))

    # ------------------------------------------------------------------ control: faults

    def decide_faults(self, method: str, route: str) -> tuple[float, Fault | None]:
        """Used by the HTTP layer: applies inserts now, returns (delay seconds, outcome fault)."""
        with self.lock:
            decision = self.faults.decide(method, route)
            for _ in range(decision.inserts):
                self.create_order()
            return decision.delay_s, decision.outcome

    def malformed_kind(self, order_id: int, route: str = "/wc/v3/orders") -> str | None:
        with self.lock:
            return self.faults.malformation(route, order_id)


def _fold(values: np.ndarray) -> np.ndarray:
    folded = {v: ascii_slug(v, " ") for v in set(values.tolist())}
    return np.array([folded[v] for v in values.tolist()])


def _ranks(keys: list[str]) -> np.ndarray:
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = np.arange(len(keys))
    return rank


def _status_mask(codes: np.ndarray, wanted: list[str], names: tuple[str, ...], trash: int) -> np.ndarray:
    """`any` is WordPress's any: every status except trash (which must be asked for explicitly)."""
    mask = np.zeros(len(codes), bool)
    for status in wanted:
        if status == "any":
            mask |= (codes >= 0) & (codes != trash)
        else:
            mask |= codes == names.index(status)
    return mask


def _with_parent(refund: dict[str, Any], parent_id: int) -> dict[str, Any]:
    """Store-wide /refunds adds parent_id right after id."""
    out = {"id": refund["id"], "parent_id": parent_id}
    out.update((k, v) for k, v in refund.items() if k != "id")
    return out


def _filter_fields(obj: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """WordPress `_fields`: keep listed top-level keys, or nested ones written as `a.b`."""
    if not fields:
        return obj
    out: dict[str, Any] = {}
    for name in fields:
        head, _, rest = name.partition(".")
        if head not in obj:
            continue
        if rest and isinstance(obj[head], dict):
            inner = _filter_fields(obj[head], [rest])
            out[head] = {**out.get(head, {}), **inner}
        else:
            out[head] = obj[head]
    return {k: out[k] for k in obj if k in out}


_MONEY_KEYS = {
    "discount_total",
    "discount_tax",
    "shipping_total",
    "shipping_tax",
    "cart_tax",
    "total",
    "total_tax",
    "subtotal",
    "subtotal_tax",
    "tax_total",
    "shipping_tax_total",
    "discount",
}


def _redecimal(obj: Any, dp: int) -> Any:
    """The `dp` parameter: money strings re-formatted with another number of decimals."""
    if isinstance(obj, dict):
        return {
            k: (fmt(dec(v), dp) if k in _MONEY_KEYS and isinstance(v, str) and v else _redecimal(v, dp))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_redecimal(v, dp) for v in obj]
    return obj
