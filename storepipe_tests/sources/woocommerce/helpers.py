"""Helpers for the WooCommerce lane tests: run a sync without Dagster, read the store and the warehouse."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import requests
import sqlalchemy as sa

from storepipe.emulators.woocommerce import RunningEmulator
from storepipe.shops import Shop
from storepipe.sources.woocommerce.importer import finish_sync, run_stream
from storepipe.sources.woocommerce.options import build_options
from storepipe.sources.woocommerce.streams import STREAMS
from storepipe.sources.woocommerce.sync import StreamResult

KEY, SECRET = "ck_lane_secret_value", "cs_lane_secret_value"


def sync(engine: sa.Engine, shop: Shop, **options: Any) -> dict[str, StreamResult]:
    """One sync of every stream, then the model: what the Dagster job does, without Dagster."""
    opts = build_options(shop, **options)
    results = {s.name: run_stream(engine, shop, s.name, opts, report=lambda _m: None) for s in STREAMS}
    finish_sync(engine, shop, rebuild=opts.mode == "full")
    return results


def digest(record: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def listing(emu: RunningEmulator, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every record of one collection, page by page, straight over HTTP."""
    out, page = [], 1
    while True:
        r = requests.get(
            emu.api_url + path, params={**params, "per_page": 100, "page": page}, auth=emu.auth, timeout=30
        )
        r.raise_for_status()
        out += r.json()
        if page >= int(r.headers["X-WP-TotalPages"]):
            return out
        page += 1


def emulator_records(emu: RunningEmulator) -> dict[str, dict[int, str]]:
    """Every record the store lists, per entity, as {id: digest}."""

    products = listing(emu, "/products", status="any")
    variations = [
        v for p in products if p["type"] in ("variable", "variable-subscription")
        for v in listing(emu, f"/products/{p['id']}/variations")
    ]  # fmt: skip
    orders = listing(emu, "/orders")  # records trashed before the first import are not imported (Sweep.known_only)
    try:
        refunds = listing(emu, "/refunds")
    except requests.HTTPError:  # before WooCommerce 9.0: per order, for the orders that list refunds
        refunds = [r for o in orders if o.get("refunds") for r in listing(emu, f"/orders/{o['id']}/refunds")]
    entities = {
        "orders": orders,
        "customers": listing(emu, "/customers", role="all"),
        "products": products,
        "variations": variations,
        "coupons": listing(emu, "/coupons"),
        "refunds": refunds,
        "subscriptions": listing(emu, "/subscriptions"),
    }
    return {name: {r["id"]: digest(r) for r in records} for name, records in entities.items()}


def raw_records(engine: sa.Engine, shop_key: str) -> dict[str, dict[int, str]]:
    out = {}
    with engine.connect() as conn:
        for stream in STREAMS:
            rows = conn.execute(
                sa.text(f"SELECT id, payload FROM raw.{stream.table_name} WHERE shop_key = :s"), {"s": shop_key}
            )
            out[stream.name] = {r.id: digest(r.payload) for r in rows}
    return out


def core_snapshot(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT order_id, status, status_group, total, refunded_total, customer_key, deleted, "
                    "(SELECT count(*) FROM core.order_lines l "
                    " WHERE l.shop_key = o.shop_key AND l.order_id = o.order_id) "
                    "FROM core.orders o ORDER BY order_id"
                )
            )
        ]
