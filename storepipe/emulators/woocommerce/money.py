"""Money as WooCommerce formats it: Decimal arithmetic, wc_format_decimal strings, exact allocation."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal(0)
_RAW_PLACES = Decimal("0.000001")


_QUANTA = [Decimal(1).scaleb(-dp) for dp in range(12)]


def quantum(dp: int) -> Decimal:
    """The smallest amount at `dp` decimals (0.01 for 2)."""
    return _QUANTA[dp]


def rnd(value: Decimal, dp: int) -> Decimal:
    """PHP round(): half away from zero (Decimal's ROUND_HALF_UP is away from zero for negatives too)."""
    return value.quantize(_QUANTA[dp], rounding=ROUND_HALF_UP)


def fmt(value: Decimal, dp: int) -> str:
    """wc_format_decimal($v, $dp): fixed decimals, never "-0.00" (PHP 8 number_format drops the sign)."""
    out = value.quantize(_QUANTA[dp], rounding=ROUND_HALF_UP)
    # str() of a quantized Decimal is already fixed-point with `dp` decimals (and much faster than format).
    return str(abs(out) if out.is_zero() else out)


def fmt_raw(value: Decimal) -> str:
    """Unrounded tax amounts as stored in item tax data ("0.790514", "4.731", "2")."""
    out = value.quantize(_RAW_PLACES, rounding=ROUND_HALF_UP).normalize()
    if out == ZERO:
        return "0"
    text = f"{out:f}"
    return text


def dec(text: str | int | Decimal | None) -> Decimal:
    """Parse a WooCommerce money string ("" counts as zero, as PHP's (float) cast does)."""
    if text is None or text == "":
        return ZERO
    return Decimal(str(text))


def tax_of(amount: Decimal, percent: Decimal) -> Decimal:
    """Unrounded tax on an amount; rounding happens where WooCommerce rounds (per line)."""
    return amount * percent / 100


def allocate(amount_units: int, weights: list[int]) -> list[int]:
    """Split `amount_units` minor units proportionally to `weights` so the parts sum exactly.

    WooCommerce spreads fixed_cart coupons over lines in cents the same way (largest remainder first).
    """
    total = sum(weights)
    if total <= 0 or amount_units <= 0:
        return [0] * len(weights)
    base = [amount_units * w // total for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(amount_units * weights[i] % total), i))
    for i in remainders[: amount_units - sum(base)]:
        base[i] += 1
    return base


def to_units(value: Decimal, dp: int) -> int:
    """Minor units (cents) of an amount that already has `dp` decimals."""
    return int(rnd(value, dp).scaleb(dp))


def from_units(units: int, dp: int) -> Decimal:
    return Decimal(units).scaleb(-dp)
