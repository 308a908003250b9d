"""Order and product JSON as the v202309 API returns it, computed from timelines at the emulator clock."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from storepipe.emulators.tiktok_shop.config import DAY, EmulatorConfig
from storepipe.emulators.tiktok_shop.data import ZERO, Line, Order, Product, Sku, Warehouse, image_url, money


def happened(order: Order, instant: int | None, now: int) -> bool:
    """Whether an event of the order's timeline has occurred (events after a cancellation never do)."""
    if instant is None or instant > now:
        return False
    return not (order.cancel_time is not None and order.cancel_time <= now and instant >= order.cancel_time)


def is_cancelled(order: Order, now: int) -> bool:
    return order.cancel_time is not None and order.cancel_time <= now


def order_status(order: Order, now: int) -> str:
    forced = order.extra.get("status")
    if isinstance(forced, str):
        return forced
    if is_cancelled(order, now):
        return "CANCELLED"
    if not happened(order, order.paid_time, now):
        return "UNPAID"
    if order.on_hold_until is not None and now < order.on_hold_until:
        return "ON_HOLD"
    if not happened(order, order.rts_time, now):
        return "AWAITING_SHIPMENT"
    if not happened(order, order.collection_time, now):
        return "AWAITING_COLLECTION"
    if not happened(order, order.delivery_time, now):
        return "IN_TRANSIT"
    if not happened(order, order.complete_time, now):
        return "DELIVERED"
    return "COMPLETED"


def update_time(order: Order, now: int) -> int:
    """The latest thing that happened to the order: status changes and control-API modifications."""
    instants = [order.create_time, order.touched]
    for instant in (order.paid_time, order.rts_time, order.collection_time, order.delivery_time, order.complete_time):
        if happened(order, instant, now):
            instants.append(instant)  # type: ignore[arg-type]
    if order.on_hold_until is not None and happened(order, order.on_hold_until, now):
        instants.append(order.on_hold_until)
    if is_cancelled(order, now):
        instants.append(order.cancel_time)  # type: ignore[arg-type]
    return max(instants)


def settle_time(order: Order) -> int | None:
    """When the order's money reaches a statement: delivery + settlement period (3–31 days) [C2]."""
    # Cancellations always precede collection, so a cancelled (or to-be-cancelled) order never settles.
    if order.cancel_time is not None or order.delivery_time is None:
        return None
    return order.delivery_time + order.settle_days * DAY


def _sum(values: list[Decimal]) -> Decimal:
    return sum(values, ZERO)


def payment(order: Order, currency: str) -> dict[str, str]:
    """Order payment; the documented identities hold exactly [C2]:
    sub_total = original_total_product_price − seller_discount − platform_discount,
    shipping_fee = original_shipping_fee − shipping_fee_seller_discount − shipping_fee_platform_discount,
    total_amount = sub_total + shipping_fee + tax + retail_delivery_fee (US: prices are pre-tax)."""
    original = _sum([line.original_price for line in order.lines])
    seller_discount = _sum([line.seller_discount for line in order.lines])
    platform_discount = _sum([line.platform_discount for line in order.lines])
    sub_total = original - seller_discount - platform_discount
    shipping_fee = order.original_shipping_fee - order.shipping_fee_seller_discount
    shipping_fee -= order.shipping_fee_platform_discount
    product_tax = _sum([line.tax for line in order.lines])
    tax = product_tax + order.shipping_fee_tax
    total = sub_total + shipping_fee + tax + order.retail_delivery_fee
    return {
        "currency": currency,
        "sub_total": money(sub_total),
        "shipping_fee": money(shipping_fee),
        "seller_discount": money(seller_discount),
        "platform_discount": money(platform_discount),
        "total_amount": money(total),
        "original_total_product_price": money(original),
        "original_shipping_fee": money(order.original_shipping_fee),
        "shipping_fee_seller_discount": money(order.shipping_fee_seller_discount),
        "shipping_fee_platform_discount": money(order.shipping_fee_platform_discount),
        "shipping_fee_cofunded_discount": "0.00",
        "tax": money(tax),
        "product_tax": money(product_tax),
        "shipping_fee_tax": money(order.shipping_fee_tax),
        "retail_delivery_fee": money(order.retail_delivery_fee),
        "small_order_fee": "0.00",
        "buyer_service_fee": "0.00",
        "handling_fee": "0.00",
        "item_insurance_fee": "0.00",
    }


_PACKAGE_STATUS = {
    "UNPAID": "TO_FULFILL",
    "ON_HOLD": "TO_FULFILL",
    "AWAITING_SHIPMENT": "TO_FULFILL",
    "PARTIALLY_SHIPPING": "PROCESSING",
    "AWAITING_COLLECTION": "PROCESSING",
    "IN_TRANSIT": "FULFILLING",
    "DELIVERED": "COMPLETED",
    "COMPLETED": "COMPLETED",
    "CANCELLED": "CANCELLED",
}


def _line(order: Order, line: Line, status: str, shipped: bool, cfg: EmulatorConfig) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": line.id,
        "sku_id": line.sku_id,
        "product_id": line.product_id,
        "product_name": line.product_name,
        "sku_name": line.sku_name,
        "sku_image": line.sku_image,
        "sku_type": "NORMAL",
        "original_price": money(line.original_price),
        "sale_price": money(line.sale_price),
        "platform_discount": money(line.platform_discount),
        "seller_discount": money(line.seller_discount),
        "currency": cfg.currency,
        "display_status": status,
        "package_status": _PACKAGE_STATUS[status],
        "is_gift": False,
        "item_tax": [{"tax_type": "SALES_TAX", "tax_amount": money(line.tax), "tax_rate": str(order.tax_rate)}],
        "shipping_provider_id": order.shipping_provider_id,
        "shipping_provider_name": order.shipping_provider,
    }
    if line.seller_sku is not None:
        out["seller_sku"] = line.seller_sku
    if line.temporary:
        # The official order sample carries these two on Countdown Bidding lines [C1].
        out["product_listing_type"] = "TEMPORARY_LISTING"
        out["room_id"] = order.room_id
    if shipped:
        # US/UK local orders have no package_id before shipment [C1].
        out["package_id"] = order.package_id
        out["tracking_number"] = order.tracking_number
        out["rts_time"] = order.rts_time
    if status == "CANCELLED":
        out["cancel_user"] = order.cancellation_initiator
        out["cancel_reason"] = order.cancel_reason
    return out


def render_order(order: Order, now: int, cfg: EmulatorConfig) -> dict[str, Any]:
    status = order_status(order, now)
    shipped = happened(order, order.rts_time, now)
    out: dict[str, Any] = {
        "id": order.id,
        "status": status,
        "order_type": "NORMAL",
        "create_time": order.create_time,
        "update_time": update_time(order, now),
        "user_id": order.user_id,
        "buyer_email": order.buyer_email,
        "buyer_message": order.buyer_message,
        "seller_note": order.seller_note,
        "payment": payment(order, cfg.currency),
        "recipient_address": order.recipient,
        "line_items": [_line(order, line, status, shipped, cfg) for line in order.lines],
        "packages": [{"id": order.package_id}] if shipped else [],
        "shipping_type": order.shipping_type,
        "fulfillment_type": order.fulfillment_type,
        "delivery_type": "HOME_DELIVERY",
        "delivery_option_id": "7091146663229654785",
        "delivery_option_name": "Standard shipping",
        "warehouse_id": order.warehouse_id,
        "shipping_provider": order.shipping_provider,
        "shipping_provider_id": order.shipping_provider_id,
        "is_cod": False,
        "is_sample_order": False,
        "is_on_hold_order": order.on_hold_until is not None,
        "is_replacement_order": False,
        "is_buyer_request_cancel": False,
        "split_or_combine_tag": "",
        "commerce_platform": "TIKTOK_SHOP",
        "has_updated_recipient_address": False,
        "rts_sla_time": order.create_time + 3 * DAY,
        "tts_sla_time": order.create_time + 10 * DAY,
    }
    # Times of events that have not happened are left out [INF: the docs mark them optional].
    for name in ("paid_time", "rts_time", "collection_time", "delivery_time"):
        instant = getattr(order, name)
        if happened(order, instant, now):
            out[name] = instant
    if shipped:
        out["tracking_number"] = order.tracking_number
    if status == "CANCELLED":
        out["cancel_time"] = order.cancel_time
        out["cancel_reason"] = order.cancel_reason
        out["cancellation_initiator"] = order.cancellation_initiator
    return out


# --------------------------------------------------------------------------- products


def _price(sku: Sku, cfg: EmulatorConfig) -> dict[str, str]:
    return {"currency": cfg.currency, "sale_price": money(sku.price), "tax_exclusive_price": money(sku.price)}


def _inventory(sku: Sku) -> list[dict[str, Any]]:
    # Inventory is a static snapshot: generated orders do not draw it down [INF: keeps the catalog stable].
    return [{"warehouse_id": wid, "quantity": qty} for wid, qty in sorted(sku.inventory.items())]


def render_product_summary(product: Product, cfg: EmulatorConfig) -> dict[str, Any]:
    return {
        "id": product.id,
        "title": product.title,
        "status": product.status,
        "create_time": product.create_time,
        "update_time": product.update_time,
        "skus": [
            {
                "id": sku.id,
                "seller_sku": sku.seller_sku,
                "price": _price(sku, cfg),
                "inventory": _inventory(sku),
                "list_price": {"amount": money(sku.list_price), "currency": cfg.currency},
                "status_info": {"status": "NORMAL"},
            }
            for sku in product.skus
        ],
        "sales_regions": [cfg.region],
        "is_not_for_sale": False,
        "audit": {"status": "APPROVED"},
        "listing_quality_tier": "GOOD",
        "product_sync_fail_reasons": [],
        "recommended_categories": [],
        "integrated_platform_statuses": [],
    }


def _image(uri: str) -> dict[str, Any]:
    url = image_url(uri)
    return {"height": 800, "width": 800, "uri": uri, "urls": [url], "thumb_urls": [url.replace("origin", "100x")]}


def render_product_detail(product: Product, cfg: EmulatorConfig) -> dict[str, Any]:
    top, leaf = product.category
    top_id = str(600000 + sum(map(ord, top)))
    skus = []
    for sku in product.skus:
        skus.append(
            {
                "id": sku.id,
                "seller_sku": sku.seller_sku,
                "price": _price(sku, cfg),
                "inventory": _inventory(sku),
                "list_price": {"amount": money(sku.list_price), "currency": cfg.currency},
                "sales_attributes": [
                    {
                        "id": str(100000 + sum(map(ord, name))),
                        "name": name,
                        "value_id": str(7_000_000 + sum(map(ord, value))),
                        "value_name": value,
                    }
                    for name, value in sku.attributes
                ],
                "identifier_code": {"code": f"0{int(sku.id) % 10**11:011d}", "type": "UPC"},
                "combined_skus": [],
            }
        )
    return {
        "id": product.id,
        "title": product.title,
        "description": product.description,
        "status": product.status,
        "create_time": product.create_time,
        "update_time": product.update_time,
        "category_chains": [
            {"id": top_id, "parent_id": "0", "local_name": top, "is_leaf": False},
            {"id": str(int(top_id) * 10 + len(leaf)), "parent_id": top_id, "local_name": leaf, "is_leaf": True},
        ],
        "brand": {"id": "7082427311584347905", "name": "Storepipe"},
        "main_images": [_image(uri) for uri in product.images],
        "skus": skus,
        "package_dimensions": {"length": "20", "width": "15", "height": "5", "unit": "CENTIMETER"},
        "package_weight": {"value": str(product.weight_g), "unit": "GRAM"},
        "product_attributes": [],
        "audit": {"status": "APPROVED"},
        "is_cod_allowed": False,
    }


def render_warehouse(warehouse: Warehouse, cfg: EmulatorConfig) -> dict[str, Any]:
    return {
        "id": warehouse.id,
        "name": warehouse.name,
        "effect_status": "ENABLED",
        "type": "SALES_WAREHOUSE",
        "sub_type": "DOMESTIC_WAREHOUSE",
        "is_default": warehouse.is_default,
        "address": {"region_code": cfg.region},
    }
