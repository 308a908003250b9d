"""Deterministic generation of the emulated shop: catalog (products, SKUs, warehouses) and order timelines."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from storepipe.emulators.tiktok_shop.config import DAY, EmulatorConfig

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def money(value: Decimal) -> str:
    """Money as the API sends it: a decimal string in major units, two places."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def cents(rng: random.Random, low: int, high: int) -> Decimal:
    """A random amount between low and high cents, as an exact Decimal."""
    return Decimal(rng.randint(low, high)) / 100


def stable_hash(*parts: object) -> int:
    digest = hashlib.blake2b(":".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


# --------------------------------------------------------------------------- catalog

_NOUNS = [
    "Linen Shirt", "Denim Jacket", "Yoga Leggings", "Ceramic Mug", "Scented Candle", "Phone Case",
    "Silk Scrunchie", "Hoodie", "Tote Bag", "Water Bottle", "LED Desk Lamp", "Face Serum",
    "Lip Gloss", "Sneakers", "Beanie", "Throw Blanket", "Wireless Earbuds", "Hair Clip Set",
]  # fmt: skip
_ADJECTIVES = ["Classic", "Vintage", "Oversized", "Everyday", "Premium", "Mini", "Cozy", "Organic", "Retro"]
_COLORS = ["Black", "White", "Sage", "Navy", "Rose", "Sand"]
_SIZES = ["S", "M", "L", "XL"]
_PRODUCT_STATUSES = ["ACTIVATE"] * 17 + ["SELLER_DEACTIVATED", "PLATFORM_DEACTIVATED", "DELETED"]


@dataclass
class Sku:
    id: str
    seller_sku: str
    name: str
    price: Decimal
    list_price: Decimal
    inventory: dict[str, int]
    attributes: list[tuple[str, str]]


@dataclass
class Product:
    id: str
    title: str
    description: str
    status: str
    create_time: int
    update_time: int
    category: tuple[str, str]
    images: list[str]
    skus: list[Sku]
    weight_g: int


@dataclass
class Warehouse:
    id: str
    name: str
    is_default: bool


def image_uri(seed: int, key: str) -> str:
    return f"tos-maliva-i-o3syd03w52-us/{stable_hash(seed, 'img', key):016x}"


def image_url(uri: str) -> str:
    return f"https://p16-oec-va.ibyteimg.com/{uri}~tplv-o3syd03w52-origin-jpeg.jpeg"


def make_warehouses(cfg: EmulatorConfig) -> list[Warehouse]:
    rng = random.Random(f"{cfg.seed}:warehouses")
    base = 7_000_000_000_000_000_000 + rng.randrange(10**15)
    return [
        Warehouse(str(base), "Main warehouse (Ontario, CA)", True),
        Warehouse(str(base + 1 + rng.randrange(10**6)), "East coast overflow (Edison, NJ)", False),
    ]


def make_catalog(cfg: EmulatorConfig, warehouses: list[Warehouse]) -> list[Product]:
    rng = random.Random(f"{cfg.seed}:catalog")
    products: list[Product] = []
    product_id = 1_729_000_000_000_000_000 + rng.randrange(10**14)
    sku_id = 1_729_500_000_000_000_000 + rng.randrange(10**14)
    first = cfg.start_epoch - 120 * DAY
    for index in range(cfg.products):
        product_id += rng.randint(10**6, 10**9)
        noun = _NOUNS[index % len(_NOUNS)]
        title = f"{rng.choice(_ADJECTIVES)} {noun}"
        created = rng.randint(first, cfg.start_epoch + 30 * DAY)
        updated = rng.randint(created, cfg.now_epoch - DAY)
        base_price = cents(rng, 599, 8999)
        variants: list[list[tuple[str, str]]] = [[]]
        if rng.random() < 0.7:
            colors = rng.sample(_COLORS, rng.randint(1, 3))
            sizes = rng.sample(_SIZES, rng.randint(1, 2)) if rng.random() < 0.5 else []
            variants = [[("Color", c)] + ([("Size", s)] if s else []) for c in colors for s in (sizes or [""])]
        skus: list[Sku] = []
        for number, attrs in enumerate(variants):
            sku_id += rng.randint(10**5, 10**8)
            price = base_price + (Decimal(number % 2) if attrs else ZERO)
            list_price = (price * Decimal("1.25")).quantize(CENT) if rng.random() < 0.4 else price
            inventory = {w.id: rng.randint(0, 400) for w in warehouses if w.is_default or rng.random() < 0.5}
            name = ", ".join(value for _, value in attrs) or "Default"
            skus.append(Sku(str(sku_id), f"SP-{index:03d}-{number:02d}", name, price, list_price, inventory, attrs))
        images = [image_uri(cfg.seed, f"p{product_id}-{n}") for n in range(rng.randint(1, 4))]
        products.append(
            Product(
                id=str(product_id),
                title=title,
                description=f"<p>{title}. Made for everyday use.</p>",
                status=rng.choice(_PRODUCT_STATUSES),
                create_time=created,
                update_time=updated,
                category=("Womenswear & Underwear" if index % 2 else "Home Supplies", noun),
                images=images,
                skus=skus,
                weight_g=rng.randint(80, 1500),
            )
        )
    return products


# --------------------------------------------------------------------------- orders

# (state code, city, sales-tax rate in percent); CO adds the retail delivery fee.
_STATES = [
    ("CA", "Los Angeles", Decimal("9.5")), ("TX", "Houston", Decimal("8.25")), ("NY", "Brooklyn", Decimal("8.875")),
    ("FL", "Miami", Decimal(7)), ("OR", "Portland", Decimal(0)), ("CO", "Denver", Decimal("8.81")),
    ("IL", "Chicago", Decimal("10.25")), ("WA", "Seattle", Decimal("10.35")),
]  # fmt: skip
_FIRST = ["Ava", "Liam", "Mia", "Noah", "Zoe", "Ethan", "Leah", "Owen", "Ivy", "Lucas"]
_LAST = ["Nguyen", "Garcia", "Smith", "Kim", "Brown", "Lopez", "Patel", "Miller"]
_CANCEL_REASONS = ["No longer needed", "Wrong size selected", "Out of stock", "Pending payment timed out"]
COLORADO_RETAIL_DELIVERY_FEE = Decimal("0.29")


@dataclass
class Line:
    id: str
    product_id: str
    sku_id: str
    product_name: str
    sku_name: str
    seller_sku: str | None
    sku_image: str
    original_price: Decimal
    seller_discount: Decimal
    platform_discount: Decimal
    tax: Decimal
    temporary: bool = False

    @property
    def sale_price(self) -> Decimal:
        # [INF] sale_price is what the buyer pays for the unit before tax, so Σ sale_price = sub_total.
        return self.original_price - self.seller_discount - self.platform_discount


@dataclass
class Order:
    """An order as a timeline: the rendered status and update_time depend on the emulator clock."""

    id: str
    create_time: int
    user_id: str
    buyer_email: str
    recipient: dict[str, Any]
    lines: list[Line]
    tax_rate: Decimal
    original_shipping_fee: Decimal
    shipping_fee_seller_discount: Decimal
    shipping_fee_platform_discount: Decimal
    shipping_fee_tax: Decimal
    retail_delivery_fee: Decimal
    shipping_type: str
    fulfillment_type: str
    warehouse_id: str
    tracking_number: str
    shipping_provider: str
    shipping_provider_id: str
    package_id: str
    # Event instants; None = never happens. Events after cancel_time are ignored.
    paid_time: int | None
    rts_time: int | None
    collection_time: int | None
    delivery_time: int | None
    complete_time: int | None
    cancel_time: int | None = None
    cancel_reason: str = ""
    cancellation_initiator: str = ""
    on_hold_until: int | None = None
    settle_days: int = 7
    affiliate: bool = False
    room_id: str | None = None
    seller_note: str = ""
    buyer_message: str = ""
    touched: int = 0  # last control-API modification (bumps update_time)
    extra: dict[str, Any] = field(default_factory=dict)


def _recipient(rng: random.Random, index: int) -> tuple[dict[str, Any], Decimal, str]:
    state, city, rate = rng.choice(_STATES)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    line1 = f"{rng.randint(10, 9999)} {rng.choice(['Oak', 'Pine', 'Main', 'Lake', 'Hill'])} St"
    postal = f"{rng.randint(10000, 99999)}"
    address = {
        "name": f"{first} {last[0]}***",
        "first_name": first,
        "last_name": f"{last[0]}***",
        "phone_number": f"(+1){rng.randint(200, 999)}*****{rng.randint(10, 99)}",
        "address_line1": line1,
        "address_line2": "",
        "address_detail": "",
        "postal_code": postal,
        "region_code": "US",
        "full_address": f"{line1}, {city}, {state}, {postal}",
        "district_info": [
            {"address_level_name": "country", "address_name": "United States", "address_level": "L0"},
            {"address_level_name": "State", "address_name": state, "address_level": "L1"},
            {"address_level_name": "City", "address_name": city, "address_level": "L3"},
        ],
    }
    return address, rate, state


def _tax(amount: Decimal, rate: Decimal) -> Decimal:
    return (amount * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)


class OrderFactory:
    """Builds orders one by one from its own RNG stream (generated history and control-API creations)."""

    def __init__(self, cfg: EmulatorConfig, products: list[Product], warehouses: list[Warehouse]) -> None:
        self.cfg = cfg
        self.sellable = [p for p in products if p.status != "DELETED"] or products
        self.warehouses = warehouses
        self.rng = random.Random(f"{cfg.seed}:orders")
        self.next_order_id = 576_460_000_000_000_000 + self.rng.randrange(10**14)
        self.next_line_id = 576_470_000_000_000_000 + self.rng.randrange(10**14)
        self.next_temp_id = 1_731_000_000_000_000_000 + self.rng.randrange(10**14)
        self.next_package_id = 1_152_000_000_000_000_000 + self.rng.randrange(10**14)

    def _line_id(self) -> str:
        self.next_line_id += self.rng.randint(1, 9999)
        return str(self.next_line_id)

    def _normal_lines(self, rate: Decimal, picks: list[tuple[Sku, Product, int]] | None) -> list[Line]:
        rng = self.rng
        if picks is None:
            picks = []
            for product in rng.sample(self.sellable, min(len(self.sellable), rng.choice([1, 1, 1, 2, 2, 3]))):
                quantity = rng.choice([1, 1, 1, 1, 2, 2, 3])
                picks.append((rng.choice(product.skus), product, quantity))
        lines: list[Line] = []
        for sku, product, quantity in picks:
            seller_off = (sku.price * rng.choice([10, 15, 20]) / 100).quantize(CENT) if rng.random() < 0.3 else ZERO
            platform_off = min(cents(rng, 100, 300), sku.price - seller_off) if rng.random() < 0.2 else ZERO
            # No quantity field in the API: one line per unit [C2], all units of a SKU share the discounts.
            for _ in range(quantity):
                lines.append(
                    Line(
                        id=self._line_id(),
                        product_id=product.id,
                        sku_id=sku.id,
                        product_name=product.title,
                        sku_name=sku.name,
                        seller_sku=sku.seller_sku,
                        sku_image=image_url(product.images[0]),
                        original_price=sku.price,
                        seller_discount=seller_off,
                        platform_discount=platform_off,
                        tax=_tax(sku.price - seller_off - platform_off, rate),
                    )
                )
        return lines

    def _auction_lines(self, rate: Decimal) -> list[Line]:
        """Countdown Bidding: each unit is a TEMPORARY_LISTING numbered "#n …", absent from the catalog [C1]."""
        rng = self.rng
        base = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
        lines: list[Line] = []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            self.next_temp_id += rng.randint(10**4, 10**7)
            price = cents(rng, 100, 6000)
            lines.append(
                Line(
                    id=self._line_id(),
                    product_id=str(self.next_temp_id),
                    sku_id=str(self.next_temp_id + 1),
                    product_name=f"#{rng.randint(1, 300)} {base}",
                    sku_name="Default",
                    seller_sku=None,  # [INF] temporary listings usually carry no seller SKU
                    sku_image=image_url(image_uri(self.cfg.seed, f"t{self.next_temp_id}")),
                    original_price=price,
                    seller_discount=ZERO,
                    platform_discount=ZERO,
                    tax=_tax(price, rate),
                    temporary=True,
                )
            )
        return lines

    def build(
        self,
        create_time: int,
        *,
        auction: bool | None = None,
        cancel: bool | None = None,
        picks: list[tuple[Sku, Product, int]] | None = None,
    ) -> Order:
        rng, cfg = self.rng, self.cfg
        self.next_order_id += rng.randint(10**6, 10**9)
        recipient, rate, state = _recipient(rng, self.next_order_id)
        if auction is None:
            auction = picks is None and rng.random() < cfg.auction_rate
        lines = self._auction_lines(rate) if auction else self._normal_lines(rate, picks)
        subtotal = sum((line.sale_price for line in lines), ZERO)
        original_shipping = rng.choice([Decimal("5.99"), Decimal("7.99"), Decimal("4.99")])
        seller_ship_off = platform_ship_off = ZERO
        if subtotal >= Decimal(35):
            platform_ship_off = original_shipping  # free shipping over $35, platform-funded
        elif rng.random() < 0.2:
            seller_ship_off = Decimal("2.00")
        shipping_fee = original_shipping - seller_ship_off - platform_ship_off
        tiktok_shipping = rng.random() < 0.8
        fbt = rng.random() < 0.1
        paid = create_time + rng.randint(5, 900)
        rts = paid + rng.randint(DAY // 4, 2 * DAY)
        collection = rts + rng.randint(600, DAY)
        delivery = collection + rng.randint(DAY, 5 * DAY)
        complete = delivery + rng.randint(7 * DAY, 15 * DAY)
        order = Order(
            id=str(self.next_order_id),
            create_time=create_time,
            user_id=str(7_494_000_000_000_000_000 + rng.randrange(10**15)),
            buyer_email=f"v{rng.randrange(16**12):012x}@scs2.tiktok.com",
            recipient=recipient,
            lines=lines,
            tax_rate=rate,
            original_shipping_fee=original_shipping,
            shipping_fee_seller_discount=seller_ship_off,
            shipping_fee_platform_discount=platform_ship_off,
            shipping_fee_tax=_tax(shipping_fee, rate),
            retail_delivery_fee=COLORADO_RETAIL_DELIVERY_FEE if state == "CO" else ZERO,
            shipping_type="TIKTOK" if tiktok_shipping else "SELLER",
            fulfillment_type="FULFILLMENT_BY_TIKTOK" if fbt else "FULFILLMENT_BY_SELLER",
            warehouse_id=self.warehouses[0 if rng.random() < 0.8 else -1].id,
            tracking_number=f"9400{rng.randrange(10**18):018d}",
            shipping_provider="USPS" if rng.random() < 0.6 else "UPS",
            shipping_provider_id=str(6_617_000_000_000_000_000 + rng.randrange(10**6)),
            package_id=str(self.next_package_id + rng.randrange(10**12)),
            paid_time=None if rng.random() < 0.01 else paid,  # a few never get paid (auto-cancelled below)
            rts_time=rts,
            collection_time=collection,
            delivery_time=delivery,
            complete_time=complete,
            settle_days=rng.choice([3, 7, 7, 7, 10, 15, 15, 31]),
            affiliate=rng.random() < 0.15,
            room_id=str(7_430_000_000_000_000_000 + rng.randrange(10**12)) if auction else None,
            buyer_message=rng.choice(["", "", "", "Please gift wrap", "Leave at the back door"]),
        )
        if rng.random() < 0.03:
            order.on_hold_until = paid + 3600  # remorse window of some markets/orders
        if cancel is None:
            cancel = (not auction and rng.random() < cfg.cancel_rate) or order.paid_time is None
        if cancel:
            # Cancellation happens before the carrier collects the parcel (after that it would be a return).
            cancel_at = create_time + (DAY if order.paid_time is None else rng.randint(300, 2 * DAY))
            order.cancel_time = min(cancel_at, collection - 60)
            order.cancel_reason = rng.choice(_CANCEL_REASONS)
            order.cancellation_initiator = "SYSTEM" if order.paid_time is None else rng.choice(["BUYER", "SELLER"])
        return order


def make_orders(cfg: EmulatorConfig, factory: OrderFactory) -> list[Order]:
    """The order history: create times spread over `years`, denser towards the present (a growing shop)."""
    rng = random.Random(f"{cfg.seed}:order-times")
    span = cfg.now_epoch - cfg.start_epoch
    times = sorted(cfg.start_epoch + int(span * (rng.random() ** 0.7)) for _ in range(cfg.orders))
    return [factory.build(t) for t in times]
