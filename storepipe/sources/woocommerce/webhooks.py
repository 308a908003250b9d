"""WooCommerce webhooks: the secret and signature, what a delivery is about, and applying deliveries to raw.

A WooCommerce delivery carries the whole resource as the REST API renders it when the delivery is sent
(`<resource>.deleted` carries only `{"id": N}`), so applying is an upsert into the resource's raw table, kept
monotonic on date_modified_gmt (raw.py): an old delivery arriving late never replaces a newer record.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from storepipe.shops import Shop
from storepipe.sources.woocommerce.raw import array_text, write_array
from storepipe.warehouse.tables import woocommerce_raw
from storepipe.webhooks.inbox import Delivery, Envelope

SECRET_SUFFIX = "WEBHOOK_SECRET"
# Topic resource -> raw entity. Subscriptions come from WooCommerce Subscriptions (subscription.*) [C1].
ENTITIES = {
    "order": "orders",
    "customer": "customers",
    "product": "products",
    "coupon": "coupons",
    "subscription": "subscriptions",
}
_PING = re.compile(rb"^webhook_id=(\d{1,20})$")


def secret_variable(shop: Shop) -> str:
    """The variable holding the shop's webhook secret: <PREFIX>_WEBHOOK_SECRET next to <PREFIX>_KEY/_SECRET."""
    return f"{shop.credentials_prefix}_{SECRET_SUFFIX}"


def signature(secret: str, body: bytes) -> str:
    """X-WC-Webhook-Signature: base64(HMAC-SHA256(raw body, secret)) [C2]."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_signature(secret: str, body: bytes, header: str) -> bool:
    """Constant-time check of the signature header against the raw body bytes (never a re-serialised body)."""
    return hmac.compare_digest(signature(secret, body), header.strip())


def ping_id(body: bytes) -> str | None:
    """The webhook id of a creation ping (form body `webhook_id=N`, no X-WC headers [C2]), else None."""
    match = _PING.match(body.strip())
    return match.group(1).decode() if match else None


def entity_of(topic: str) -> str | None:
    resource, _, _event = topic.partition(".")
    return ENTITIES.get(resource)


def describe(headers: Mapping[str, str], body: bytes, payload: Any) -> Envelope | str:
    """The delivery's envelope from its X-WC-Webhook-* headers and parsed body, or why it is malformed."""
    topic = headers.get("x-wc-webhook-topic", "").strip()
    if not topic:
        return "no X-WC-Webhook-Topic header"
    # Delivery-ID is wp_hash(webhook id . time) [C2]; without one, the content names the delivery, so a replay of
    # the same body is still recognised.
    delivery = headers.get("x-wc-webhook-delivery-id", "").strip()[:200]
    if not delivery:
        delivery = "sha256:" + hashlib.sha256(topic.encode() + b"\n" + body).hexdigest()
    rid = payload.get("id") if isinstance(payload, dict) else None
    resource = str(rid) if isinstance(rid, int | str) and not isinstance(rid, bool) else None
    return Envelope(topic, delivery, resource, entity_of(topic) is not None)


def apply_deliveries(
    engine: sa.Engine, shop: Shop, deliveries: list[Delivery], run_id: str | None = None
) -> dict[str, int]:
    """Upsert the delivered resources into raw; `.deleted` marks the record deleted (WooCommerce: trashed).

    Per record, the last delivery (inbox order) decides whether it ends deleted; every full body is written and
    the newest by date_modified_gmt stays."""
    last: dict[tuple[str, int], Delivery] = {}
    skipped = 0
    for delivery in deliveries:
        entity = entity_of(delivery.topic)
        rid = delivery.payload.get("id") if isinstance(delivery.payload, dict) else None
        if entity is None or not isinstance(rid, int) or isinstance(rid, bool):
            skipped += 1
            continue
        last[(entity, rid)] = delivery
    deleted: dict[str, list[int]] = {}
    bodies: dict[str, list[dict[str, Any]]] = {}
    for (entity, rid), delivery in last.items():
        if delivery.topic.endswith(".deleted"):
            deleted.setdefault(entity, []).append(rid)
    for delivery in deliveries:
        entity = entity_of(delivery.topic) or ""
        rid = delivery.payload.get("id") if isinstance(delivery.payload, dict) else None
        if (entity, rid) in last and not last[(entity, rid)].topic.endswith(".deleted"):
            bodies.setdefault(entity, []).append(delivery.payload)
    upserted = marked = 0
    now = datetime.now(UTC)  # this machine's clock, like raw.fetched_at everywhere: the mapping compares them
    with engine.begin() as conn:
        for entity, records in bodies.items():
            body = array_text(records)
            upserted += write_array(conn, shop.key, entity, body, fetched_at=now, run_id=run_id).written.written
        for entity, ids in deleted.items():
            table = woocommerce_raw[entity]
            marked += conn.execute(
                sa.update(table)
                .where(table.c.shop_key == shop.key, table.c.id.in_(ids))
                .values(deleted_at=sa.func.coalesce(table.c.deleted_at, now), fetched_at=now)
            ).rowcount
    return {"webhook_records_written": upserted, "webhook_records_deleted": marked, "webhook_skipped": skipped}


def apply_inbox_run(
    engine: sa.Engine, shop: Shop, *, run_id: str, report: Callable[[str], None]
) -> dict[str, int | float | str | None]:
    """The model step of a woocommerce_webhook_apply run."""
    from storepipe.sources.woocommerce.model import map_shop
    from storepipe.webhooks.apply import apply_inbox

    return apply_inbox(engine, shop, map_shop, apply_deliveries, run_id=run_id, report=report)
