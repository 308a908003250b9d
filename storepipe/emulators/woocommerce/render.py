"""Lazy, deterministic JSON rendering of orders, refunds, subscriptions, customers and catalogue items."""

from __future__ import annotations

import bisect
import hashlib
import json
import random
import string
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from storepipe.emulators.woocommerce.catalog import (
    Catalog,
    Coupon,
    Product,
    Profile,
    ascii_slug,
    make_profile,
)
from storepipe.emulators.woocommerce.config import EmulatorConfig, parse_instant, version_tuple
from storepipe.emulators.woocommerce.money import (
    ZERO,
    allocate,
    dec,
    fmt,
    fmt_raw,
    from_units,
    quantum,
    rnd,
    to_units,
)
from storepipe.emulators.woocommerce.skeleton import (
    KIND_PARENT,
    KIND_RENEWAL,
    REFUND_FULL,
    REFUND_LINE,
    VIA,
    Skeleton,
)
from storepipe.emulators.woocommerce.timeutil import TzTable, fmt_epoch

API = "/wp-json/wc/v3"
ATTRIBUTION_SINCE = 1704758400  # WooCommerce 8.5.0 release, 2024-01-09 (order attribution meta).
ATTRIBUTION_PREFIX = "_wc_order_attribution_"
TAX_RATE_ID = 1
# Meta ids: order meta and order-item meta live in different tables, each with its own id space; ids are
# derived from the owner's post id so they are stable, unique and grow with creation order.
ORDER_META_STRIDE = 24
ITEM_META_STRIDE = 32

# Approximate release dates of WooCommerce minor versions [UNV: from memory of the release blog; only the
# per-order `version` field uses them, stamped as the version running when the order was created].
_RELEASES = [
    ("5.8.0", "2021-10-12"),
    ("6.0.0", "2021-12-14"),
    ("6.2.0", "2022-02-08"),
    ("6.5.0", "2022-05-10"),
    ("6.8.0", "2022-08-09"),
    ("7.0.0", "2022-10-11"),
    ("7.2.0", "2022-12-13"),
    ("7.4.0", "2023-02-14"),
    ("7.6.0", "2023-04-11"),
    ("7.8.0", "2023-06-13"),
    ("8.0.0", "2023-08-08"),
    ("8.2.0", "2023-10-10"),
    ("8.4.0", "2023-12-12"),
    ("8.5.0", "2024-01-09"),
    ("8.6.0", "2024-02-13"),
    ("8.7.0", "2024-03-12"),
    ("8.8.0", "2024-04-23"),
    ("8.9.0", "2024-05-14"),
    ("9.0.0", "2024-06-11"),
    ("9.1.0", "2024-07-10"),
    ("9.2.0", "2024-08-13"),
    ("9.3.0", "2024-09-10"),
    ("9.4.0", "2024-10-22"),
    ("9.5.0", "2024-12-18"),
    ("9.6.0", "2025-01-20"),
    ("9.7.0", "2025-02-24"),
    ("9.8.0", "2025-04-14"),
    ("9.9.0", "2025-06-02"),
    ("10.0.0", "2025-07-07"),
    ("10.1.0", "2025-08-11"),
    ("10.2.0", "2025-09-15"),
    ("10.3.0", "2025-10-21"),
    ("10.4.0", "2025-12-09"),
]
_PAYMENT_TITLES = {
    "stripe": "Credit Card (Stripe)",
    "ppcp-gateway": "PayPal",
    "bacs": "Direct bank transfer",
    "cod": "Cash on delivery",
    "": "",
}
_USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 "
    "Mobile/15E148 Safari/604.1",
]
_DEVICE = ["Desktop", "Desktop", "Mobile", "Mobile", "Desktop", "Tablet"]
_NOTES = [
    "Please leave at the door.",
    "Gift — no invoice in the parcel please.",
    "Whole beans, not ground!",
    "Ring twice.",
    "Kannst du bitte etwas mehr Polster verwenden?",
]
_REFUND_REASONS = [
    "",
    "Damaged in transit",
    "Customer changed their mind",
    "Wrong grind size",
    "Duplicate order",
    "Item out of stock",
]
_ALNUM = string.ascii_letters + string.digits
_UPPER = string.ascii_uppercase + string.digits


@dataclass
class OrderSpec:
    """What the skeleton (or the control interface) decides about one order; the rest is rendered."""

    id: int
    created: int
    paid: int
    completed: int
    modified: int
    status: str
    customer_id: int
    buyer: int
    coupon: int = -1
    kind: int = 0
    sub: int = -1  # subscription position (parent/renewal orders)
    via: str = "checkout"
    lines: list[tuple[int, int]] | None = None  # explicit (catalogue index, quantity)
    email: str | None = None
    payment: str | None = None


@dataclass
class Amounts:
    """One taxable line's rounded money values (line item, shipping or fee)."""

    subtotal: Decimal
    subtotal_tax: Decimal
    total: Decimal
    total_tax: Decimal


@dataclass
class LineDraft:
    product: Product
    qty: int
    unit: Decimal
    subtotal: Decimal = ZERO
    total: Decimal = ZERO
    extra_meta: list[tuple[str, Any]] = field(default_factory=list)


def totals(lines: list[Amounts], shipping: list[Amounts], fees: list[Amounts]) -> dict[str, Decimal]:
    """Order-level money, exactly as the order's lines add up (WooCommerce's update_taxes/calculate_totals).

    Fee taxes are part of cart_tax in WooCommerce, so total_tax = cart_tax + shipping_tax.
    """
    line_total = sum((a.total for a in lines), ZERO)
    shipping_total = sum((a.total for a in shipping), ZERO)
    shipping_tax = sum((a.total_tax for a in shipping), ZERO)
    fee_total = sum((a.total for a in fees), ZERO)
    cart_tax = sum((a.total_tax for a in lines), ZERO) + sum((a.total_tax for a in fees), ZERO)
    total_tax = cart_tax + shipping_tax
    return {
        "discount_total": sum((a.subtotal - a.total for a in lines), ZERO),
        "discount_tax": sum((a.subtotal_tax - a.total_tax for a in lines), ZERO),
        "shipping_total": shipping_total,
        "shipping_tax": shipping_tax,
        "cart_tax": cart_tax,
        "total": line_total + shipping_total + fee_total + total_tax,
        "total_tax": total_tax,
    }


def parse_amounts(item: dict[str, Any]) -> Amounts:
    subtotal = dec(item.get("subtotal", item.get("total")))
    subtotal_tax = dec(item.get("subtotal_tax", item.get("total_tax")))
    return Amounts(subtotal, subtotal_tax, dec(item.get("total")), dec(item.get("total_tax")))


def order_totals_from_dict(order: dict[str, Any]) -> dict[str, Decimal]:
    return totals(
        [parse_amounts(li) for li in order.get("line_items", [])],
        [parse_amounts(s) for s in order.get("shipping_lines", [])],
        [parse_amounts(f) for f in order.get("fee_lines", [])],
    )


def apply_totals(order: dict[str, Any], dp: int) -> None:
    """Rewrite an order's money fields (and its tax/coupon line summaries) from its lines."""
    t = order_totals_from_dict(order)
    for key in (
        "discount_total",
        "discount_tax",
        "shipping_total",
        "shipping_tax",
        "cart_tax",
        "total",
        "total_tax",
    ):
        order[key] = fmt(t[key], dp)
    for tax_line in order.get("tax_lines", []):
        tax_line["tax_total"] = fmt(t["cart_tax"], dp)
        tax_line["shipping_tax_total"] = fmt(t["shipping_tax"], dp)
    for coupon_line in order.get("coupon_lines", []):
        coupon_line["discount"] = fmt(t["discount_total"], dp)
        coupon_line["discount_tax"] = fmt(t["discount_tax"], dp)


def _token(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choices(alphabet, k=length))


class Renderer:
    """Turns skeleton rows into WooCommerce-shaped dicts. Pure: same inputs, same output, any call order."""

    def __init__(
        self, config: EmulatorConfig, catalog: Catalog, tz: TzTable, skeleton: Skeleton, now: int
    ) -> None:
        self.config = config
        self.catalog = catalog
        self.tz = tz
        self.sk = skeleton
        self.seed = config.seed
        self.dp = config.dp
        self.rate = config.tax_percent
        self.currency = config.currency
        self.country = config.currency_info.country
        self.symbol = config.currency_info.symbol
        self.history_now = now
        self.home_url = config.home_url or "http://127.0.0.1:8081"
        scale = config.currency_info.price_scale
        self.free_shipping_from = rnd(Decimal(50) * scale, self.dp)
        self.flat_rate = rnd(Decimal("4.90") * scale, self.dp)
        self.flat_rate_abroad = rnd(Decimal("12.90") * scale, self.dp)
        self.cod_fee = rnd(Decimal(2) * scale, self.dp)
        self.gift_wrap = rnd(Decimal("3.50") * scale, self.dp)
        self.rate_code = f"{self.country}-{_slug(config.currency_info.tax_label).upper() or 'TAX'}-1"
        self.attribution = config.at_least("8.5.0")
        self.unique_id_field = config.at_least("9.2.0")
        self.target_hints = version_tuple(config.wp_version) >= (6, 7, 0)
        self._release_starts = [_release_epoch(date) for _, date in _RELEASES]
        self._emulated = config.version_tuple
        self.api = self.home_url + API

    def set_home_url(self, url: str) -> None:
        self.home_url = url.rstrip("/")
        self.api = self.home_url + API

    # ------------------------------------------------------------------ shared pieces

    def fmt_dates(self, out: dict[str, Any], name: str, epoch: int) -> None:
        """`name` (site-local wall time) and `name_gmt`; null when unset (wc_rest_prepare_date_response)."""
        if epoch:
            out[name] = fmt_epoch(self.tz.to_wall(epoch))
            out[name + "_gmt"] = fmt_epoch(epoch)
        else:
            out[name] = None
            out[name + "_gmt"] = None

    def local(self, epoch: int) -> str | None:
        return fmt_epoch(self.tz.to_wall(epoch)) if epoch else None

    @staticmethod
    def gmt(epoch: int) -> str | None:
        return fmt_epoch(epoch) if epoch else None

    def links(self, resource: str, obj_id: int, **extra: str) -> dict[str, list[dict[str, Any]]]:
        self_link: dict[str, Any] = {"href": f"{self.api}/{resource}/{obj_id}"}
        if self.target_hints:  # WordPress 6.7+ advertises the allowed methods on the self link.
            self_link["targetHints"] = {"allow": ["GET", "POST", "PUT", "PATCH", "DELETE"]}
        out = {"self": [self_link], "collection": [{"href": f"{self.api}/{resource}"}]}
        for rel, href in extra.items():
            out[rel] = [{"href": href}]
        return out

    def wc_version_at(self, epoch: int) -> str:
        """The WooCommerce version running when something was created (capped at the emulated one)."""
        i = bisect.bisect_right(self._release_starts, epoch) - 1
        running = version_tuple(_RELEASES[max(i, 0)][0])
        major, minor, patch = min(running, self._emulated)
        return f"{major}.{minor}.{patch}"

    @lru_cache(maxsize=8192)  # noqa: B019 - the renderer lives as long as the store; profiles are tiny.
    def profile(self, buyer: int) -> Profile:
        return make_profile(
            self.seed, buyer, int(self.sk.b_first[buyer]), int(self.sk.b_last[buyer]), self.country
        )

    def tax_amounts(
        self, subtotal: Decimal, total: Decimal, taxable: bool
    ) -> tuple[Amounts, list[dict[str, str]]]:
        """Rounded line taxes plus the unrounded item tax data WooCommerce stores next to them."""
        if not taxable or not self.rate:
            return Amounts(subtotal, ZERO, total, ZERO), []
        raw_sub, raw_total = subtotal * self.rate / 100, total * self.rate / 100
        amounts = Amounts(subtotal, rnd(raw_sub, self.dp), total, rnd(raw_total, self.dp))
        return amounts, [{"id": TAX_RATE_ID, "total": fmt_raw(raw_total), "subtotal": fmt_raw(raw_sub)}]

    def meta(self, base_id: int, pairs: list[tuple[str, Any]], display: bool = False) -> list[dict[str, Any]]:
        out = []
        for k, (key, value) in enumerate(pairs):
            entry: dict[str, Any] = {"id": base_id + k, "key": key, "value": value}
            if display:
                entry["display_key"] = key
                entry["display_value"] = value
            out.append(entry)
        return out

    # ------------------------------------------------------------------ orders

    def sub_plan(self, sub: int) -> tuple[Product, Decimal, str]:
        """The subscribed item, its locked-in price (price at sign-up) and the subscription's gateway."""
        product = self.catalog.products[int(self.sk.s_item[sub])]
        start = int(self.sk.s_created[sub])
        payment = "stripe" if random.Random(f"{self.seed}:sub:{sub}").random() < 0.7 else "ppcp-gateway"
        return product, product.price_at(start, self.history_now, self.dp), payment

    def spec_for(self, pos: int) -> OrderSpec:
        sk = self.sk
        return OrderSpec(
            id=int(sk.o_id[pos]),
            created=int(sk.o_created[pos]),
            paid=int(sk.o_paid[pos]),
            completed=int(sk.o_completed[pos]),
            modified=int(sk.o_modified[pos]),
            status="",
            customer_id=int(sk.o_customer[pos]),
            buyer=int(sk.o_buyer[pos]),
            coupon=int(sk.o_coupon[pos]),
            kind=int(sk.o_kind[pos]),
            sub=int(sk.o_sub[pos]),
            via=VIA[int(sk.o_via[pos])],
        )

    def _draft_lines(self, spec: OrderSpec, rng: random.Random) -> list[LineDraft]:
        products = self.catalog.products
        drafts: list[LineDraft] = []
        if spec.lines is not None:
            for idx, qty in spec.lines:
                product = products[idx]
                drafts.append(
                    LineDraft(product, qty, product.price_at(spec.created, self.history_now, self.dp))
                )
            return drafts
        if spec.sub >= 0:
            product, price, _ = self.sub_plan(spec.sub)
            drafts.append(LineDraft(product, 1, price))
            if spec.kind == KIND_RENEWAL:
                return drafts
        u = rng.random()
        wanted = 1 if u < 0.52 else 2 if u < 0.78 else 3 if u < 0.91 else 4 if u < 0.97 else 5
        if spec.kind == KIND_PARENT:
            wanted = 1 if rng.random() < 0.3 else 0
        chosen: set[int] = {d.product.idx for d in drafts}
        for _ in range(wanted):
            idx = self.catalog.pick(rng, spec.created, chosen)
            if idx is None:
                break
            chosen.add(idx)
            q = rng.random()
            product = products[idx]
            drafts.append(
                LineDraft(
                    product,
                    1 if q < 0.75 else 2 if q < 0.93 else 3,
                    product.price_at(spec.created, self.history_now, self.dp),
                )
            )
        return drafts

    def _apply_coupon(self, drafts: list[LineDraft], coupon: Coupon | None) -> None:
        for d in drafts:
            d.subtotal = d.unit * d.qty
            d.total = d.subtotal
        if coupon is None or not drafts:
            return
        # Shoppers top up their cart to reach a coupon's minimum spend.
        while coupon.minimum_amount and sum(d.subtotal for d in drafts) < coupon.minimum_amount:
            drafts[0].qty += 1
            drafts[0].subtotal = drafts[0].total = drafts[0].unit * drafts[0].qty
        if coupon.discount_type == "percent":
            for d in drafts:
                d.total = d.subtotal - rnd(d.subtotal * coupon.amount / 100, self.dp)
        elif coupon.discount_type == "fixed_product":
            for d in drafts:
                d.total = d.subtotal - min(d.subtotal, coupon.amount * d.qty)
        else:  # fixed_cart: spread over the lines in minor units, exactly.
            weights = [to_units(d.subtotal, self.dp) for d in drafts]
            amount = min(to_units(coupon.amount, self.dp), sum(weights))
            for d, share in zip(drafts, allocate(amount, weights), strict=True):
                d.total = d.subtotal - from_units(share, self.dp)

    def _line_item(self, spec: OrderSpec, k: int, d: LineDraft) -> tuple[dict[str, Any], Amounts]:
        product = d.product
        amounts, taxes = self.tax_amounts(d.subtotal, d.total, product.taxable)
        gone = product.deleted is not None  # All deletions lie in the past: the line outlived its product.
        parent = self.catalog.products[product.parent] if product.parent is not None else None
        attr_meta = [(f"pa_{_slug(name)}", _slug(value)) for name, value in product.attributes]
        meta = self.meta(spec.id * ITEM_META_STRIDE + 2 + 4 * k, attr_meta + d.extra_meta)
        for entry, (name, value) in zip(meta, product.attributes, strict=False):
            entry["display_key"], entry["display_value"] = name, value
        item: dict[str, Any] = {
            "id": spec.id * 10 + k,
            "name": product.name,
            "product_id": (parent.post_id if parent else product.post_id),
            "variation_id": product.post_id if parent else 0,
            "quantity": d.qty,
            "tax_class": "",
            "subtotal": fmt(amounts.subtotal, self.dp),
            "subtotal_tax": fmt(amounts.subtotal_tax, self.dp),
            "total": fmt(amounts.total, self.dp),
            "total_tax": fmt(amounts.total_tax, self.dp),
            "taxes": taxes,
            "meta_data": meta,
            "sku": None if gone else product.sku,
        }
        if self.unique_id_field:
            item["global_unique_id"] = None if gone else ""
        # Real WooCommerce emits price as a JSON number (total / quantity, PHP float division); the float
        # conversion happens only here, at serialisation, never in the money arithmetic.
        item["price"] = float(amounts.total / d.qty) if d.qty and amounts.total else 0
        item["image"] = {"id": 0 if gone else "", "src": ""}  # The generated catalogue has no images.
        item["parent_name"] = None if gone or parent is None else parent.name
        return item, amounts

    def build_order(self, spec: OrderSpec, status: str) -> dict[str, Any]:
        """A complete order dict in WooCommerce's key order (refunds[] filled in by the caller)."""
        rng = random.Random(f"{self.seed}:order:{spec.id}")
        profile = self.profile(spec.buyer) if spec.buyer >= 0 else None
        coupon = self.catalog.coupons[spec.coupon] if spec.coupon >= 0 else None
        drafts = self._draft_lines(spec, rng)
        self._apply_coupon(drafts, coupon)
        line_items, line_amounts = [], []
        for k, d in enumerate(drafts):
            item, amounts = self._line_item(spec, k, d)
            line_items.append(item)
            line_amounts.append(amounts)
        billing = profile.address(with_email=True) if profile else _empty_address(True)
        if spec.email:
            billing["email"] = spec.email
        shipping = profile.address(with_email=False) if profile else _empty_address(False)
        if profile and rng.random() < 0.1:  # A gift: shipped to somebody else.
            shipping["first_name"], shipping["address_1"] = "Alex", f"Gift Lane {rng.randint(1, 90)}"
        payment = self._payment_method(spec, rng)
        k = len(drafts)
        shipping_lines, shipping_amounts = self._shipping(spec, drafts, shipping, k, rng)
        k += len(shipping_lines)
        fee_lines, fee_amounts = self._fees(spec, payment, rng, k)
        k += len(fee_lines)
        t = totals(line_amounts, shipping_amounts, fee_amounts)
        coupon_lines = []
        if coupon is not None:
            disc_tax = t["discount_tax"]
            coupon_lines.append(
                {
                    "id": spec.id * 10 + k,
                    "code": coupon.code,
                    "discount": fmt(t["discount_total"], self.dp),
                    "discount_tax": fmt(disc_tax, self.dp),
                    "meta_data": self.meta(
                        spec.id * ITEM_META_STRIDE + 1, [("coupon_info", _coupon_info(coupon))], display=True
                    ),
                    "discount_type": coupon.discount_type,
                    "nominal_amount": float(coupon.amount),
                    "free_shipping": False,
                }
            )
            k += 1
        tax_lines = []
        if t["total_tax"] or (self.rate and any(li["taxes"] for li in line_items)):
            tax_lines.append(
                {
                    "id": spec.id * 10 + k,
                    "rate_code": self.rate_code,
                    "rate_id": TAX_RATE_ID,
                    "label": self.config.currency_info.tax_label,
                    "compound": False,
                    "tax_total": fmt(t["cart_tax"], self.dp),
                    "shipping_tax_total": fmt(t["shipping_tax"], self.dp),
                    "rate_percent": float(self.rate),
                    "meta_data": [],
                }
            )
        paid = spec.paid if status not in ("pending", "failed", "cancelled") or spec.paid else 0
        order_key = "wc_order_" + _token(rng, _ALNUM, 13)
        checkout = spec.via in ("checkout", "store-api")
        ua_i = rng.randrange(len(_USER_AGENTS))
        transaction_id = ""
        if paid and payment == "stripe":
            transaction_id = "pi_" + _token(rng, _ALNUM, 24)
        elif paid and payment == "ppcp-gateway":
            transaction_id = _token(rng, _UPPER, 17)
        d = self.dp
        out: dict[str, Any] = {
            "id": spec.id,
            "parent_id": 0,
            "status": status,
            "currency": self.currency,
            "version": self.wc_version_at(spec.created),
            "prices_include_tax": False,
            "date_created": self.local(spec.created),
            "date_modified": self.local(spec.modified),
            "discount_total": fmt(t["discount_total"], d),
            "discount_tax": fmt(t["discount_tax"], d),
            "shipping_total": fmt(t["shipping_total"], d),
            "shipping_tax": fmt(t["shipping_tax"], d),
            "cart_tax": fmt(t["cart_tax"], d),
            "total": fmt(t["total"], d),
            "total_tax": fmt(t["total_tax"], d),
            "customer_id": spec.customer_id,
            "order_key": order_key,
            "billing": billing,
            "shipping": shipping,
            "payment_method": payment,
            "payment_method_title": _PAYMENT_TITLES[payment],
            "transaction_id": transaction_id,
            "customer_ip_address": _ip(rng) if checkout else "",
            "customer_user_agent": _USER_AGENTS[ua_i] if checkout else "",
            "created_via": spec.via,
            "customer_note": rng.choice(_NOTES) if checkout and rng.random() < 0.05 else "",
            "date_completed": self.local(spec.completed),
            "date_paid": self.local(paid),
            "cart_hash": f"{rng.getrandbits(128):032x}" if checkout else "",
            "number": str(spec.id),
            "meta_data": self.meta(
                spec.id * ORDER_META_STRIDE, self._order_meta(spec, payment, paid, t["total"], rng, ua_i)
            ),
            "line_items": line_items,
            "tax_lines": tax_lines,
            "shipping_lines": shipping_lines,
            "fee_lines": fee_lines,
            "coupon_lines": coupon_lines,
            "refunds": [],
            "payment_url": f"{self.home_url}/checkout/order-pay/{spec.id}/?pay_for_order=true&key="
            + order_key,
            "is_editable": status in ("pending", "on-hold", "checkout-draft"),
            "needs_payment": status in ("pending", "failed") and t["total"] > 0,
            "needs_processing": any(not dr.product.virtual for dr in drafts),
            "date_created_gmt": self.gmt(spec.created),
            "date_modified_gmt": self.gmt(spec.modified),
            "date_completed_gmt": self.gmt(spec.completed),
            "date_paid_gmt": self.gmt(paid),
            "currency_symbol": self.symbol,
            "_links": self.order_links(spec.id, spec.customer_id),
        }
        return out

    def order_links(self, order_id: int, customer_id: int) -> dict[str, Any]:
        extra = {"customer": f"{self.api}/customers/{customer_id}"} if customer_id else {}
        return self.links("orders", order_id, **extra)

    def _payment_method(self, spec: OrderSpec, rng: random.Random) -> str:
        if spec.payment is not None:
            return spec.payment
        if spec.sub >= 0:
            return self.sub_plan(spec.sub)[2]
        u = rng.random()
        if spec.paid and spec.paid - spec.created >= 3600:
            return "bacs"  # Paid hours or days later: a bank transfer the shop confirmed by hand.
        if spec.via == "admin":
            return "" if u < 0.5 else "cod"
        return "stripe" if u < 0.6 else "ppcp-gateway" if u < 0.9 else "cod"

    def _shipping(
        self, spec: OrderSpec, drafts: list[LineDraft], ship_to: dict[str, str], k: int, rng: random.Random
    ) -> tuple[list[dict[str, Any]], list[Amounts]]:
        physical = [d for d in drafts if not d.product.virtual]
        if not physical:
            return [], []
        goods = sum((d.total for d in drafts), ZERO)
        abroad = ship_to.get("country") not in ("", self.country)
        if rng.random() < 0.05 and not abroad:
            method, title, instance, cost = "local_pickup", "Local pickup", "3", ZERO
        elif goods >= self.free_shipping_from and not abroad:
            method, title, instance, cost = "free_shipping", "Free shipping", "2", ZERO
        else:
            method, title, instance = "flat_rate", "Flat rate" if not abroad else "International", "1"
            cost = self.flat_rate_abroad if abroad else self.flat_rate
        amounts, taxes = self.tax_amounts(cost, cost, True)
        for tax in taxes:
            tax["subtotal"] = ""  # Shipping tax data carries no subtotal.
        items = ", ".join(f"{d.product.name} &times; {d.qty}" for d in physical)
        line = {
            "id": spec.id * 10 + k,
            "method_title": title,
            "method_id": method,
            "instance_id": instance,
            "total": fmt(amounts.total, self.dp),
            "total_tax": fmt(amounts.total_tax, self.dp),
            "taxes": taxes,
            "meta_data": self.meta(spec.id * ITEM_META_STRIDE, [("Items", items)], display=True),
        }
        return [line], [amounts]

    def _fees(
        self, spec: OrderSpec, payment: str, rng: random.Random, k: int
    ) -> tuple[list[dict[str, Any]], list[Amounts]]:
        if payment == "cod":
            name, amount = "Cash on delivery fee", self.cod_fee
        elif spec.kind == 0 and rng.random() < 0.03:
            name, amount = "Gift wrapping", self.gift_wrap
        else:
            return [], []
        amounts, taxes = self.tax_amounts(amount, amount, True)
        line = {
            "id": spec.id * 10 + k,
            "name": name,
            "tax_class": "",
            "tax_status": "taxable",
            "total": fmt(amounts.total, self.dp),
            "total_tax": fmt(amounts.total_tax, self.dp),
            "taxes": taxes,
            "meta_data": [],
        }
        return [line], [amounts]

    def _order_meta(
        self, spec: OrderSpec, payment: str, paid: int, total: Decimal, rng: random.Random, ua_i: int
    ) -> list[tuple[str, Any]]:
        pairs: list[tuple[str, Any]] = [("is_vat_exempt", "no")]
        if spec.kind == KIND_RENEWAL and spec.sub >= 0:
            pairs.append(("_subscription_renewal", str(int(self.sk.s_id[spec.sub]))))
        if paid and payment == "stripe":
            fee = rnd(total * Decimal("0.015") + Decimal("0.25"), self.dp)
            pairs += [
                ("_stripe_customer_id", "cus_" + _token(rng, _ALNUM, 14)),
                ("_stripe_charge_captured", "yes"),
                ("_stripe_fee", fmt(fee, self.dp)),
                ("_stripe_net", fmt(total - fee, self.dp)),
                ("_stripe_currency", self.currency),
            ]
        elif paid and payment == "ppcp-gateway":
            pairs += [("_ppcp_paypal_order_id", _token(rng, _UPPER, 17)), ("_ppcp_paypal_intent", "CAPTURE")]
        if (
            self.attribution
            and spec.created >= ATTRIBUTION_SINCE
            and spec.via in ("checkout", "store-api", "admin")
        ):
            pairs += self._attribution(spec, rng, ua_i)
        return pairs

    def _attribution(self, spec: OrderSpec, rng: random.Random, ua_i: int) -> list[tuple[str, str]]:
        """Order attribution (WC 8.5+), stored as `_wc_order_attribution_*` meta with string values."""
        p = ATTRIBUTION_PREFIX
        if spec.via == "admin":
            return [(p + "source_type", "admin")]
        u = rng.random()
        fields: list[tuple[str, str]]
        if u < 0.3:
            fields = [("source_type", "typein"), ("utm_source", "(direct)")]
        elif u < 0.6:
            fields = [
                ("source_type", "organic"),
                ("referrer", "https://www.google.com/"),
                ("utm_source", "google"),
                ("utm_medium", "organic"),
            ]
        elif u < 0.72:
            fields = [
                ("source_type", "referral"),
                ("referrer", "https://www.reddit.com/r/coffee/"),
                ("utm_source", "reddit.com"),
                ("utm_medium", "referral"),
                ("utm_content", "/"),
            ]
        else:
            source, medium = rng.choice(
                [("newsletter", "email"), ("facebook", "cpc"), ("instagram", "social")]
            )
            fields = [
                ("source_type", "utm"),
                ("utm_campaign", f"promo-{fmt_epoch(spec.created)[:7]}"),
                ("utm_source", source),
                ("utm_medium", medium),
            ]
        session_start = self.tz.to_wall(spec.created - rng.randint(60, 3600))
        fields += [
            ("session_entry", f"{self.home_url}/{rng.choice(['', 'shop/', 'product/espresso-beans-1-kg/'])}"),
            ("session_start_time", fmt_epoch(session_start).replace("T", " ")),
            ("session_pages", str(rng.randint(1, 14))),
            ("session_count", str(rng.randint(1, 6))),
            ("user_agent", _USER_AGENTS[ua_i]),
            ("device_type", _DEVICE[ua_i]),
        ]
        return [(p + key, value) for key, value in fields]

    # ------------------------------------------------------------------ refunds

    def build_refunds(
        self, order: dict[str, Any], rows: list[tuple[int, int, int, bool]]
    ) -> list[dict[str, Any]]:
        """Generated refunds of one order, oldest first; amounts never exceed what is left to refund."""
        remaining = dec(order["total"])
        out = []
        for refund_id, created, kind, bump in rows:
            rng = random.Random(f"{self.seed}:refund:{refund_id}")
            if kind == REFUND_FULL:
                refund = self.full_refund(order, refund_id, created, remaining)
            else:
                # Partial refunds never use up the order (a full refund would make it "refunded").
                share = Decimal(rng.randint(10, 50)) / 100
                amount = min(max(quantum(self.dp), rnd(remaining * share, self.dp)), remaining)
                refund = self.amount_refund(order, refund_id, created, amount)
                if kind == REFUND_LINE and order["line_items"]:
                    line = rng.choice(order["line_items"])
                    by_line = self.line_refund(order, refund_id, created, line["id"], 1, remaining)
                    if by_line["line_items"] and dec(by_line["amount"]) < remaining:
                        refund = by_line
            refund["reason"] = rng.choice(_REFUND_REASONS)
            refund["refunded_by"] = 1 if bump else 0
            refund["refunded_payment"] = order["payment_method"] in ("stripe", "ppcp-gateway")
            remaining -= dec(refund["amount"])
            out.append(refund)
        return out

    def _refund_shell(
        self, order: dict[str, Any], refund_id: int, created: int, amount: Decimal
    ) -> dict[str, Any]:
        return {
            "id": refund_id,
            "date_created": self.local(created),
            "date_created_gmt": self.gmt(created),
            "amount": fmt(amount, self.dp),
            "reason": "",
            "refunded_by": 1,
            "refunded_payment": False,
            "meta_data": [],
            "line_items": [],
            "shipping_lines": [],
            "tax_lines": [],
            "fee_lines": [],
            "_links": {
                "self": [{"href": f"{self.api}/orders/{order['id']}/refunds/{refund_id}"}],
                "collection": [{"href": f"{self.api}/orders/{order['id']}/refunds"}],
                "up": [{"href": f"{self.api}/orders/{order['id']}"}],
            },
        }

    def _negated_item(
        self, item: dict[str, Any], refund_id: int, k: int, qty: int, total: Decimal, tax: Decimal
    ) -> dict[str, Any]:
        """A refund line: negative quantity and money, subtotal = total (wc_create_refund sets both)."""
        neg_total, neg_tax = fmt(-total, self.dp), fmt(-tax, self.dp)
        taxes = [{"id": t["id"], "total": neg_tax, "subtotal": neg_tax} for t in item.get("taxes", [])]
        out = {
            "id": refund_id * 10 + k,
            "name": item["name"],
            "product_id": item["product_id"],
            "variation_id": item["variation_id"],
            "quantity": -qty,
            "tax_class": item["tax_class"],
            "subtotal": neg_total,
            "subtotal_tax": neg_tax,
            "total": neg_total,
            "total_tax": neg_tax,
            "taxes": taxes,
            "meta_data": [
                {
                    "id": refund_id * ITEM_META_STRIDE + k,
                    "key": "_refunded_item_id",
                    "value": str(item["id"]),
                    "display_key": "_refunded_item_id",
                    "display_value": str(item["id"]),
                }
            ],
            "sku": item["sku"],
        }
        if "global_unique_id" in item:
            out["global_unique_id"] = item["global_unique_id"]
        out["price"] = (
            float(-total / -qty) if total else 0
        )  # total / quantity, both negative (see _line_item)
        out["image"], out["parent_name"] = item["image"], item["parent_name"]
        return out

    def _refund_tax_lines(
        self, order: dict[str, Any], refund_id: int, k: int, cart: Decimal, ship: Decimal
    ) -> list[dict[str, Any]]:
        if not order["tax_lines"] or not (cart or ship):
            return []
        base = order["tax_lines"][0]
        return [
            {
                **base,
                "id": refund_id * 10 + k,
                "tax_total": fmt(-cart, self.dp),
                "shipping_tax_total": fmt(-ship, self.dp),
            }
        ]

    def full_refund(
        self, order: dict[str, Any], refund_id: int, created: int, remaining: Decimal
    ) -> dict[str, Any]:
        refund = self._refund_shell(order, refund_id, created, remaining)
        k, cart_tax, ship_tax = 0, ZERO, ZERO
        for item in order["line_items"]:
            total, tax = dec(item["total"]), dec(item["total_tax"])
            refund["line_items"].append(
                self._negated_item(item, refund_id, k, abs(item["quantity"]), total, tax)
            )
            cart_tax += tax
            k += 1
        for group, key in (("shipping_lines", "shipping"), ("fee_lines", "fee")):
            for line in order[group]:
                total, tax = dec(line["total"]), dec(line["total_tax"])
                neg = {
                    **line,
                    "id": refund_id * 10 + k,
                    "total": fmt(-total, self.dp),
                    "total_tax": fmt(-tax, self.dp),
                    "taxes": [{**t, "total": fmt(-tax, self.dp)} for t in line["taxes"]],
                    "meta_data": [],
                }
                refund[group].append(neg)
                if key == "shipping":
                    ship_tax += tax
                else:
                    cart_tax += tax
                k += 1
        refund["tax_lines"] = self._refund_tax_lines(order, refund_id, k, cart_tax, ship_tax)
        return refund

    def line_refund(
        self, order: dict[str, Any], refund_id: int, created: int, line_id: int, qty: int, remaining: Decimal
    ) -> dict[str, Any]:
        item = next(li for li in order["line_items"] if li["id"] == line_id)
        per_unit = abs(item["quantity"]) or 1
        qty = min(qty, per_unit)
        total = rnd(dec(item["total"]) * qty / per_unit, self.dp)
        tax = rnd(dec(item["total_tax"]) * qty / per_unit, self.dp)
        if total + tax > remaining:  # Cannot refund more than is left: fall back to the remaining amount.
            return self.amount_refund(order, refund_id, created, remaining)
        refund = self._refund_shell(order, refund_id, created, total + tax)
        refund["line_items"].append(self._negated_item(item, refund_id, 0, qty, total, tax))
        refund["tax_lines"] = self._refund_tax_lines(order, refund_id, 1, tax, ZERO)
        return refund

    def amount_refund(
        self, order: dict[str, Any], refund_id: int, created: int, amount: Decimal
    ) -> dict[str, Any]:
        return self._refund_shell(order, refund_id, created, amount)

    # ------------------------------------------------------------------ subscriptions

    def build_subscription(self, sub: int, status: str, modified: int) -> dict[str, Any]:
        """WooCommerce Subscriptions v3 shape: order fields minus cart_hash/transaction_id/refunds, plus
        schedule fields whose unset value is "" (not null)."""
        sk = self.sk
        sub_id = int(sk.s_id[sub])
        parent_pos = int(sk.s_parent[sub])
        product, _, payment = self.sub_plan(sub)
        start = int(sk.s_created[sub])
        spec = OrderSpec(
            id=sub_id,
            created=start,
            paid=0,
            completed=0,
            modified=modified,
            status=status,
            customer_id=int(sk.o_customer[parent_pos]),
            buyer=int(sk.s_buyer[sub]),
            kind=KIND_RENEWAL,
            sub=sub,
            via=VIA[int(sk.o_via[parent_pos])],
            payment=payment,
        )
        order = self.build_order(spec, status)
        for key in ("cart_hash", "transaction_id", "refunds", "payment_url"):
            order.pop(key, None)
        order["meta_data"] = [m for m in order["meta_data"] if m["key"] == "is_vat_exempt"]
        order["parent_id"] = int(sk.o_id[parent_pos])
        order["date_paid"] = order["date_paid_gmt"] = None
        links = order.pop("_links")
        period, interval = product.plan or ("month", 1)
        order.update(
            {
                "billing_period": period,
                "billing_interval": str(interval),
                "trial_period": "",
                "suspension_count": 1 if status == "on-hold" else 0,
                "requires_manual_renewal": False,
                "start_date_gmt": fmt_epoch(start),
                "trial_end_date_gmt": "",
                "next_payment_date_gmt": self._sub_date(sk.s_next[sub]),
                "payment_retry_date_gmt": "",
                "last_payment_date_gmt": self._sub_date(sk.s_last[sub]),
                "cancelled_date_gmt": self._sub_date(sk.s_cancelled[sub]),
                "end_date_gmt": self._sub_date(sk.s_end[sub]),
                "resubscribed_from": "",
                "resubscribed_subscription": "",
                "removed_line_items": [],
            }
        )
        links["self"][0]["href"] = f"{self.api}/subscriptions/{sub_id}"
        links["collection"][0]["href"] = f"{self.api}/subscriptions"
        order["_links"] = links
        return order

    @staticmethod
    def _sub_date(epoch: Any) -> str:
        return fmt_epoch(int(epoch)) if int(epoch) else ""

    # ------------------------------------------------------------------ customers

    def build_customer(
        self, user_id: int, buyer: int, created: int, modified: int, paying: bool
    ) -> dict[str, Any]:
        profile = self.profile(buyer)
        username = profile.email.split("@")[0]
        email_hash = hashlib.md5(profile.email.encode()).hexdigest()
        out: dict[str, Any] = {"id": user_id}
        self.fmt_dates(out, "date_created", created)
        self.fmt_dates(out, "date_modified", modified)
        out.update(
            {
                "email": profile.email,
                "first_name": profile.first,
                "last_name": profile.last,
                "role": "customer",
                "username": username,
                "billing": profile.address(with_email=True),
                "shipping": profile.address(with_email=False),
                "is_paying_customer": paying,
                "avatar_url": f"https://secure.gravatar.com/avatar/{email_hash}?s=96&d=mm&r=g",
                "meta_data": [],
                "_links": self.links("customers", user_id),
            }
        )
        return out

    def build_admin(self, created: int) -> dict[str, Any]:
        out: dict[str, Any] = {"id": 1}
        self.fmt_dates(out, "date_created", created)
        self.fmt_dates(out, "date_modified", created)
        host = self.home_url.split("//", 1)[-1].split(":")[0].split("/")[0]
        out.update(
            {
                "email": f"admin@{host}",
                "first_name": "",
                "last_name": "",
                "role": "administrator",
                "username": "admin",
                "billing": _empty_address(True),
                "shipping": _empty_address(False),
                "is_paying_customer": False,
                "avatar_url": "https://secure.gravatar.com/avatar/?s=96&d=mm&r=g",
                "meta_data": [],
                "_links": self.links("customers", 1),
            }
        )
        return out

    # ------------------------------------------------------------------ catalogue

    def category(self, product: Product) -> dict[str, Any]:
        names = sorted({p.category for p in self.catalog.products})
        return {
            "id": 15 + names.index(product.category),
            "name": product.category,
            "slug": _slug(product.category),
        }

    def build_product(self, product: Product, total_sales: int) -> dict[str, Any]:
        price = fmt(product.price, self.dp)
        children = [self.catalog.products[c] for c in product.children]
        if children:
            price = fmt(min(c.price for c in children), self.dp)
        out: dict[str, Any] = {
            "id": product.post_id,
            "name": product.name,
            "slug": product.slug,
            "permalink": f"{self.home_url}/product/{product.slug}/",
        }
        self.fmt_dates(out, "date_created", product.created)
        self.fmt_dates(out, "date_modified", product.modified)
        out.update(
            {
                "type": product.type,
                "status": "publish",
                "featured": False,
                "catalog_visibility": "visible",
                "description": f"<p>{product.name} from our roastery.</p>\n",
                "short_description": "",
                "sku": product.sku,
                "price": price,
                "regular_price": "" if children else price,
                "sale_price": "",
                "date_on_sale_from": None,
                "date_on_sale_from_gmt": None,
                "date_on_sale_to": None,
                "date_on_sale_to_gmt": None,
                "on_sale": False,
                "purchasable": True,
                "total_sales": total_sales,
                "virtual": product.virtual,
                "downloadable": False,
                "downloads": [],
                "download_limit": -1,
                "download_expiry": -1,
                "external_url": "",
                "button_text": "",
                "tax_status": _tax_status(product),
                "tax_class": "",
                "manage_stock": False,
                "stock_quantity": None,
                "backorders": "no",
                "backorders_allowed": False,
                "backordered": False,
                "low_stock_amount": None,
                "sold_individually": False,
                "weight": "" if product.virtual else "0.5",
                "dimensions": {"length": "", "width": "", "height": ""},
                "shipping_required": not product.virtual,
                "shipping_taxable": not product.virtual,
                "shipping_class": "",
                "shipping_class_id": 0,
                "reviews_allowed": True,
                "average_rating": "0.00",
                "rating_count": 0,
                "upsell_ids": [],
                "cross_sell_ids": [],
                "parent_id": 0,
                "purchase_note": "",
                "categories": [self.category(product)],
                "tags": [],
                "images": [],
                "attributes": [
                    {
                        "id": 0,
                        "name": name,
                        "slug": _slug(name),
                        "position": i,
                        "visible": True,
                        "variation": True,
                        "options": values,
                    }
                    for i, (name, values) in enumerate(product.options)
                ],
                "default_attributes": [],
                "variations": [c.post_id for c in children],
                "grouped_products": [],
                "menu_order": 0,
                "price_html": "",
                "related_ids": [],
                "meta_data": self._plan_meta(product),
                "stock_status": "instock",
                "has_options": bool(children),
                "post_password": "",
            }
        )
        if self.unique_id_field:
            out["global_unique_id"] = ""
        out["_links"] = self.links("products", product.post_id)
        return out

    def _plan_meta(self, product: Product) -> list[dict[str, Any]]:
        if product.plan is None or product.type == "variation":
            return []
        period, interval = product.plan
        pairs = [
            ("_subscription_price", fmt(product.price, self.dp)),
            ("_subscription_period", period),
            ("_subscription_period_interval", str(interval)),
            ("_subscription_length", "0"),
            ("_subscription_sign_up_fee", ""),
            ("_subscription_trial_length", "0"),
        ]
        return self.meta(product.post_id * ORDER_META_STRIDE, pairs)

    def build_variation(self, product: Product) -> dict[str, Any]:
        parent = self.catalog.products[product.parent or 0]
        price = fmt(product.price, self.dp)
        out: dict[str, Any] = {"id": product.post_id}
        self.fmt_dates(out, "date_created", product.created)
        self.fmt_dates(out, "date_modified", product.modified)
        out.update(
            {
                "description": "",
                "permalink": f"{self.home_url}/product/{parent.slug}/?{_variation_query(product)}",
                "sku": product.sku,
                "price": price,
                "regular_price": price,
                "sale_price": "",
                "date_on_sale_from": None,
                "date_on_sale_from_gmt": None,
                "date_on_sale_to": None,
                "date_on_sale_to_gmt": None,
                "on_sale": False,
                "status": "publish",
                "purchasable": True,
                "virtual": product.virtual,
                "downloadable": False,
                "downloads": [],
                "download_limit": -1,
                "download_expiry": -1,
                "tax_status": _tax_status(product),
                "tax_class": "",
                "manage_stock": False,
                "stock_quantity": None,
                "stock_status": "instock",
                "backorders": "no",
                "backorders_allowed": False,
                "backordered": False,
                "low_stock_amount": None,
                "weight": "",
                "dimensions": {"length": "", "width": "", "height": ""},
                "shipping_class": "",
                "shipping_class_id": 0,
                "image": None,
                "attributes": [
                    {"id": 0, "name": name, "option": value} for name, value in product.attributes
                ],
                "menu_order": 0,
                "meta_data": self._plan_meta(product),
                "name": product.name,
                "parent_id": parent.post_id,
            }
        )
        out["_links"] = {
            "self": [{"href": f"{self.api}/products/{parent.post_id}/variations/{product.post_id}"}],
            "collection": [{"href": f"{self.api}/products/{parent.post_id}/variations"}],
            "up": [{"href": f"{self.api}/products/{parent.post_id}"}],
        }
        return out

    def build_coupon(
        self, coupon: Coupon, usage_count: int, used_by: list[str], with_status: bool
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": coupon.post_id,
            "code": coupon.code,
            "amount": fmt(coupon.amount, self.dp),
        }
        if with_status:  # `status` exists since WooCommerce 6.2.
            out["status"] = "publish"
        self.fmt_dates(out, "date_created", coupon.created)
        self.fmt_dates(out, "date_modified", coupon.modified)
        out["discount_type"] = coupon.discount_type
        out["description"] = coupon.description
        self.fmt_dates(out, "date_expires", coupon.expires or 0)
        out.update(
            {
                "usage_count": usage_count,
                "individual_use": False,
                "product_ids": [],
                "excluded_product_ids": [],
                "usage_limit": None,
                "usage_limit_per_user": None,
                "limit_usage_to_x_items": None,
                "free_shipping": False,
                "product_categories": [],
                "excluded_product_categories": [],
                "exclude_sale_items": False,
                "minimum_amount": fmt(coupon.minimum_amount, self.dp),
                "maximum_amount": fmt(ZERO, self.dp),
                "email_restrictions": [],
                "used_by": used_by,
                "meta_data": [],
                "_links": self.links("coupons", coupon.post_id),
            }
        )
        return out


def _release_epoch(date: str) -> int:
    return parse_instant(date + "T00:00:00Z")


def _slug(text: str) -> str:
    return ascii_slug(text)


def _tax_status(product: Product) -> str:
    return "taxable" if product.taxable else "none"


def _variation_query(product: Product) -> str:
    return "&".join(f"attribute_pa_{_slug(name)}={_slug(value)}" for name, value in product.attributes)


def _coupon_info(coupon: Coupon) -> str:
    """WooCommerce 8.7+ keeps a compact JSON copy of the coupon on the order's coupon line [UNV: version]."""
    amount: float | int = float(coupon.amount)
    if amount == int(amount):
        amount = int(amount)
    return json.dumps([coupon.post_id, coupon.code, coupon.discount_type, amount], separators=(",", ":"))


def _empty_address(with_email: bool) -> dict[str, str]:
    keys = [
        "first_name",
        "last_name",
        "company",
        "address_1",
        "address_2",
        "city",
        "state",
        "postcode",
        "country",
    ]
    out = dict.fromkeys(keys, "")
    if with_email:
        out["email"] = ""
    out["phone"] = ""
    return out


def _ip(rng: random.Random) -> str:
    """Addresses from the documentation ranges (RFC 5737 / RFC 3849), never real hosts."""
    if rng.random() < 0.2:
        return f"2001:db8::{rng.randint(1, 0xFFFF):x}:{rng.randint(1, 0xFFFF):x}"
    return f"{rng.choice(['192.0.2', '198.51.100', '203.0.113'])}.{rng.randint(1, 254)}"
