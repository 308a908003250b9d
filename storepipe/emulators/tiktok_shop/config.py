"""Configuration of a TikTok Shop emulator: app credentials, shop identity, size, clock and gateway limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storepipe.emulators.woocommerce.config import parse_instant

DEFAULT_NOW = "2026-11-01T00:00:00Z"
DAY = 86400


@dataclass
class EmulatorConfig:
    """Everything that decides the emulated shop; equal configs (and equal request sequences) give
    byte-identical responses. No wall clock is involved except the QPS limiter (see store.RateLimiter)."""

    seed: int = 1
    orders: int = 2000
    products: int = 60
    app_key: str = "6a1b2c3d4e5f6"
    app_secret: str = "tts_demo_app_secret"
    shop_id: str = "7494726673780148744"
    shop_cipher: str = "ROW_Zm9vYmFyU2hvcENpcGhlcg"
    shop_name: str = "Storepipe Demo Boutique"
    region: str = "US"
    currency: str = "USD"
    latency_ms: int = 0
    # The emulator clock; it never follows the wall clock, only TikTokStore.advance_time moves it.
    now: str | datetime | int | None = None
    years: float = 2.0
    # Access tokens last 7 days [C2]; the refresh token ends with the authorization, ~1 year [C1].
    access_token_ttl_s: int = 7 * DAY
    refresh_token_ttl_s: int = 365 * DAY
    # Auth codes are single-use and short-lived, ~30 minutes [C1].
    auth_code_ttl_s: int = 30 * 60
    # Default 50 QPS per app per API path [C1]; None switches the limiter off.
    rate_limit_qps: int | None = 50
    # Signed calls must carry a timestamp within now-5min..now+30s of the emulator clock [C1].
    check_timestamp: bool = True
    # Product search stops after this many results, so clients must window by update_time [C1].
    search_cap: int = 10_000
    # Share of product-search pages that come back shorter than page_size while more remain [INF].
    short_page_rate: float = 0.15
    # Share of orders that are Countdown Bidding auctions with TEMPORARY_LISTING lines [INF].
    auction_rate: float = 0.05
    # Share of non-auction orders that are cancelled before delivery.
    cancel_rate: float = 0.07
    # Share of delivered orders on which the buyer opens a return or refund request [INF].
    return_rate: float = 0.08
    # Order-less statement adjustments (chargebacks, compensations, ad deductions): about one every N days.
    adjustment_every_days: int = 9

    def __post_init__(self) -> None:
        if self.orders < 0 or self.products < 1:
            raise ValueError("orders must be >= 0 and products >= 1")
        if self.years <= 0:
            raise ValueError("years must be > 0")
        if self.rate_limit_qps is not None and self.rate_limit_qps < 1:
            raise ValueError("rate_limit_qps must be >= 1 or None")
        for name in ("short_page_rate", "auction_rate", "cancel_rate", "return_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1")

    @property
    def now_epoch(self) -> int:
        return parse_instant(self.now if self.now is not None else DEFAULT_NOW)

    @property
    def start_epoch(self) -> int:
        """The first order's earliest possible create_time."""
        return self.now_epoch - int(self.years * 365 * DAY)
