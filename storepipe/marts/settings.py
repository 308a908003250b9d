"""Per-shop metric settings where peers disagree: which order status groups count and the date basis."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sqlalchemy as sa

from storepipe.shops import ShopConfigError

STATUS_GROUPS = ("paid", "pending", "cancelled", "failed", "refunded", "other")
DATE_BASES = ("created", "paid")


@dataclass(frozen=True)
class MetricSettings:
    """How a shop's orders are counted. Defaults: paid and refunded orders, by their creation date.

    A fully refunded order counts as a sale on its date and a refund (so it nets to zero) rather than
    vanishing, as in WooCommerce Analytics; see docs/metrics.md for the peers' choices.
    """

    counted_status_groups: tuple[str, ...] = ("paid", "refunded")
    date_basis: str = "created"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.counted_status_groups) - set(STATUS_GROUPS))
        if unknown or not self.counted_status_groups:
            raise ShopConfigError(
                "counted_status_groups",
                f"{unknown or 'an empty list'} is not a list of status groups; choose from {', '.join(STATUS_GROUPS)}",
            )
        if self.date_basis not in DATE_BASES:
            raise ShopConfigError("date_basis", f"{self.date_basis!r} is not a date basis; use created or paid")

    def fingerprint(self) -> str:
        """Changes when a setting changes: the marts then rebuild the shop from scratch."""
        text = f"{sorted(self.counted_status_groups)}|{self.date_basis}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def get_metric_settings(conn: sa.Connection, shop_key: str) -> MetricSettings:
    row = conn.execute(
        sa.text("SELECT counted_status_groups, date_basis FROM ops.metric_settings WHERE shop_key = :shop"),
        {"shop": shop_key},
    ).first()
    return MetricSettings(tuple(sorted(row[0])), row[1]) if row else MetricSettings()


def set_metric_settings(engine: sa.Engine, shop_key: str, settings: MetricSettings) -> None:
    """Store a shop's settings (validated by MetricSettings); the next mart refresh rebuilds that shop."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO ops.metric_settings (shop_key, counted_status_groups, date_basis) "
                "VALUES (:shop, :groups, :basis) ON CONFLICT (shop_key) DO UPDATE SET "
                "counted_status_groups = EXCLUDED.counted_status_groups, date_basis = EXCLUDED.date_basis, "
                "updated_at = now()"
            ),
            {"shop": shop_key, "groups": sorted(settings.counted_status_groups), "basis": settings.date_basis},
        )
