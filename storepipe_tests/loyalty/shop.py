"""A WooCommerce shop for the loyalty tests: orders written into raw by shop-local paid time, mapped by the real model.

Shop timezone America/New_York (UTC−4 in summer, −5 in winter); "today" is 2026-06-30 unless a test says.
Program: Bronze from 0 at 2 %, Silver from 100 at 5 %, Gold from 500 at 10 %; ANNUAL unless a test says.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from storepipe.loyalty.program import LoyaltyProgram, set_program
from storepipe.shops import Shop, add_shop, validate_shop
from storepipe.sources.woocommerce.model import map_shop
from storepipe_tests.marts.fixture_shop import SHOP_KEY, _line, _order, _refund, write_raw

TZ = "America/New_York"
AS_OF = date(2026, 6, 30)
PROGRAM: dict[str, Any] = {
    "tiers": [
        {"name": "Bronze", "min_spend": "0", "cashback_percent": "2"},
        {"name": "Silver", "min_spend": "100", "cashback_percent": "5"},
        {"name": "Gold", "min_spend": "500", "cashback_percent": "10"},
    ],
    "base_tier": "Bronze",
    "evaluation_period": "ANNUAL",
}


def utc(local: str) -> str:
    """'2026-06-30 12:00' in the shop's timezone as WooCommerce's naive *_gmt string."""
    moment = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(TZ)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def order(
    order_id: int,
    customer: int | str,
    paid_local: str,
    amounts: Sequence[str],
    *,
    status: str = "completed",
    paid: bool = True,
    shipping: str = "0.00",
    tax: str = "0.00",
    products: Sequence[int] | None = None,
) -> dict[str, Any]:
    """An order of one line per amount (line total = subtotal, no discount); product 100 + line index unless given.
    `customer` is a registered customer id or a guest's email."""
    products = products or [100 + i for i in range(len(amounts))]
    lines = [_line(order_id * 10 + i, p, 1, a, a) for i, (p, a) in enumerate(zip(products, amounts, strict=True))]
    total = sum((Decimal(a) for a in amounts), Decimal(shipping) + Decimal(tax))
    who = {"customer_id": customer} if isinstance(customer, int) else {"billing": {"email": customer}}
    created = utc(paid_local)
    return _order(order_id, created, status, lines, f"{total:.2f}", paid=created if paid else None,
                  shipping_total=shipping, total_tax=tax, cart_tax=tax, **who)  # fmt: skip


def refund(refund_id: int, order_id: int, local: str, amount: str, line: tuple[int, int] | None = None) -> dict:
    """A refund of `amount`; with `line` = (order line id, product id) it is a refund of that line."""
    items = [] if line is None else [
        {"id": refund_id * 10, "product_id": line[1], "variation_id": 0, "quantity": -1, "total": f"-{amount}",
         "total_tax": "0.00", "meta_data": [{"key": "_refunded_item_id", "value": str(line[0])}]}
    ]  # fmt: skip
    return _refund(refund_id, order_id, utc(local), amount, items)


def register(engine: sa.Engine, instance: Any, **program: Any) -> Shop:
    """The shop, its loyalty program (PROGRAM with `program` overrides) and no orders yet."""
    os.environ["LOYAL_KEY"], os.environ["LOYAL_SECRET"] = "ck_loyal", "cs_loyal"
    shop = validate_shop(platform="woocommerce", key=SHOP_KEY, url="http://127.0.0.1:9", timezone=TZ, currency="USD",
                         credentials_env="LOYAL")  # fmt: skip
    shop = add_shop(engine, instance, shop)
    set_program(engine, shop.key, LoyaltyProgram.from_dict(PROGRAM | program))
    return shop


def load(engine: sa.Engine, shop: Shop, orders: Sequence[dict] = (), refunds: Sequence[dict] = ()) -> None:
    """Write records into raw and map what was just written, as an incremental import does."""
    with engine.connect() as conn:
        since = conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
    with engine.begin() as conn:
        write_raw(conn, "orders", list(orders))
        write_raw(conn, "refunds", list(refunds))
    map_shop(engine, shop, since)


def rows(engine: sa.Engine, query: str, **params: Any) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(query), {"s": SHOP_KEY, **params})]


def ledger(engine: sa.Engine) -> list[tuple]:
    """(entry_key, customer, kind, amount) in the order written."""
    return rows(engine, "SELECT entry_key, customer_key, kind, amount FROM loyalty.cashback_ledger "
                        "WHERE shop_key = :s ORDER BY entry_id")  # fmt: skip


def placements(engine: sa.Engine) -> dict[str, tuple]:
    """customer -> (tier, period spend, next review)."""
    found = rows(engine, "SELECT customer_key, tier, period_spend, next_review FROM loyalty.tier_placements "
                         "WHERE shop_key = :s ORDER BY 1")  # fmt: skip
    return {r[0]: r[1:] for r in found}
