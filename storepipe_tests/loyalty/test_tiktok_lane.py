"""Loyalty is written once over core: a TikTok Shop shop earns by TikTok's Paid statuses, through the same factory."""

from __future__ import annotations

import os
from decimal import Decimal as D

import dagster as dg
import sqlalchemy as sa

from storepipe.loyalty.factory import loyalty_assets
from storepipe.loyalty.program import LoyaltyProgram, set_program
from storepipe.resources import WarehouseResource
from storepipe.settings import Settings
from storepipe.shops import PLATFORMS, add_shop, validate_shop
from storepipe_tests.loyalty.shop import PROGRAM, rows

# (order id, status, paid) as TikTok reports them; amounts 100.00 each, Singapore time, paid 2026-06-0<n>.
ORDERS = [
    ("5770001", "COMPLETED", True),
    ("5770002", "AWAITING_SHIPMENT", True),
    ("5770003", "UNPAID", False),
    ("5770004", "CANCELLED", True),  # paid, then cancelled: not Paid
    ("5770005", "IN_TRANSIT", True),
]


def test_a_tiktok_shop_earns_by_tiktok_paid_statuses(
    engine: sa.Engine, instance: dg.DagsterInstance, settings: Settings
) -> None:
    os.environ["TT_KEY"], os.environ["TT_SECRET"] = "k", "s"
    shop = add_shop(engine, instance, validate_shop(
        platform="tiktok_shop", key="tt", url="https://open-api.tiktokglobalshop.com", timezone="Asia/Singapore",
        currency="SGD", credentials_env="TT",
    ))  # fmt: skip
    set_program(engine, shop.key, LoyaltyProgram.from_dict(PROGRAM))
    local = "(CAST(:at AS timestamptz) AT TIME ZONE 'Asia/Singapore')::date"
    insert_order = f"""
        INSERT INTO core.orders (shop_key, order_id, platform, status, status_group, customer_key, created_at,
            created_date, paid_at, paid_date, subtotal, discount_total, discount_tax, shipping_total, shipping_tax,
            fee_total, fee_tax, cart_tax, total_tax, total, item_count)
        VALUES ('tt', :id, 'tiktok_shop', :status, 'paid', 'id:buyer-1', CAST(:at AS timestamptz), {local},
            CASE WHEN :paid THEN CAST(:at AS timestamptz) END, CASE WHEN :paid THEN {local} END,
            100, 0, 0, 0, 0, 0, 0, 0, 0, 100, 1)
    """
    insert_line = """
        INSERT INTO core.order_lines (shop_key, order_id, line_id, product_key, quantity, subtotal, subtotal_tax,
            total, total_tax)
        VALUES ('tt', :id, :id || '-1', 'sku-1', 1, 100, 0, 100, 0)
    """
    with engine.begin() as conn:
        for n, (order_id, status, paid) in enumerate(ORDERS, start=1):
            values = {"id": order_id, "status": status, "paid": paid, "at": f"2026-06-0{n} 10:00+08"}
            conn.execute(sa.text(insert_order), values)
            conn.execute(sa.text(insert_line), values)
    assets = loyalty_assets("tiktok_shop", PLATFORMS["tiktok_shop"].partitions, dg.AssetKey(["tiktok_shop", "model"]))
    result = dg.materialize(
        [assets], partition_key="tt", instance=instance,
        resources={"warehouse": WarehouseResource(database_url=settings.database_url)},
    )  # fmt: skip
    assert result.success
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} == {
        f"tiktok_shop/loyalty/{n}" for n in ("customer_spend", "tiers", "cashback_ledger", "sync_summary")
    }
    assert all(c.passed for c in result.get_asset_check_evaluations())
    # Bronze 2 % on June 1; Silver 5 % from the end of June 1 (spend 100), so June 2 and June 5 earn 5.00.
    assert rows(engine, "SELECT entry_key, amount FROM loyalty.cashback_ledger ORDER BY entry_id") == [
        ("earn:5770001", D("2.00")), ("earn:5770002", D("5.00")), ("earn:5770005", D("5.00")),
    ]  # fmt: skip
    assert rows(engine, "SELECT tier, period_spend FROM loyalty.tier_placements") == [("Silver", D("300"))]
