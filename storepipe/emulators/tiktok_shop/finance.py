"""Finance v202309: daily statements (00:00 UTC) filled as orders settle 3–31 days after delivery, plus
order-less adjustments; every transaction and statement obeys settlement = revenue + fee + adjustment.
Finance v202507: estimates for the delivered orders whose statement is not issued yet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from storepipe.emulators.tiktok_shop.config import DAY
from storepipe.emulators.tiktok_shop.data import CENT, ZERO, Order, money, stable_hash
from storepipe.emulators.tiktok_shop.errors import bad_request
from storepipe.emulators.tiktok_shop.paging import (
    decode_cursor,
    encode_cursor,
    keyset_page,
    page_size_param,
    sort_order_param,
    within,
)
from storepipe.emulators.tiktok_shop.render import happened, settle_time

if TYPE_CHECKING:
    from storepipe.emulators.tiktok_shop.store import TikTokStore

STATEMENT_ID_BASE = 7_300_000_000_000_000_000
ADJUSTMENT_ID_BASE = 7_500_000_000_000_000_000
REFERRAL_RATE = Decimal(6)  # percent of net product revenue (US referral fee)
AFFILIATE_RATE = Decimal(10)  # percent, on affiliate-driven orders
# Statements are paid out a few days after they are issued [INF].
PAYOUT_DELAY = 3 * DAY
# (adjustment type [C1: LY list], lowest cents, highest cents); negative = charged to the seller.
ADJUSTMENT_TYPES = [
    ("SHIPPING_FEE_ADJUSTMENT", -1200, -150),
    ("SHIPPING_FEE_COMPENSATION", 300, 1500),
    ("CHARGE_BACK", -9000, -1000),
    ("CUSTOMER_SERVICE_COMPENSATION", 500, 3000),
    ("PLATFORM_COMPENSATION", 500, 4000),
    ("PLATFORM_PENALTY", -5000, -500),
    ("DEDUCTIONS_INCURRED_BY_SELLER", -6000, -500),  # e.g. ad spend deducted from the payout
    ("LOGISTICS_REIMBURSEMENT", 200, 2500),
    ("OTHER_ADJUSTMENT", -2000, 2000),
]


def _pct(amount: Decimal, percent: Decimal) -> Decimal:
    return (amount * percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class Transaction:
    id: str
    type: str
    order_id: str
    adjustment_id: str
    order_create_time: int
    revenue: Decimal
    fee: Decimal
    adjustment: Decimal
    shipping_cost: Decimal
    gross_sales: Decimal
    seller_discount: Decimal
    referral_fee: Decimal
    affiliate_commission: Decimal

    @property
    def settlement(self) -> Decimal:
        return self.revenue + self.fee + self.adjustment

    def render(self, currency: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "order_id": self.order_id,
            "adjustment_id": self.adjustment_id,
            "adjustment_order_id": "",
            "order_create_time": self.order_create_time,
            "currency": currency,
            "settlement_amount": money(self.settlement),
            "revenue_amount": money(self.revenue),
            "fee_amount": money(self.fee),
            "adjustment_amount": money(self.adjustment),
            "shipping_cost_amount": money(self.shipping_cost),
            "gross_sales_amount": money(self.gross_sales),
            "seller_discount_amount": money(-self.seller_discount),
            "net_sales_amount": money(self.gross_sales - self.seller_discount),
            "referral_fee_amount": money(self.referral_fee),
            "affiliate_commission_amount": money(self.affiliate_commission),
            "transaction_fee_amount": "0.00",
            # US marketplace-facilitator tax is remitted by the platform, so it never reaches the seller [INF].
            "sales_tax_amount": "0.00",
        }


def order_transaction(order: Order) -> Transaction:
    """An ORDER transaction. Costs are negative strings [C2]. [INF] v202309 keeps shipping inside fee_amount
    (shipping_cost_amount is reported as its own component too), so settlement = revenue + fee + adjustment."""
    gross = sum((line.original_price for line in order.lines), ZERO)
    seller_discount = sum((line.seller_discount for line in order.lines), ZERO)
    customer_shipping = order.original_shipping_fee - order.shipping_fee_seller_discount
    customer_shipping -= order.shipping_fee_platform_discount
    if order.shipping_type == "TIKTOK":
        # [INF] The platform keeps what the buyer paid for shipping (plus its own subsidy) and buys the label
        # at the quoted fee, so the seller only bears its own shipping discount.
        shipping_income, shipping_cost = ZERO, -order.shipping_fee_seller_discount
    else:
        # Seller-shipped: the buyer's shipping fee and the platform's subsidy are paid out to the seller.
        shipping_income, shipping_cost = customer_shipping + order.shipping_fee_platform_discount, ZERO
    # Platform-funded discounts are reimbursed to the seller, so revenue is before them.
    revenue = gross - seller_discount + shipping_income
    product_revenue = gross - seller_discount
    referral = -_pct(product_revenue, REFERRAL_RATE)
    affiliate = -_pct(product_revenue, AFFILIATE_RATE) if order.affiliate else ZERO
    return Transaction(
        id=str(int(order.id) + 10**17),
        type="ORDER",
        order_id=order.id,
        adjustment_id="",
        order_create_time=order.create_time,
        revenue=revenue,
        fee=referral + affiliate + shipping_cost,
        adjustment=ZERO,
        shipping_cost=shipping_cost,
        gross_sales=gross,
        seller_discount=seller_discount,
        referral_fee=referral,
        affiliate_commission=affiliate,
    )


def adjustment_transactions(seed: int, every_days: int, day: int) -> list[Transaction]:
    """Order-less adjustments of one statement day [C1: idx:63128241864], decided by (seed, day) alone."""
    index = day // DAY
    draw = stable_hash(seed, "adjustment", index)
    if every_days <= 0 or draw % every_days:
        return []
    kind, low, high = ADJUSTMENT_TYPES[(draw >> 8) % len(ADJUSTMENT_TYPES)]
    amount = Decimal(low + (draw >> 16) % (high - low + 1)) / 100
    adjustment_id = str(ADJUSTMENT_ID_BASE + index * 100)
    return [
        Transaction(
            id=str(int(adjustment_id) + 1),
            type=kind,
            order_id="",
            adjustment_id=adjustment_id,
            # [INF] adjustments have no order; their own creation time (the previous day) stands in.
            order_create_time=day - DAY + (draw >> 32) % DAY,
            revenue=ZERO,
            fee=ZERO,
            adjustment=amount,
            shipping_cost=ZERO,
            gross_sales=ZERO,
            seller_discount=ZERO,
            referral_fee=ZERO,
            affiliate_commission=ZERO,
        )
    ]


def statement_day(order: Order) -> int | None:
    """The statement_time (00:00 UTC) of the statement that will carry the order, None if it never settles."""
    settled = settle_time(order)
    return None if settled is None else settled - settled % DAY


def statement_issued(day: int, now: int) -> bool:
    """A statement for [day, day + 1d) is issued once the day is over [INF: the fact sheet only says daily at
    00:00 UTC]."""
    return day + DAY <= now


def statement_id(seed: int, day: int) -> str:
    index = day // DAY
    return str(STATEMENT_ID_BASE + index * 10_000 + stable_hash(seed, "statement", index) % 10_000)


def _int_param(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise bad_request(f"{name} must be a unix timestamp in seconds.") from exc


class Ledger:
    """Computes statements from the store's orders at the current emulator clock (cached per clock
    value and order-mutation generation, so control-API changes show up consistently)."""

    def __init__(self, store: TikTokStore) -> None:
        self.store = store
        self._cache: tuple[tuple[int, int], dict[int, list[Transaction]]] | None = None
        self._unsettled: tuple[tuple[Any, ...], list[tuple[Order, int, Transaction]], dict[str, str]] | None = None

    def _days(self, now: int) -> dict[int, list[Transaction]]:
        key = (now, self.store.generation)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._compute_days(now))
        return self._cache[1]

    def _compute_days(self, now: int) -> dict[int, list[Transaction]]:
        """Statement day → transactions, for every statement already issued."""
        cfg = self.store.config
        by_day: dict[int, list[Transaction]] = {}
        for order in self.store.orders:
            day = statement_day(order)
            if day is not None and statement_issued(day, now):
                by_day.setdefault(day, []).append(order_transaction(order))
        first = cfg.start_epoch - cfg.start_epoch % DAY
        day = first
        while statement_issued(day, now):
            extra = adjustment_transactions(cfg.seed, cfg.adjustment_every_days, day)
            if extra:
                by_day.setdefault(day, []).extend(extra)
            day += DAY
        return by_day

    def _statement(self, day: int, transactions: list[Transaction], now: int) -> dict[str, Any]:
        cfg = self.store.config
        revenue = sum((t.revenue for t in transactions), ZERO)
        fee = sum((t.fee for t in transactions), ZERO)
        adjustment = sum((t.adjustment for t in transactions), ZERO)
        paid = now >= day + DAY + PAYOUT_DELAY
        sid = statement_id(cfg.seed, day)
        return {
            "id": sid,
            "statement_time": day,
            "currency": cfg.currency,
            "settlement_amount": money(revenue + fee + adjustment),
            "revenue_amount": money(revenue),
            "fee_amount": money(fee),
            "adjustment_amount": money(adjustment),
            "shipping_cost_amount": money(sum((t.shipping_cost for t in transactions), ZERO)),
            "net_sales_amount": money(revenue),
            "payment_status": "PAID" if paid else "PROCESSING",
            "payment_id": str(int(sid) + 10**17) if paid else "",
        }

    def statements(self, query: Mapping[str, str]) -> dict[str, Any]:
        if query.get("sort_field") != "statement_time":
            raise bad_request("sort_field is required and must be statement_time.")
        sort_order = sort_order_param(query, "ASC")  # default ASC [C2]
        size = page_size_param(query, default=20)
        ge, lt = _int_param(query, "statement_time_ge"), _int_param(query, "statement_time_lt")
        status = query.get("payment_status")
        with self.store.lock:
            now = self.store.now
            rows = []
            for day, transactions in sorted(self._days(now).items(), reverse=sort_order == "DESC"):
                if (ge is not None and day < ge) or (lt is not None and day >= lt):
                    continue
                statement = self._statement(day, transactions, now)
                if status and statement["payment_status"] != status:
                    continue
                rows.append(statement)
        total = len(rows)
        token = query.get("page_token") or ""
        if token:
            (last_raw,) = decode_cursor(token, 1)
            last = int(last_raw)
            rows = [
                r for r in rows if (r["statement_time"] < last if sort_order == "DESC" else r["statement_time"] > last)
            ]
        page = rows[:size]
        more = len(rows) > size
        return {
            "statements": page,
            "total_count": total,
            "next_page_token": encode_cursor(page[-1]["statement_time"]) if more else "",
        }

    def statement_transactions(self, sid: str, query: Mapping[str, str]) -> dict[str, Any]:
        if query.get("sort_field") != "order_create_time":
            raise bad_request("sort_field is required and must be order_create_time.")
        sort_order = sort_order_param(query, "ASC")  # [INF] default not documented here
        size = page_size_param(query, default=20)
        cfg = self.store.config
        try:
            day = (int(sid) - STATEMENT_ID_BASE) // 10_000 * DAY
        except ValueError:
            day = -1
        with self.store.lock:
            now = self.store.now
            transactions = self._days(now).get(day) if statement_id(cfg.seed, day) == sid else None
            if transactions is None:
                raise bad_request("statement_id is invalid.")  # [INF] unknown or not yet issued
            statement = self._statement(day, transactions, now)
        rows = sorted(transactions, key=lambda t: (t.order_create_time, t.id), reverse=sort_order == "DESC")
        offset = 0
        token = query.get("page_token") or ""
        if token:
            (offset_raw,) = decode_cursor(token, 1)
            offset = int(offset_raw)  # a statement never changes once issued, so an offset cursor is stable
        page = rows[offset : offset + size]
        more = offset + size < len(rows)
        return {
            "statement_id": sid,
            "statement_time": day,
            "currency": cfg.currency,
            "settlement_amount": statement["settlement_amount"],
            "revenue_amount": statement["revenue_amount"],
            "fee_amount": statement["fee_amount"],
            "adjustment_amount": statement["adjustment_amount"],
            "total_count": len(rows),
            "next_page_token": encode_cursor(offset + size) if more else "",
            "statement_transactions": [t.render(cfg.currency) for t in page],
        }

    def unsettled(self, query: Mapping[str, str]) -> dict[str, Any]:
        """GET /finance/202507/orders/unsettled: one estimate per delivered order whose statement is not issued yet
        (the same rule that puts it into a statement, so it leaves this list exactly when it enters one)."""
        if query.get("sort_field") != "order_create_time":
            raise bad_request("sort_field is required and must be order_create_time.")
        sort_order = sort_order_param(query, "ASC")  # [INF] default not documented
        size = page_size_param(query, default=20)  # ≤100 [C2]; [INF] the default is not documented
        # [INF] which instant search_time_ge/lt window is not documented; the order's create_time here.
        ge, lt = _int_param(query, "search_time_ge"), _int_param(query, "search_time_lt")
        descending = sort_order == "DESC"

        def key(row: tuple[Order, int, Transaction]) -> tuple[int, int]:
            return row[2].order_create_time, int(row[2].id)

        with self.store.lock:
            # One (clock, generation, filter) computes the list and its sums; its pages only slice it.
            cache_key = (self.store.now, self.store.generation, ge, lt, descending)
            if self._unsettled is None or self._unsettled[0] != cache_key:
                rows: list[tuple[Order, int, Transaction]] = []
                for order in self.store.orders:
                    day = statement_day(order)
                    if day is None or statement_issued(day, self.store.now):
                        continue
                    if happened(order, order.delivery_time, self.store.now) and within(order.create_time, ge, lt):
                        rows.append((order, settle_time(order) or 0, order_transaction(order)))
                rows.sort(key=key, reverse=descending)
                estimates = [_estimate(t) for _, _, t in rows]
                sums = {f"sum_{name}": money(sum((e[name] for e in estimates), ZERO)) for name in ESTIMATES}
                self._unsettled = (cache_key, rows, sums)
            _, rows, sums = self._unsettled
        page, next_token = keyset_page(rows, key, size, query.get("page_token") or "", (sort_order,), descending)
        currency = self.store.config.currency
        return {
            "transactions": [_render_estimate(order, settled, t, currency) for order, settled, t in page],
            **sums,
            "total_count": len(rows),
            "next_page_token": next_token,
        }


ESTIMATES = (
    "est_revenue_amount",
    "est_shipping_cost_amount",
    "est_fee_tax_amount",
    "est_adjustment_amount",
    "est_settlement_amount",
)


def _estimate(transaction: Transaction) -> dict[str, Decimal]:
    """The 202507 split of an order transaction: shipping cost leaves fee_amount for a component of its own, so
    revenue + shipping cost + fee/tax + adjustment = settlement (additive signed values, costs negative) [INF, as
    for the 202501 statements: the docs' subtractive formula does not match their negative examples]."""
    return {
        "est_revenue_amount": transaction.revenue,
        "est_shipping_cost_amount": transaction.shipping_cost,
        "est_fee_tax_amount": transaction.fee - transaction.shipping_cost,
        "est_adjustment_amount": transaction.adjustment,
        "est_settlement_amount": transaction.settlement,
    }


def _render_estimate(order: Order, settled: int, transaction: Transaction, currency: str) -> dict[str, Any]:
    return {
        "id": transaction.id,  # the id the transaction keeps once it reaches a statement
        "type": "ORDER",
        "status": "UNSETTLED",  # [INF] value not documented
        "currency": currency,
        "order_id": order.id,
        "adjustment_id": "",
        "order_create_time": order.create_time,
        "order_delivery_time": order.delivery_time,
        # The docs show both an epoch string and text like "15 days after delivery" [C2]; the epoch form here.
        "estimated_settlement": str(settled),
        "unsettled_reason": "",  # [INF] reasons not documented; no holds are modelled
        **{name: money(value) for name, value in _estimate(transaction).items()},
    }
