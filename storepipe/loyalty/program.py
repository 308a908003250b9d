"""A shop's loyalty program: tiers, evaluation period, what counts as Paid, the spend basis; validated, stored in ops.

A program is JSON (ops.loyalty_programs.program, or a file given to `storepipe shops loyalty set`):

    {"tiers": [{"name": "Bronze", "min_spend": "0", "cashback_percent": "1"},
               {"name": "Silver", "min_spend": "500", "cashback_percent": "3"}],
     "base_tier": "Bronze", "evaluation_period": "ANNUAL",
     "paid_statuses": null, "require_paid_date": true,
     "include_shipping": false, "include_tax": false, "excluded_products": ["123"]}

Money and rates are decimal strings (or integers): a float would not be exact. `paid_statuses` null means
the platform's default (PAID_STATUSES); the statuses are the platform's own (core.orders.status).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from storepipe.shops import PLATFORMS, ShopConfigError

EVALUATION_PERIODS = ("ANNUAL", "LIFETIME")
ANNUAL_DAYS = 365  # an order paid 365 days ago (shop-local dates) still counts; 366 days ago it does not

# What "Paid" means per platform when the program does not say (RewardsPro is a Shopify app and keys on
# Shopify's financial_status; the other platforms need a rule of their own):
# - WooCommerce: date_paid is set and the status is processing or completed, or refunded: a refunded order
#   was paid first, and keeping it lets its refunds claw the cashback back instead of dropping the order.
# - TikTok Shop: paid_at (paid_time) is set and the order is past payment: awaiting shipment or collection,
#   partially shipped, in transit, delivered or completed (UNPAID, ON_HOLD and CANCELLED are not paid).
PAID_STATUSES: dict[str, tuple[str, ...]] = {
    "woocommerce": ("processing", "completed", "refunded"),
    "tiktok_shop": (
        "AWAITING_SHIPMENT", "PARTIALLY_SHIPPING", "AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED", "COMPLETED",
    ),
}  # fmt: skip
assert set(PAID_STATUSES) == set(PLATFORMS), "every platform needs a default Paid rule"

_KEYS = {"tiers", "base_tier", "evaluation_period", "paid_statuses", "require_paid_date", "include_shipping",
         "include_tax", "excluded_products"}  # fmt: skip
_TIER_KEYS = {"name", "min_spend", "cashback_percent"}


def _decimal(field_name: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise ShopConfigError(field_name, f'{value!r} is not a decimal string such as "500" or "2.5" (no floats)')
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ShopConfigError(field_name, f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ShopConfigError(field_name, f"{value!r} is not a finite number")
    return number


@dataclass(frozen=True)
class Tier:
    name: str
    min_spend: Decimal  # the customer is in this tier from this much spend in the evaluation period
    cashback_percent: Decimal  # 5 means 5 % of the order's spend basis


@dataclass(frozen=True)
class LoyaltyProgram:
    """One shop's program. Construction validates and raises ShopConfigError naming the field."""

    tiers: tuple[Tier, ...]
    base_tier: str
    evaluation_period: str = "ANNUAL"
    paid_statuses: tuple[str, ...] | None = None
    require_paid_date: bool = True
    include_shipping: bool = False
    include_tax: bool = False
    excluded_products: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.tiers:
            raise ShopConfigError("tiers", "a program needs at least one tier (the base tier, min_spend 0)")
        names = [t.name for t in self.tiers]
        if any(not isinstance(n, str) or not n.strip() for n in names) or len(set(names)) != len(names):
            raise ShopConfigError("tiers", f"tier names must be non-empty and unique, got {names}")
        spends = [t.min_spend for t in self.tiers]
        if len(set(spends)) != len(spends):
            raise ShopConfigError("tiers", "two tiers have the same min_spend; every threshold must differ")
        for tier in self.tiers:
            if tier.min_spend < 0:
                raise ShopConfigError(f"tiers.{tier.name}.min_spend", f"{tier.min_spend} is negative")
            if not Decimal(0) <= tier.cashback_percent <= Decimal(100):
                raise ShopConfigError(
                    f"tiers.{tier.name}.cashback_percent", f"{tier.cashback_percent} is not between 0 and 100"
                )
        if self.base_tier not in names:
            raise ShopConfigError("base_tier", f"{self.base_tier!r} is not one of the tiers {names}")
        if self.ranked[0].name != self.base_tier or self.ranked[0].min_spend != 0:
            message = f"the base tier {self.base_tier!r} must be the lowest tier, with min_spend 0"
            raise ShopConfigError("base_tier", message + ": every customer starts there")
        if self.evaluation_period not in EVALUATION_PERIODS:
            raise ShopConfigError(
                "evaluation_period", f"{self.evaluation_period!r} is not ANNUAL (rolling 365 days) or LIFETIME"
            )
        if self.paid_statuses is not None and (
            not self.paid_statuses or any(not isinstance(s, str) or not s for s in self.paid_statuses)
        ):
            raise ShopConfigError("paid_statuses", "give a non-empty list of the platform's order statuses, or null")
        if any(not isinstance(p, str) or not p for p in self.excluded_products):
            raise ShopConfigError("excluded_products", "give product keys as non-empty strings")

    @property
    def ranked(self) -> tuple[Tier, ...]:
        """Tiers by min_spend, lowest (the base) first: rank 1 is the base tier."""
        return tuple(sorted(self.tiers, key=lambda t: t.min_spend))

    def statuses_for(self, platform: str) -> tuple[str, ...]:
        return self.paid_statuses if self.paid_statuses is not None else PAID_STATUSES[platform]

    def tier_for(self, spend: Decimal) -> Tier:
        """The highest tier whose min_spend the spend reaches (RewardsPro: sort by minSpend, first ≤ spend)."""
        return [t for t in self.ranked if t.min_spend <= spend][-1] if spend >= 0 else self.ranked[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tiers": [
                {"name": t.name, "min_spend": str(t.min_spend), "cashback_percent": str(t.cashback_percent)}
                for t in self.ranked
            ],
            "base_tier": self.base_tier,
            "evaluation_period": self.evaluation_period,
            "paid_statuses": list(self.paid_statuses) if self.paid_statuses is not None else None,
            "require_paid_date": self.require_paid_date,
            "include_shipping": self.include_shipping,
            "include_tax": self.include_tax,
            "excluded_products": sorted(self.excluded_products),
        }

    def fingerprint(self) -> str:
        """Changes when anything that decides spend, tiers or Paid changes: the next sync re-derives every order."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: Any) -> LoyaltyProgram:
        if not isinstance(data, dict):
            raise ShopConfigError("program", "a loyalty program is a JSON object with tiers and base_tier")
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise ShopConfigError("program", f"unknown setting {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}")
        if "tiers" not in data or "base_tier" not in data:
            raise ShopConfigError("program", "tiers and base_tier are required")
        if not isinstance(data["tiers"], list):
            raise ShopConfigError("tiers", "tiers is a list of {name, min_spend, cashback_percent}")
        tiers = []
        for i, raw in enumerate(data["tiers"]):
            if not isinstance(raw, dict) or set(raw) != _TIER_KEYS:
                raise ShopConfigError(f"tiers[{i}]", "each tier has exactly name, min_spend and cashback_percent")
            tiers.append(
                Tier(
                    raw["name"],
                    _decimal(f"tiers[{i}].min_spend", raw["min_spend"]),
                    _decimal(f"tiers[{i}].cashback_percent", raw["cashback_percent"]),
                )
            )
        flags = {}
        for flag in ("require_paid_date", "include_shipping", "include_tax"):
            if flag in data and not isinstance(data[flag], bool):
                raise ShopConfigError(flag, f"{data[flag]!r} is not true or false")
            if flag in data:
                flags[flag] = data[flag]
        for name in ("paid_statuses", "excluded_products"):
            if data.get(name) is not None and not isinstance(data[name], list):
                raise ShopConfigError(name, f"{name} is a list of strings")
        paid = data.get("paid_statuses")
        return cls(
            tiers=tuple(tiers),
            base_tier=data["base_tier"],
            evaluation_period=str(data.get("evaluation_period", "ANNUAL")).upper(),
            paid_statuses=tuple(paid) if paid is not None else None,
            excluded_products=tuple(data.get("excluded_products") or ()),
            **flags,
        )

    @classmethod
    def from_file(cls, path: Path) -> LoyaltyProgram:
        """A program from a .json or .yaml file."""
        text = path.read_text()
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            # Numbers in YAML would load as floats: money must be quoted there, which from_dict enforces.
            return cls.from_dict(yaml.safe_load(text))
        try:
            return cls.from_dict(json.loads(text, parse_float=Decimal))
        except json.JSONDecodeError as exc:
            raise ShopConfigError("program", f"{path} is not valid JSON: {exc}") from None


def get_program(conn: sa.Connection, shop_key: str) -> LoyaltyProgram | None:
    """The shop's program, or None when the shop has no loyalty program (loyalty then does nothing)."""
    row = conn.execute(
        sa.text("SELECT program FROM ops.loyalty_programs WHERE shop_key = :shop"), {"shop": shop_key}
    ).first()
    if row is None:
        return None
    try:
        return LoyaltyProgram.from_dict(row[0])
    except ShopConfigError as exc:
        raise ShopConfigError(
            "loyalty program", f"shop {shop_key!r}: the stored program is invalid ({exc}); set it again"
        ) from None


def set_program(engine: sa.Engine, shop_key: str, program: LoyaltyProgram) -> None:
    """Store a shop's program; the next sync re-derives every order's spend basis and every customer's tier."""
    with engine.begin() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM ops.shops WHERE shop_key = :shop"), {"shop": shop_key}).first()
        if exists is None:
            raise ShopConfigError("shop", f"no shop {shop_key!r} in the registry; `storepipe shops list` shows them")
        conn.execute(
            sa.text(
                "INSERT INTO ops.loyalty_programs (shop_key, program) VALUES (:shop, CAST(:program AS jsonb)) "
                "ON CONFLICT (shop_key) DO UPDATE SET program = EXCLUDED.program, updated_at = now()"
            ),
            {"shop": shop_key, "program": json.dumps(program.to_dict())},
        )
