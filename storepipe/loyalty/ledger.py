"""Reading and adding to the cashback ledger by hand: manual adjustments, balances, open discrepancies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa

from storepipe.loyalty.sync import lock_shop
from storepipe.shops import Shop, ShopConfigError

_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


@dataclass(frozen=True)
class Adjustment:
    entry_key: str
    customer_key: str
    amount: Decimal
    balance: Decimal
    created: bool  # False: an adjustment with this key was already booked (nothing written)


def add_adjustment(
    engine: sa.Engine, shop: Shop, *, customer_key: str, amount: Decimal, key: str, note: str
) -> Adjustment:
    """Book a manual credit (amount > 0) or debit (< 0) for a customer, once per `key` (a ticket number, say).

    Booking the same key again writes nothing: retries are safe. The amount must be whole cents.
    """
    if not key or set(key) - _KEY_CHARS:
        raise ShopConfigError("--key", f"{key!r} is not a key; use letters, digits, '-', '_' or '.'")
    if amount == 0 or amount != amount.quantize(Decimal("0.01")):
        raise ShopConfigError("--amount", f"{amount} is not a non-zero amount in whole cents, e.g. 5.00 or -2.50")
    if not note.strip():
        raise ShopConfigError("--note", "say why: the note is what an auditor reads")
    entry_key = f"adjustment:{key}"
    with engine.begin() as conn:
        lock_shop(conn, shop.key)
        known = conn.execute(
            sa.text("SELECT 1 FROM core.customers WHERE shop_key = :shop AND customer_key = :customer "
                    "UNION ALL SELECT 1 FROM loyalty.orders WHERE shop_key = :shop AND customer_key = :customer"),
            {"shop": shop.key, "customer": customer_key},
        ).first()  # fmt: skip
        if known is None:
            raise ShopConfigError("--customer", f"shop {shop.key!r} has no customer {customer_key!r}")
        row = conn.execute(
            sa.text(
                "INSERT INTO loyalty.cashback_ledger (shop_key, entry_key, customer_key, kind, amount, entry_date, "
                "source, note) VALUES (:shop, :key, :customer, 'adjustment', :amount, :today, 'manual', :note) "
                "ON CONFLICT (shop_key, entry_key) DO NOTHING RETURNING amount"
            ),
            {"shop": shop.key, "key": entry_key, "customer": customer_key, "amount": amount, "note": note,
             "today": datetime.now(shop.tz).date()},
        ).first()  # fmt: skip
        if row is not None:
            conn.execute(
                sa.text(
                    "INSERT INTO loyalty.balances AS b (shop_key, customer_key, balance, entries) "
                    "VALUES (:shop, :customer, :amount, 1) ON CONFLICT (shop_key, customer_key) DO UPDATE SET "
                    "balance = b.balance + EXCLUDED.balance, entries = b.entries + 1, updated_at = now()"
                ),
                {"shop": shop.key, "customer": customer_key, "amount": amount},
            )
        balance = conn.execute(
            sa.text("SELECT balance FROM loyalty.balances WHERE shop_key = :shop AND customer_key = :customer"),
            {"shop": shop.key, "customer": customer_key},
        ).scalar_one()
    return Adjustment(entry_key, customer_key, amount, balance, row is not None)


def open_discrepancies(engine: sa.Engine, shop_key: str) -> list[tuple[str, str, str, date]]:
    """(entity, source id, reason, first seen) of the shop's open discrepancies a sync summary counts."""
    with engine.connect() as conn:
        return [
            (r.entity, r.source_id, r.reason, r.first_seen_at.date())
            for r in conn.execute(
                sa.text(
                    "SELECT entity, source_id, reason, first_seen_at FROM loyalty.discrepancies "
                    "WHERE shop_key = :shop AND resolved_at IS NULL ORDER BY entity, length(source_id), source_id"
                ),
                {"shop": shop_key},
            )
        ]
