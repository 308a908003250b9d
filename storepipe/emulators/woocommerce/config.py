"""Configuration of a WooCommerce emulator: shop identity, size, clock, version gates and currencies."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

DEFAULT_NOW = "2026-11-01T00:00:00Z"


@dataclass(frozen=True)
class Currency:
    """How a store in this currency formats money, and what the generated shop charges."""

    symbol: str  # WooCommerce returns the symbol as an HTML entity (get_woocommerce_currency_symbol).
    decimals: int  # The store setting woocommerce_price_num_decimals that shops usually pick for it.
    price_scale: int  # Multiplier from the EUR-like base catalogue so prices look native.
    tax_rate: Decimal  # Percent, the single standard rate of the generated shop.
    tax_label: str
    country: str  # Default billing country of the generated shop.


CURRENCIES: dict[str, Currency] = {
    "EUR": Currency("&euro;", 2, 1, Decimal(19), "MwSt.", "DE"),
    "USD": Currency("&#36;", 2, 1, Decimal("7.25"), "Tax", "US"),
    "GBP": Currency("&pound;", 2, 1, Decimal(20), "VAT", "GB"),
    "CHF": Currency("CHF", 2, 1, Decimal("8.1"), "MWST", "CH"),
    "SEK": Currency("&#107;&#114;", 2, 10, Decimal(25), "Moms", "SE"),
    "DKK": Currency("&#107;&#114;.", 2, 7, Decimal(25), "Moms", "DK"),
    "NOK": Currency("&#107;&#114;", 2, 10, Decimal(25), "MVA", "NO"),
    "PLN": Currency("&#122;&#322;", 2, 4, Decimal(23), "VAT", "PL"),
    "CAD": Currency("&#36;", 2, 1, Decimal(13), "HST", "CA"),
    "AUD": Currency("&#36;", 2, 2, Decimal(10), "GST", "AU"),
    "JPY": Currency("&yen;", 0, 150, Decimal(10), "消費税", "JP"),
    "KWD": Currency("&#x62f;.&#x643;", 3, 1, Decimal(0), "Tax", "KW"),
}


def version_tuple(version: str) -> tuple[int, int, int]:
    """'9.4' → (9, 4, 0); anything after the numeric prefix (e.g. '-beta.1') is ignored."""
    match = re.match(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?", version.strip())
    if not match:
        raise ValueError(f"not a WooCommerce version: {version!r}")
    return tuple(int(part or 0) for part in match.groups())  # type: ignore[return-value]


def parse_instant(value: str | datetime | int | float) -> int:
    """An instant as epoch seconds; naive datetimes and strings without an offset are UTC."""
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return calendar.timegm(value.astimezone(UTC).timetuple())


@dataclass
class EmulatorConfig:
    """Everything that decides the emulated shop; equal configs give byte-identical responses."""

    seed: int = 1
    orders: int = 5000
    version: str = "9.4"
    timezone: str = "Europe/Berlin"
    currency: str = "EUR"
    consumer_key: str = "ck_demo"
    consumer_secret: str = "cs_demo"
    latency_ms: int = 0
    # The emulator clock; it never follows the wall clock, only WooStore.advance_time moves it.
    now: str | datetime | int | None = None
    years: float = 3.0
    # Overrides of the currency defaults (decimals, standard tax rate in percent).
    decimals: int | None = None
    tax_rate: Decimal | str | None = None
    # The WordPress home URL used in _links, Link headers and permalinks; None = the bound address.
    home_url: str | None = None
    wp_version: str = "6.7.1"
    subscriptions: bool = True
    # Default duration of the "hang" fault: long enough to exceed typical client timeouts, but bounded.
    hang_s: float = 30.0
    # Budget of the rendered-JSON cache (compressed bytes); what does not fit is rendered again on demand.
    cache_bytes: int = 320 * 1024 * 1024
    # OAuth 1.0a timestamps are checked against the real wall clock (clients sign with it), ±15 minutes.
    oauth_check_timestamp: bool = True
    store_name: str = "Storepipe Demo Roastery"

    def __post_init__(self) -> None:
        if self.orders < 0:
            raise ValueError("orders must be >= 0")
        if self.currency not in CURRENCIES:
            raise ValueError(
                f"unsupported currency {self.currency!r}; known: {', '.join(sorted(CURRENCIES))}"
            )
        ZoneInfo(self.timezone)  # Fail early on an unknown zone name.
        if self.version_tuple < (3, 5, 0):
            raise ValueError("wc/v3 needs WooCommerce >= 3.5")
        if self.years <= 0:
            raise ValueError("years must be > 0")

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        return version_tuple(self.version)

    @property
    def now_epoch(self) -> int:
        return parse_instant(self.now if self.now is not None else DEFAULT_NOW)

    @property
    def currency_info(self) -> Currency:
        return CURRENCIES[self.currency]

    @property
    def dp(self) -> int:
        return self.currency_info.decimals if self.decimals is None else self.decimals

    @property
    def tax_percent(self) -> Decimal:
        return self.currency_info.tax_rate if self.tax_rate is None else Decimal(str(self.tax_rate))

    def at_least(self, version: str) -> bool:
        """Whether the emulated WooCommerce is at least `version` (feature gates)."""
        return self.version_tuple >= version_tuple(version)
