"""Shop analytics (Data Analytics API): shop performance per day or range and per-product performance, computed
from the same orders the order endpoints serve, so a day's GMV and order count match an order search of that day.

UNVERIFIED: the research sheet documents no analytics endpoint. Paths and parameters follow public client code
(`GET /analytics/202405/shop/performance` with start_date_ge / end_date_lt (YYYY-MM-DD), granularity ALL|1D,
currency USD|LOCAL; answer `latest_available_date` and `performance.intervals[{start_date, end_date, gmv{amount,
currency}, orders, buyers, units_sold, …}]`; `GET /analytics/202405/shop_products/performance` paged by
page_token). Metric definitions are [INF]: a day is a UTC calendar day of the order's create_time (the real API
uses the shop's time zone); an order counts once it is paid (paid_time shown by the order API), cancelled or not;
GMV = Σ payment.total_amount of those orders; units = line items (one per unit); traffic (page views, visitors,
impressions) is synthetic, drawn from (seed, day) and scaled to the day's buyers."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from storepipe.emulators.tiktok_shop.config import DAY
from storepipe.emulators.tiktok_shop.data import ZERO, Order, money, stable_hash
from storepipe.emulators.tiktok_shop.errors import bad_request
from storepipe.emulators.tiktok_shop.paging import keyset_page, page_size_param, sort_order_param
from storepipe.emulators.tiktok_shop.render import happened, payment

if TYPE_CHECKING:
    from storepipe.emulators.tiktok_shop.store import TikTokStore

MAX_RANGE_DAYS = 365  # [INF] the real limit is not known
# Where GMV came from [INF]: auctions are LIVE; other orders are split between videos and product cards.
SOURCES = ("LIVE", "VIDEO", "PRODUCT_CARD")


@dataclass
class DayStats:
    orders: int = 0
    gmv: Decimal = ZERO
    units: int = 0
    sku_orders: int = 0
    buyers: set[str] = field(default_factory=set)
    by_source: dict[str, Decimal] = field(default_factory=dict)

    def add(self, other: DayStats) -> None:
        self.orders += other.orders
        self.gmv += other.gmv
        self.units += other.units
        self.sku_orders += other.sku_orders
        self.buyers |= other.buyers
        for source, amount in other.by_source.items():
            self.by_source[source] = self.by_source.get(source, ZERO) + amount


def counted(order: Order, now: int) -> bool:
    """Whether an order is in the analytics: it has been paid (the same rule that shows paid_time)."""
    return happened(order, order.paid_time, now)


def source_of(seed: int, order: Order) -> str:
    if any(line.temporary for line in order.lines):
        return "LIVE"
    return SOURCES[1 + stable_hash(seed, "source", order.id) % 2]


def _date_param(query: Mapping[str, str], name: str) -> int:
    raw = query.get(name)
    if not raw:
        raise bad_request(f"{name} is required.")
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise bad_request(f"{name} must be a date in YYYY-MM-DD format.") from exc
    return int(day.timestamp())


def _iso(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day))


def _range(query: Mapping[str, str]) -> tuple[int, int]:
    start, end = _date_param(query, "start_date_ge"), _date_param(query, "end_date_lt")
    if end <= start:
        raise bad_request("end_date_lt must be after start_date_ge.")
    if end - start > MAX_RANGE_DAYS * DAY:
        raise bad_request(f"the date range must not exceed {MAX_RANGE_DAYS} days.")
    currency = query.get("currency") or "USD"
    if currency not in ("USD", "LOCAL"):
        raise bad_request("currency must be USD or LOCAL.")
    return start, end


class Analytics:
    """Per-day order statistics, cached per clock value and order generation (like the ledger)."""

    def __init__(self, store: TikTokStore) -> None:
        self.store = store
        self._cache: tuple[tuple[int, int], dict[int, DayStats]] | None = None
        # The last product table (every page of one listing reads it); keyed by clock, generation and range.
        self._products: tuple[tuple[int, int, int, int], dict[str, dict[str, Any]]] | None = None

    def days(self, now: int) -> dict[int, DayStats]:
        key = (now, self.store.generation)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        cfg = self.store.config
        by_day: dict[int, DayStats] = {}
        for order in self.store.orders:
            if not counted(order, now):
                continue
            stats = by_day.setdefault(order.create_time - order.create_time % DAY, DayStats())
            total = Decimal(payment(order, cfg.currency)["total_amount"])
            stats.orders += 1
            stats.gmv += total
            stats.units += len(order.lines)
            stats.sku_orders += len({line.sku_id for line in order.lines})
            stats.buyers.add(order.user_id)
            source = source_of(cfg.seed, order)
            stats.by_source[source] = stats.by_source.get(source, ZERO) + total
        self._cache = (key, by_day)
        return by_day

    def _interval(self, start: int, end: int, stats: DayStats) -> dict[str, Any]:
        cfg = self.store.config
        buyers = len(stats.buyers)
        # Synthetic traffic: 1.5–4.5 % of visitors buy, ~1.6 product pages each, ~12 impressions per view [INF].
        draw = stable_hash(cfg.seed, "traffic", start, end)
        visitors = max(buyers, round(buyers / (0.015 + (draw % 3000) / 100_000))) + draw % 40
        page_views = visitors + visitors * (5 + (draw >> 12) % 8) // 10
        amount = {"amount": money(stats.gmv), "currency": cfg.currency}
        return {
            "start_date": _iso(start),
            "end_date": _iso(end),
            "gmv": amount,
            "orders": stats.orders,
            "sku_orders": stats.sku_orders,
            "units_sold": stats.units,
            "buyers": buyers,
            "avg_order_value": {
                "amount": money(stats.gmv / stats.orders) if stats.orders else "0.00",
                "currency": cfg.currency,
            },
            "product_impressions": page_views * (10 + (draw >> 20) % 5),
            "product_page_views": page_views,
            "avg_product_page_visitors": visitors,
            "conversion_rate": f"{buyers / visitors:.4f}" if visitors else "0.0000",
            "gmv_breakdowns": [
                {"type": source, "amount": money(stats.by_source.get(source, ZERO)), "currency": cfg.currency}
                for source in SOURCES
            ],
        }

    def shop_performance(self, query: Mapping[str, str]) -> dict[str, Any]:
        start, end = _range(query)
        granularity = query.get("granularity") or "ALL"  # [INF] default
        if granularity not in ("ALL", "1D"):
            raise bad_request("granularity must be ALL or 1D.")
        with self.store.lock:
            now = self.store.now
            days = self.days(now)
            if granularity == "1D":
                intervals = [
                    self._interval(day, day + DAY, days.get(day, DayStats())) for day in range(start, end, DAY)
                ]
            else:
                total = DayStats()
                for day in range(start, end, DAY):
                    if day in days:
                        total.add(days[day])
                intervals = [self._interval(start, end, total)]
        # [INF] a day is final once it is over: yesterday is the latest complete day.
        latest = now - now % DAY - DAY
        return {"latest_available_date": _iso(latest), "performance": {"intervals": intervals}}

    def _product_rows(self, now: int, start: int, end: int) -> dict[str, dict[str, Any]]:
        key = (now, self.store.generation, start, end)
        if self._products is not None and self._products[0] == key:
            return self._products[1]
        products: dict[str, dict[str, Any]] = {}
        for order in self.store.orders:
            if not start <= order.create_time < end or not counted(order, now):
                continue
            seen: set[str] = set()
            for line in order.lines:
                row = products.setdefault(line.product_id, {"gmv": ZERO, "orders": 0, "units_sold": 0})
                row["gmv"] += line.sale_price
                row["units_sold"] += 1
                if line.product_id not in seen:
                    seen.add(line.product_id)
                    row["orders"] += 1
        self._products = (key, products)
        return products

    def product_performance(self, query: Mapping[str, str]) -> dict[str, Any]:
        """Per product over the range: GMV = Σ sale_price of its lines (before tax and shipping), orders, units."""
        start, end = _range(query)
        size = page_size_param(query, default=10)  # [INF] default and limits
        sort_field = query.get("sort_field") or "gmv"
        if sort_field not in ("gmv", "orders", "units_sold"):
            raise bad_request("sort_field must be gmv, orders or units_sold.")
        sort_order = sort_order_param(query, "DESC")
        cfg = self.store.config
        with self.store.lock:
            now = self.store.now
            products = self._product_rows(now, start, end)
        descending = sort_order == "DESC"

        def key(item: tuple[str, dict[str, Any]]) -> tuple[int, int]:
            value = item[1][sort_field]
            return (int(value * 100) if sort_field == "gmv" else value), int(item[0])

        rows = sorted(products.items(), key=key, reverse=descending)
        page, token = keyset_page(rows, key, size, query.get("page_token") or "", (sort_field, sort_order), descending)
        return {
            "shop_products": [
                {
                    "id": product_id,
                    "gmv": {"amount": money(row["gmv"]), "currency": cfg.currency},
                    "orders": row["orders"],
                    "units_sold": row["units_sold"],
                }
                for product_id, row in page
            ],
            "total_count": len(rows),
            "next_page_token": token,
            "latest_available_date": _iso(now - now % DAY - DAY),
        }
