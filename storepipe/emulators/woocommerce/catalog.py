"""The generated shop's catalogue (products, variations, coupons) and its buyers' names and addresses."""

from __future__ import annotations

import bisect
import itertools
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from storepipe.emulators.woocommerce.config import EmulatorConfig
from storepipe.emulators.woocommerce.money import rnd

DAY = 86400

# name, category, base price (EUR-like), type, attributes / subscription plan, popularity weight, flags
# flags: v = virtual (no shipping), n = not taxable, d = deleted during the history, l = launched later
_CATALOG: list[tuple[str, str, str, str, object, float, str]] = [
    ("Espresso Beans 1 kg", "Coffee", "24.90", "simple", None, 9.0, ""),
    ("Filter Coffee 500 g", "Coffee", "12.50", "simple", None, 7.0, ""),
    ("Decaf Beans 500 g", "Coffee", "13.90", "simple", None, 2.0, ""),
    (
        "Roaster's Choice",
        "Coffee",
        "11.00",
        "variable",
        [("Size", ["250 g", "500 g", "1 kg"]), ("Grind", ["Whole bean", "Espresso", "Filter"])],
        8.0,
        "",
    ),
    ("Single Origin Ethiopia", "Coffee", "9.50", "variable", [("Size", ["250 g", "1 kg"])], 4.0, ""),
    ("Holiday Blend 2023", "Coffee", "14.50", "simple", None, 3.0, "d"),
    ("Ceramic Mug", "Accessories", "14.00", "simple", None, 4.0, ""),
    ("Limited Edition Mug", "Accessories", "19.00", "simple", None, 2.0, "d"),
    ("Pour-Over Dripper", "Brewing", "22.00", "simple", None, 3.0, ""),
    ("Paper Filters (100)", "Brewing", "4.90", "simple", None, 6.0, ""),
    ("Gooseneck Kettle", "Brewing", "69.00", "simple", None, 1.5, ""),
    ("Coffee Scale", "Brewing", "45.00", "simple", None, 1.5, ""),
    ("Burr Grinder", "Brewing", "129.00", "simple", None, 1.0, ""),
    ("Hand Grinder Classic", "Brewing", "59.00", "simple", None, 1.0, "d"),
    ("Milk Frother", "Brewing", "39.00", "simple", None, 1.5, ""),
    ("Descaler", "Care", "9.90", "simple", None, 2.5, ""),
    ("Travel Tumbler", "Accessories", "24.00", "variable", [("Color", ["Black", "Sand", "Sage"])], 2.5, ""),
    (
        "Roastery T-Shirt",
        "Merch",
        "25.00",
        "variable",
        [("Size", ["S", "M", "L", "XL"]), ("Color", ["Black", "White"])],
        2.0,
        "",
    ),
    ("Chocolate Bar", "Treats", "3.50", "simple", None, 3.0, ""),
    ("Gift Card", "Gifts", "25.00", "simple", None, 1.5, "vn"),
    ("Barista Workshop (online)", "Courses", "49.00", "simple", None, 0.8, "v"),
    ("Oat Milk Barista 1 L", "Treats", "2.90", "simple", None, 3.0, "l"),
    ("Espresso Machine Pro", "Brewing", "549.00", "simple", None, 0.4, "l"),
    ("Coffee Club Monthly", "Subscriptions", "19.00", "subscription", ("month", 1), 0.0, ""),
    ("Coffee Club Annual", "Subscriptions", "199.00", "subscription", ("year", 1), 0.0, ""),
    (
        "Bean Box",
        "Subscriptions",
        "12.00",
        "variable-subscription",
        ([("Size", ["250 g", "500 g"])], ("week", 2)),
        0.0,
        "",
    ),
]

FIRST_NAMES = [
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Emma",
    "Felix",
    "Greta",
    "Hannah",
    "Jonas",
    "Julia",
    "Karl",
    "Lena",
    "Lukas",
    "Maria",
    "Max",
    "Mia",
    "Noah",
    "Olivia",
    "Paul",
    "Sophie",
    "Tom",
    "Zoe",
    "Jürgen",
    "Chloé",
    "Liam",
    "Ava",
    "Ethan",
    "Isla",
    "James",
    "Grace",
    "Oliver",
    "Amelia",
    "Mateo",
    "Sofia",
    "Yuki",
    "Aiko",
    "Lars",
    "Ingrid",
    "Pierre",
    "Élodie",
    "Marek",
    "Zofia",
    "Ahmet",
    "Elif",
    "Priya",
    "Arjun",
    "Kofi",
    "Ama",
]
LAST_NAMES = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Smith",
    "Jones",
    "Brown",
    "Taylor",
    "Wilson",
    "Davies",
    "Evans",
    "Johnson",
    "Garcia",
    "Martin",
    "Dubois",
    "Rossi",
    "Nowak",
    "Kowalski",
    "Jensen",
    "Larsen",
    "Tanaka",
    "Suzuki",
    "Yılmaz",
    "Kaya",
    "Patel",
    "Singh",
    "Mensah",
    "O'Brien",
    "Nguyen",
    "Kim",
]
_CITIES = {
    "DE": [
        ("Berlin", "BE", "10115"),
        ("Hamburg", "HH", "20095"),
        ("München", "BY", "80331"),
        ("Köln", "NW", "50667"),
        ("Leipzig", "SN", "04109"),
        ("Freiburg", "BW", "79098"),
    ],
    "US": [
        ("Portland", "OR", "97201"),
        ("Austin", "TX", "73301"),
        ("Denver", "CO", "80202"),
        ("Boston", "MA", "02108"),
        ("Seattle", "WA", "98101"),
        ("Chicago", "IL", "60601"),
    ],
    "GB": [
        ("London", "", "EC1A 1BB"),
        ("Manchester", "", "M1 1AE"),
        ("Bristol", "", "BS1 4DJ"),
        ("Leeds", "", "LS1 1UR"),
        ("Glasgow", "", "G1 1XQ"),
    ],
}
_STREETS = [
    "Hauptstraße",
    "Bahnhofstraße",
    "Market Street",
    "High Street",
    "Oak Avenue",
    "Gartenweg",
    "Lindenallee",
    "Station Road",
    "Mill Lane",
    "Rue de la Paix",
]
_DOMAINS = ["example.com", "example.net", "example.org", "mail.example.com", "post.example.net"]
_COMPANIES = ["", "", "", "", "", "", "Büro Kaffee GmbH", "Acme Studio", "Café Central", "Northwind Ltd"]


@lru_cache(maxsize=4096)
def ascii_slug(text: str, sep: str = "-") -> str:
    """Lowercase ASCII slug (sanitize_title-like) for slugs, SKUs and e-mail local parts."""
    text = text.replace("ß", "ss").replace("ü", "ue").replace("ö", "oe").replace("ä", "ae").replace("ı", "i")
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    out = "".join(ch.lower() if ch.isalnum() else " " for ch in plain)
    return sep.join(out.split())


@dataclass
class Product:
    """A catalogue entry: a product (simple/variable/subscription) or one of its variations."""

    idx: int
    name: str
    slug: str
    sku: str
    type: str  # simple | variable | subscription | variable-subscription | variation
    category: str
    price: Decimal  # Current regular price in the store currency (variable parents: lowest variation).
    weight: float
    created: int
    modified: int
    deleted: int | None = None
    virtual: bool = False
    taxable: bool = True
    parent: int | None = None
    attributes: list[tuple[str, str]] = field(default_factory=list)
    options: list[tuple[str, list[str]]] = field(default_factory=list)
    children: list[int] = field(default_factory=list)
    plan: tuple[str, int] | None = None  # Subscription billing period and interval.
    post_id: int = 0

    @property
    def sellable(self) -> bool:
        """Whether an order line can point at it (variable parents cannot, only their variations)."""
        return self.type not in ("variable", "variable-subscription")

    @property
    def is_subscription(self) -> bool:
        return self.plan is not None

    def price_at(self, epoch: int, now: int, dp: int) -> Decimal:
        """Historic price: 4 % cheaper for every full year before `now` (prices rise over time)."""
        years = max(0, (now - epoch) // (365 * DAY))
        return rnd(self.price * Decimal("0.96") ** years, dp) if years else self.price


@dataclass
class Coupon:
    idx: int
    code: str
    discount_type: str  # percent | fixed_cart | fixed_product
    amount: Decimal
    created: int
    modified: int
    valid_from: int
    expires: int | None
    minimum_amount: Decimal
    weight: float
    description: str
    post_id: int = 0


@dataclass
class Catalog:
    products: list[Product]
    coupons: list[Coupon]
    # Sellable non-subscription items by time segment, for picking order lines.
    _seg_starts: list[int] = field(default_factory=list)
    _seg_items: list[list[int]] = field(default_factory=list)
    _seg_cum: list[list[float]] = field(default_factory=list)

    def index_segments(self) -> None:
        """Precompute which items can be bought between two catalogue events (launches, deletions)."""
        cuts = sorted(
            {0} | {p.created for p in self.products} | {p.deleted for p in self.products if p.deleted}
        )
        for start in cuts:
            items = [
                p.idx
                for p in self.products
                if p.sellable
                and not p.is_subscription
                and p.weight > 0
                and p.created <= start
                and (p.deleted is None or p.deleted > start)
            ]
            weights = list(itertools.accumulate(self.products[i].weight for i in items))
            self._seg_starts.append(start)
            self._seg_items.append(items)
            self._seg_cum.append(weights)

    def pick(self, rng: random.Random, epoch: int, exclude: set[int]) -> int | None:
        """A popular-weighted item available at `epoch` that is not already in the order."""
        seg = bisect.bisect_right(self._seg_starts, epoch) - 1
        items, cum = self._seg_items[seg], self._seg_cum[seg]
        if not items:
            return None
        for _ in range(6):
            idx = items[bisect.bisect_left(cum, rng.random() * cum[-1])]
            if idx not in exclude:
                return idx
        return None

    def subscription_items(self) -> list[int]:
        return [p.idx for p in self.products if p.is_subscription and p.sellable]

    def by_post_id(self) -> dict[int, Product]:
        return {p.post_id: p for p in self.products}


def _black_friday(year: int) -> datetime:
    """Fourth Friday of November."""
    first = datetime(year, 11, 1, tzinfo=UTC)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 21)


def build_catalog(config: EmulatorConfig, start: int, now: int) -> Catalog:
    """Products, variations and coupons with creation/deletion times relative to the history window."""
    rng = random.Random(f"{config.seed}:catalog")
    dp, scale = config.dp, config.currency_info.price_scale
    span = now - start
    launch = start - 120 * DAY + 9 * 3600  # Shop launch: a bulk import a few months before the history.
    products: list[Product] = []
    clock = launch

    def add(**kwargs: object) -> Product:
        product = Product(idx=len(products), **kwargs)  # type: ignore[arg-type]
        products.append(product)
        return product

    later = iter((0.42, 0.66, 0.81))
    deletions = iter((0.3, 0.52, 0.74))
    for name, category, price, ptype, extra, weight, flags in _CATALOG:
        clock += rng.choice((0, 0, 1, 2))  # Bulk-created: several products share a second (ordering ties).
        created = start + int(span * next(later)) + 10 * 3600 if "l" in flags else clock
        deleted = start + int(span * next(deletions)) if "d" in flags else None
        base = rnd(Decimal(price) * scale, dp)
        sku = ascii_slug(name, "").upper()[:10] + f"-{len(products) + 100}"
        common = {
            "category": category,
            "created": created,
            "deleted": deleted,
            "modified": min(now - DAY, created + rng.randint(1, 400) * DAY) if deleted is None else created,
            "virtual": "v" in flags,
            "taxable": "n" not in flags,
        }
        if ptype in ("simple", "subscription"):
            plan = extra if ptype == "subscription" else None
            add(
                name=name,
                slug=ascii_slug(name),
                sku=sku,
                type=ptype,
                price=base,
                weight=weight,
                plan=plan,
                **common,
            )  # type: ignore[arg-type]
            continue
        options, plan = extra if ptype == "variable-subscription" else (extra, None)  # type: ignore[misc]
        parent = add(
            name=name,
            slug=ascii_slug(name),
            sku=sku,
            type=ptype,
            price=base,
            weight=0.0,
            options=options,
            plan=plan,
            **common,
        )  # type: ignore[arg-type]
        names = [opt_name for opt_name, _ in options]
        for n, combo in enumerate(itertools.product(*(values for _, values in options))):
            step = Decimal(n % 3) * Decimal("0.6") + Decimal(n // 3) * Decimal(4)
            child = add(
                name=f"{name} - {', '.join(combo)}",
                slug=ascii_slug(f"{name} {' '.join(combo)}"),
                sku=f"{sku}-{ascii_slug(''.join(combo), '').upper()[:6]}",
                type="variation",
                price=rnd((Decimal(price) * (1 + step / 5)) * scale, dp),
                weight=weight / (1 + n),
                parent=parent.idx,
                attributes=list(zip(names, combo, strict=True)),
                plan=plan,
                **common,
            )  # type: ignore[arg-type]
            parent.children.append(child.idx)
    coupons = _build_coupons(config, rng, start, now, launch)
    catalog = Catalog(products=products, coupons=coupons)
    catalog.index_segments()
    return catalog


def _build_coupons(
    config: EmulatorConfig, rng: random.Random, start: int, now: int, launch: int
) -> list[Coupon]:
    dp, scale = config.dp, config.currency_info.price_scale
    money = lambda amount: rnd(Decimal(amount) * scale, dp)  # noqa: E731
    specs: list[tuple[str, str, Decimal, int, int | None, Decimal, float, str]] = [
        ("welcome10", "percent", Decimal(10), launch, None, Decimal(0), 5.0, "10 % off the first order"),
        ("save5", "fixed_cart", money(5), launch, None, money(40), 3.0, "5 off orders over 40"),
        ("muglove", "fixed_product", money(2), launch, None, Decimal(0), 1.5, "2 off every item"),
        (
            "newsletter15",
            "percent",
            Decimal(15),
            start + (now - start) // 3,
            None,
            Decimal(0),
            2.0,
            "Newsletter sign-up",
        ),
    ]
    first_year = datetime.fromtimestamp(start, UTC).year
    for year in range(first_year, datetime.fromtimestamp(now, UTC).year + 1):
        bf = int(_black_friday(year).timestamp())
        specs.append(
            (
                f"blackfriday{year % 100}",
                "percent",
                Decimal(25),
                bf - 3 * DAY,
                bf + 4 * DAY,
                Decimal(0),
                40.0,
                f"Black Friday {year}",
            )
        )
        xmas = int(datetime(year, 12, 1, tzinfo=UTC).timestamp())
        specs.append(
            (
                f"xmas{year % 100}",
                "fixed_cart",
                money(10),
                xmas,
                xmas + 23 * DAY,
                money(50),
                12.0,
                f"Christmas {year}",
            )
        )
    coupons = []
    for code, kind, amount, valid_from, expires, minimum, weight, description in specs:
        if valid_from > now:
            continue
        created = max(launch, valid_from - rng.randint(2, 9) * DAY) + rng.randint(0, 3600)
        coupons.append(
            Coupon(
                idx=len(coupons),
                code=code,
                discount_type=kind,
                amount=amount,
                created=created,
                modified=min(now, created + rng.randint(0, 3) * DAY),
                valid_from=valid_from,
                expires=expires,
                minimum_amount=minimum,
                weight=weight,
                description=description,
            )
        )
    return coupons


@dataclass(frozen=True)
class Profile:
    """A buyer's name, e-mail and addresses (registered customer or guest)."""

    first: str
    last: str
    email: str
    phone: str
    company: str
    address_1: str
    address_2: str
    city: str
    state: str
    postcode: str
    country: str

    def address(self, with_email: bool) -> dict[str, str]:
        out = {
            "first_name": self.first,
            "last_name": self.last,
            "company": self.company,
            "address_1": self.address_1,
            "address_2": self.address_2,
            "city": self.city,
            "state": self.state,
            "postcode": self.postcode,
            "country": self.country,
        }
        if with_email:
            out["email"] = self.email
        out["phone"] = self.phone
        return out


def buyer_email(first: str, last: str, idx: int) -> str:
    """Unique per buyer index; the pattern varies like real addresses do."""
    f, la = ascii_slug(first, ""), ascii_slug(last, "")
    local = (f"{f}.{la}{idx}", f"{f[0]}{la}.{idx}", f"{la}_{f}{idx}")[idx % 3]
    return f"{local}@{_DOMAINS[idx % len(_DOMAINS)]}"


def make_profile(seed: int, idx: int, first_idx: int, last_idx: int, country: str) -> Profile:
    rng = random.Random(f"{seed}:buyer:{idx}")
    first, last = FIRST_NAMES[first_idx], LAST_NAMES[last_idx]
    if rng.random() < 0.15:
        country = rng.choice(sorted(_CITIES))  # Some orders ship abroad.
    city, state, postcode = rng.choice(_CITIES.get(country, _CITIES["DE"]))
    phone = (
        ""
        if rng.random() < 0.25
        else f"+{rng.randint(1, 49)} {rng.randint(100, 999)} {rng.randint(1000, 9999999)}"
    )
    return Profile(
        first=first,
        last=last,
        email=buyer_email(first, last, idx),
        phone=phone,
        company=rng.choice(_COMPANIES),
        address_1=f"{rng.choice(_STREETS)} {rng.randint(1, 180)}",
        address_2="" if rng.random() < 0.8 else f"Apt {rng.randint(1, 40)}",
        city=city,
        state=state,
        postcode=postcode,
        country=country,
    )
