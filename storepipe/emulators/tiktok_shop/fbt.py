"""Fulfilled by TikTok (FBT): FBT warehouses, goods, inbound orders, inventory records and on-hand stock, all
derived from one plan of inbound shipments and the FBT orders' shipments at the emulator clock.

Paths and field names come from the research sheet (§4 FBT, [C2]: EP, FD). Not documented there, so [INF]: the
list keys of the answers (`warehouses`, `inventory`, `inventory_records`, `inbound_orders`, `goods`), paging of
inventory records and goods, inbound statuses and types, record/order types, and that one goods item maps to one
SKU. The whole stock moves only through inbound receipts (+), shipments of FBT orders (−) and cancellations after
shipment (+), so every record satisfies final = initial + changed and the last record equals the on-hand stock."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from storepipe.emulators.tiktok_shop.config import DAY
from storepipe.emulators.tiktok_shop.data import Order, Sku, stable_hash
from storepipe.emulators.tiktok_shop.errors import bad_request
from storepipe.emulators.tiktok_shop.paging import int_filter, keyset_page, page_size_param
from storepipe.emulators.tiktok_shop.render import happened, is_cancelled

if TYPE_CHECKING:
    from storepipe.emulators.tiktok_shop.store import TikTokStore

FBT = "FULFILLMENT_BY_TIKTOK"
CYCLE = 30 * DAY  # one replenishment shipment per warehouse and month [INF]
GOODS_ID_BASE = 8_100_000_000_000_000_000
INBOUND_ID_BASE = 8_200_000_000_000_000_000
RECORD_ID_BASE = 8_300_000_000_000_000_000
# Inbound order statuses in their order [INF: the fact sheet names order_operation_logs[{order_status}] only].
INBOUND_STEPS = ("CREATED", "IN_TRANSIT", "ARRIVED", "RECEIVING", "COMPLETED")


@dataclass
class FbtWarehouse:
    id: str
    name: str
    warehouse_ids: list[str]
    region_code: str
    city: str

    def render(self) -> dict[str, Any]:
        return {
            "fbt_warehouse_id": self.id,
            "warehouse_ids": self.warehouse_ids,
            "name": self.name,
            "type": "FBT",  # [INF]
            "subscribed": True,
            "addresses": [{"region_code": self.region_code, "city": self.city}],
            "logistics_services": [{"name": "Standard", "type": "FBT_STANDARD"}],  # [INF]
        }


@dataclass
class Goods:
    """An FBT goods item: one seller SKU as the warehouse knows it."""

    id: str
    sku: Sku
    name: str

    def render(self) -> dict[str, Any]:
        return {"id": self.id, "reference_code": self.sku.seller_sku, "name": self.name, "skus": [{"id": self.sku.id}]}


@dataclass
class Inbound:
    """A replenishment shipment to one FBT warehouse; `steps` are its status instants in INBOUND_STEPS order."""

    id: str
    warehouse: FbtWarehouse
    steps: list[int]
    planned: list[tuple[Goods, int]]
    defective: dict[str, int] = field(default_factory=dict)  # goods id -> units received damaged

    @property
    def complete_time(self) -> int:
        return self.steps[-1]

    def render(self, now: int) -> dict[str, Any]:
        logs = [
            {"order_status": status, "operate_time": instant}
            for status, instant in zip(INBOUND_STEPS, self.steps, strict=True)
            if instant <= now
        ]
        out: dict[str, Any] = {
            "id": self.id,
            "type": "REPLENISHMENT",  # [INF]
            "create_time": self.steps[0],
            "warehouse": {"fbt_warehouse_id": self.warehouse.id, "name": self.warehouse.name},
            "planned_goods": [{"id": g.id, "quantity": qty, "sku_ids": [g.sku.id]} for g, qty in self.planned],
            "expect_arrive_time": self.steps[1] + 5 * DAY,
            "order_operation_logs": logs,
            "received_batches": [],
            "carriers": [],
        }
        if self.steps[1] <= now:
            out["ship_time"] = self.steps[1]
            carrier = {"name": "UPS Freight", "tracking_number": f"1Z{int(self.id) % 10**16:016d}"}
            out["carriers"] = [carrier]
        if self.steps[2] <= now:
            out["actual_arrive_time"] = self.steps[2]
        if self.complete_time <= now:
            out["received_batches"] = [
                {
                    "goods_id": g.id,
                    "normal_quantity": qty - self.defective.get(g.id, 0),
                    "defective_quantity": self.defective.get(g.id, 0),
                    "receive_time": self.complete_time,
                }
                for g, qty in self.planned
            ]
        return out


@dataclass(frozen=True)
class Movement:
    """One change of a (warehouse, goods) on-hand stock."""

    time: int
    order_type: str
    order_id: str
    change: int
    record_id: str


def _record_key(row: dict[str, Any]) -> tuple[int, int]:
    return row["create_time"], int(row["id"])


def fbt_warehouse_of(seed: int, order: Order, warehouses: list[FbtWarehouse]) -> FbtWarehouse:
    """The FBT warehouse behind the order's warehouse_id (each is linked to one sales warehouse) [INF]."""
    for warehouse in warehouses:
        if order.warehouse_id in warehouse.warehouse_ids:
            return warehouse
    return warehouses[stable_hash(seed, "fbt-wh", order.id) % len(warehouses)]


def _units(order: Order, goods_by_sku: Mapping[str, Goods]) -> dict[str, int]:
    """Goods id → units of an order (temporary auction listings are never stocked in FBT)."""
    units: dict[str, int] = {}
    for line in order.lines:
        goods = goods_by_sku.get(line.sku_id)
        if goods is not None:
            units[goods.id] = units.get(goods.id, 0) + 1
    return units


class FbtDesk:
    """The FBT endpoints over the store's orders. The inbound plan is drawn once from the generated history
    (a seller restocks for what sells); everything else is recomputed per clock value and order generation."""

    def __init__(self, store: TikTokStore) -> None:
        self.store = store
        cfg = store.config
        rng = random.Random(f"{cfg.seed}:fbt")
        linked = [w.id for w in store.warehouses]
        base = 7_200_000_000_000_000_000 + rng.randrange(10**15)
        self.warehouses = [
            FbtWarehouse(str(base), "FBT Fontana (CA)", linked[:1], cfg.region, "Fontana"),
            FbtWarehouse(
                str(base + 1 + rng.randrange(10**6)), "FBT Allentown (PA)", linked[-1:], cfg.region, "Allentown"
            ),
        ]
        self.goods: list[Goods] = []
        for product in store.factory.sellable:
            for sku in product.skus:
                goods_id = str(GOODS_ID_BASE + stable_hash(cfg.seed, "goods", sku.id) % 10**17)
                self.goods.append(Goods(goods_id, sku, f"{product.title} ({sku.name})"))
        self.goods_by_id = {g.id: g for g in self.goods}
        self.goods_by_sku = {g.sku.id: g for g in self.goods}
        self.inbounds = self._plan(rng)
        self.inbounds_by_id = {i.id: i for i in self.inbounds}
        self._cache: tuple[tuple[int, int], dict[tuple[str, str], list[Movement]]] | None = None
        self._reserved_cache: tuple[tuple[int, int], dict[tuple[str, str], int]] | None = None
        self._records: tuple[tuple[Any, ...], list[dict[str, Any]]] | None = None

    def _plan(self, rng: random.Random) -> list[Inbound]:
        """Monthly shipments per warehouse, each arriving before its month with that month's generated demand plus
        a buffer; the first one stocks every goods item, and the plan runs 60 days past the clock (in transit)."""
        cfg = self.store.config
        demand: dict[tuple[str, int, str], int] = {}
        first = cfg.start_epoch - cfg.start_epoch % DAY
        for order in self.store.orders:
            if order.fulfillment_type != FBT:
                continue
            warehouse = fbt_warehouse_of(cfg.seed, order, self.warehouses)
            cycle = (order.create_time - first) // CYCLE
            for goods_id, units in _units(order, self.goods_by_sku).items():
                key = (warehouse.id, cycle, goods_id)
                demand[key] = demand.get(key, 0) + units
        inbounds: list[Inbound] = []
        cycles = (cfg.now_epoch + 60 * DAY - first) // CYCLE + 1
        last_full = (cfg.now_epoch - first) // CYCLE - 1
        for cycle in range(cycles):
            start = first + cycle * CYCLE
            for warehouse in self.warehouses:
                planned: list[tuple[Goods, int]] = []
                for goods in self.goods:
                    wanted = demand.get((warehouse.id, cycle, goods.id), 0)
                    if start + CYCLE > cfg.now_epoch:
                        # A month not (fully) generated yet: the seller restocks what the last full month sold.
                        wanted = max(wanted, demand.get((warehouse.id, last_full, goods.id), 0))
                    if cycle == 0:
                        wanted += rng.randint(20, 60)  # opening stock, the buffer for later months
                    elif wanted:
                        wanted += rng.randint(0, 4)
                    if wanted:
                        planned.append((goods, wanted))
                if not planned:
                    continue
                created = start - 20 * DAY + rng.randint(0, DAY)
                shipped = created + rng.randint(2 * DAY, 4 * DAY)
                arrived = shipped + rng.randint(4 * DAY, 9 * DAY)
                receiving = arrived + rng.randint(3600, DAY)
                complete = receiving + rng.randint(DAY // 2, 2 * DAY)
                inbound = Inbound(
                    id=str(INBOUND_ID_BASE + stable_hash(cfg.seed, "inbound", warehouse.id, cycle) % 10**17),
                    warehouse=warehouse,
                    steps=[created, shipped, arrived, receiving, complete],
                    planned=planned,
                )
                for goods, qty in planned:
                    if qty > 5 and rng.random() < 0.05:
                        inbound.defective[goods.id] = rng.randint(1, 2)
                inbounds.append(inbound)
        return inbounds

    # ------------------------------------------------------------------ stock movements

    def _record_id(self, *parts: object) -> str:
        return str(RECORD_ID_BASE + stable_hash(self.store.config.seed, "fbt-rec", *parts) % 10**17)

    def movements(self, now: int) -> dict[tuple[str, str], list[Movement]]:
        """(FBT warehouse id, goods id) → stock movements up to `now`, oldest first."""
        key = (now, self.store.generation)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        seed = self.store.config.seed
        moves: dict[tuple[str, str], list[Movement]] = {}
        for inbound in self.inbounds:
            if inbound.complete_time > now:
                continue
            for goods, qty in inbound.planned:
                normal = qty - inbound.defective.get(goods.id, 0)
                move = Movement(
                    inbound.complete_time, "INBOUND", inbound.id, normal, self._record_id(inbound.id, goods.id)
                )
                moves.setdefault((inbound.warehouse.id, goods.id), []).append(move)
        for order in self.store.orders:
            # Goods leave the warehouse when the order is ready to ship; a cancellation after that (before the
            # carrier collects) puts them back [INF].
            if order.fulfillment_type != FBT or not happened(order, order.rts_time, now):
                continue
            warehouse = fbt_warehouse_of(seed, order, self.warehouses)
            for goods_id, units in _units(order, self.goods_by_sku).items():
                bucket = moves.setdefault((warehouse.id, goods_id), [])
                rts = order.rts_time or 0
                bucket.append(Movement(rts, "SALES_ORDER", order.id, -units, self._record_id(order.id, goods_id)))
                if is_cancelled(order, now):
                    cancel = order.cancel_time or 0
                    record = self._record_id(order.id, goods_id, "cancel")
                    bucket.append(Movement(cancel, "CANCELLED_SALES_ORDER", order.id, units, record))
        for bucket in moves.values():
            bucket.sort(key=lambda m: (m.time, int(m.record_id)))
        self._cache = (key, moves)
        return moves

    def _reserved(self, now: int) -> dict[tuple[str, str], int]:
        """Units of paid FBT orders not yet shipped: on hand, but promised."""
        key = (now, self.store.generation)
        if self._reserved_cache is not None and self._reserved_cache[0] == key:
            return self._reserved_cache[1]
        seed = self.store.config.seed
        reserved: dict[tuple[str, str], int] = {}
        for order in self.store.orders:
            if order.fulfillment_type != FBT or is_cancelled(order, now):
                continue
            if happened(order, order.paid_time, now) and not happened(order, order.rts_time, now):
                warehouse = fbt_warehouse_of(seed, order, self.warehouses)
                for goods_id, units in _units(order, self.goods_by_sku).items():
                    reserved[(warehouse.id, goods_id)] = reserved.get((warehouse.id, goods_id), 0) + units
        self._reserved_cache = (key, reserved)
        return reserved

    # ------------------------------------------------------------------ endpoints

    def _filters(self, body: Mapping[str, Any]) -> tuple[set[str] | None, set[str] | None]:
        """The goods (goods_ids, sku_ids) and warehouses (fbt_warehouse_ids) a search is limited to."""
        goods: set[str] | None = None
        for name in ("goods_ids", "sku_ids"):
            values = body.get(name)
            if values is None:
                continue
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise bad_request(f"{name} must be a list of strings.")
            ids = set(values) if name == "goods_ids" else {g.id for g in self.goods if g.sku.id in values}
            goods = ids if goods is None else goods & ids
        warehouses = body.get("fbt_warehouse_ids")
        if warehouses is not None and (
            not isinstance(warehouses, list) or not all(isinstance(w, str) for w in warehouses)
        ):
            raise bad_request("fbt_warehouse_ids must be a list of strings.")
        return goods, set(warehouses) if warehouses is not None else None

    def warehouses_answer(self) -> dict[str, Any]:
        return {"warehouses": [w.render() for w in self.warehouses]}

    def search_inventory(self, query: Mapping[str, str], body: Mapping[str, Any]) -> dict[str, Any]:
        """One row per (FBT warehouse, goods) that ever held or expects stock; keyset-paged by (goods, warehouse)."""
        size = page_size_param(query)
        goods_filter, warehouse_filter = self._filters(body)
        with self.store.lock:
            now = self.store.now
            moves = self.movements(now)
            reserved = self._reserved(now)
            in_transit: dict[tuple[str, str], int] = {}
            unfulfillable: dict[tuple[str, str], int] = {}
            for inbound in self.inbounds:
                for goods, qty in inbound.planned:
                    pair = (inbound.warehouse.id, goods.id)
                    if inbound.steps[1] <= now < inbound.complete_time:
                        in_transit[pair] = in_transit.get(pair, 0) + qty
                    elif inbound.complete_time <= now and goods.id in inbound.defective:
                        unfulfillable[pair] = unfulfillable.get(pair, 0) + inbound.defective[goods.id]
        pairs = sorted(set(moves) | set(in_transit), key=lambda p: (int(p[1]), int(p[0])))
        rows = [
            p
            for p in pairs
            if (goods_filter is None or p[1] in goods_filter) and (warehouse_filter is None or p[0] in warehouse_filter)
        ]
        page, token = keyset_page(
            rows, lambda p: (int(p[1]), int(p[0])), size, query.get("page_token") or "", ("fbt",), False
        )
        warehouses = {w.id: w for w in self.warehouses}
        inventory = []
        for warehouse_id, goods_id in page:
            sellable = sum(m.change for m in moves.get((warehouse_id, goods_id), []))
            damaged = unfulfillable.get((warehouse_id, goods_id), 0)
            held = reserved.get((warehouse_id, goods_id), 0)
            inventory.append(
                {
                    "fbt_warehouse_id": warehouses[warehouse_id].id,
                    "goods": self.goods_by_id[goods_id].render(),
                    "in_transit_quantity": in_transit.get((warehouse_id, goods_id), 0),
                    "on_hand_detail": {
                        "total_quantity": sellable + damaged,
                        "available_quantity": max(0, sellable - held),
                        "reserved_quantity": min(held, max(0, sellable)),
                        "unfulfillable_quantity": damaged,
                    },
                }
            )
        return {"inventory": inventory, "total_count": len(rows), "next_page_token": token}

    def search_records(self, query: Mapping[str, str], body: Mapping[str, Any]) -> dict[str, Any]:
        """Stock movements with the on-hand quantity before and after, oldest first (create_time_ge/le inclusive)."""
        size = page_size_param(query)
        goods_filter, warehouse_filter = self._filters(body)
        ge, le = int_filter(body, "create_time_ge"), int_filter(body, "create_time_le")
        with self.store.lock:
            now, generation = self.store.now, self.store.generation
            moves = self.movements(now)
        goods_key = None if goods_filter is None else frozenset(goods_filter)
        warehouse_key = None if warehouse_filter is None else frozenset(warehouse_filter)
        cache_key = (now, generation, goods_key, warehouse_key, ge, le)
        if self._records is not None and self._records[0] == cache_key:
            rows = self._records[1]  # the later pages of one listing
        else:
            rows = self._record_rows(moves, goods_filter, warehouse_filter, ge, le)
            self._records = (cache_key, rows)
        page, token = keyset_page(rows, _record_key, size, query.get("page_token") or "", ("records",), False)
        return {"inventory_records": page, "total_count": len(rows), "next_page_token": token}

    def _record_rows(
        self,
        moves: dict[tuple[str, str], list[Movement]],
        goods_filter: set[str] | None,
        warehouse_filter: set[str] | None,
        ge: int | None,
        le: int | None,
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for (warehouse_id, goods_id), bucket in moves.items():
            if (goods_filter is not None and goods_id not in goods_filter) or (
                warehouse_filter is not None and warehouse_id not in warehouse_filter
            ):
                continue
            on_hand = 0
            for move in bucket:
                before, on_hand = on_hand, on_hand + move.change
                if (ge is not None and move.time < ge) or (le is not None and move.time > le):
                    continue
                rows.append(
                    {
                        "id": move.record_id,
                        "fbt_warehouse_id": warehouse_id,
                        "goods": self.goods_by_id[goods_id].render(),
                        "order": {"type": move.order_type, "id": move.order_id},
                        "create_time": move.time,
                        "initial_on_hand_quantity": before,
                        "final_on_hand_quantity": on_hand,
                        "changed_quantity": move.change,
                    }
                )
        rows.sort(key=_record_key)
        return rows

    def inbound_orders(self, query: Mapping[str, str]) -> dict[str, Any]:
        ids = [i for i in (query.get("ids") or "").split(",") if i]
        if not ids or len(ids) > 50:
            raise bad_request("ids must list 1 to 50 inbound order ids.")  # [INF] limit not documented
        with self.store.lock:
            now = self.store.now
            found = [self.inbounds_by_id[i] for i in ids if i in self.inbounds_by_id]
            return {"inbound_orders": [i.render(now) for i in found if i.steps[0] <= now]}

    def search_goods(self, query: Mapping[str, str], body: Mapping[str, Any]) -> dict[str, Any]:
        size = page_size_param(query)
        goods_filter, _ = self._filters(body)
        rows = [g for g in self.goods if goods_filter is None or g.id in goods_filter]
        rows.sort(key=lambda g: int(g.id))
        page, token = keyset_page(
            rows, lambda g: (0, int(g.id)), size, query.get("page_token") or "", ("goods",), False
        )
        return {"goods": [g.render() for g in page], "total_count": len(rows), "next_page_token": token}

    def inbound_changes(self, since: int, until: int) -> list[tuple[int, Inbound, str]]:
        """(instant, inbound order, status) of every inbound status reached in (since, until], for webhooks."""
        out = []
        for inbound in self.inbounds:
            for status, instant in zip(INBOUND_STEPS, inbound.steps, strict=True):
                if since < instant <= until:
                    out.append((instant, inbound, status))
        return out
