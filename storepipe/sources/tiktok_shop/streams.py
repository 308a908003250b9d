"""The TikTok Shop import stages as data: each stage's listings (endpoint, paging, filters, ids), in order.

A *listing* is one endpoint read completely. Paging kinds:
- `cursor`: page_token chains. Cursor chains cannot be split by page, so a full import cuts the time
  range into windows and pages them in parallel; an incremental sync pages one window from the last
  sync's start minus the lookback.
- `per_parent`: one cursor chain per parent record changed in this sync (a statement's transactions).
- `detail`: one GET per parent record changed in this sync (a product's details).
- `id_chunks`: one unpaged POST per chunk of parent ids (inventory by product ids, <= 100 each).
- `single`: one unpaged GET (warehouses).
- `date_ranges`: one unpaged GET per range of at most `max_days` whole UTC days (shop analytics per day).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TimeFilter:
    """Where a listing takes its time range: `ge`/`lt` (or inclusive `le`) names, in the body or the query."""

    ge: str
    lt: str
    in_query: bool = False
    inclusive_upper: bool = False  # products take update_time_le, inclusive [C2]


@dataclass(frozen=True)
class Listing:
    name: str  # the raw entity it fills: raw.tiktok_shop_<name>
    path: str  # may hold {id}: the parent record's id
    method: str
    list_key: str | None  # where the records are in `data`; None: `data` is the record (detail)
    id_field: str | tuple[str, ...]  # a tuple joins several fields into one id (composite keys)
    kind: str = "cursor"
    modified_field: str | None = None  # unix seconds: the record's version
    page_size: int | None = 100
    sort: tuple[tuple[str, str], ...] = ()
    # Full import windows on `created`, incremental syncs on `updated` (None: the listing has no such filter).
    created: TimeFilter | None = None
    updated: TimeFilter | None = None
    parent: str | None = None  # raw entity whose records changed in this sync drive per_parent/detail/id_chunks
    chunk_field: str | None = None  # id_chunks: body field taking the parent ids
    chunk_size: int = 100
    lookback_days: int | None = None  # incremental: re-read this many days by `created` (late statements)
    cap: int | None = None  # results a search serves at most: windows holding more are split [C1]
    optional: bool = False  # a gateway without this route (36009009) skips it
    parent_field: str | None = None  # which field of a record names its parent (kept in raw.parent_id)
    max_days: int = 365  # date_ranges: the longest range one request may ask for [INF]

    @property
    def api(self) -> str:
        """The rate-limit bucket: limits are per app per API path, with ids generalised."""
        return self.path

    def record_id(self, record: dict[str, Any]) -> str | None:
        fields = (self.id_field,) if isinstance(self.id_field, str) else self.id_field
        parts = [field_at(record, f) for f in fields]
        if any(p in (None, "") for p in parts):
            return None
        return ":".join(str(p) for p in parts)


def field_at(record: dict[str, Any], dotted: str) -> Any:
    """A (dotted) field of a record, None where any step is missing."""
    value: Any = record
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


@dataclass(frozen=True)
class Stage:
    """One import stage = one Dagster asset (tiktok_shop/<name>)."""

    name: str
    description: str
    listings: tuple[Listing, ...]
    depends_on: tuple[str, ...] = ()


_BODY_CREATE = TimeFilter("create_time_ge", "create_time_lt")
_BODY_UPDATE = TimeFilter("update_time_ge", "update_time_lt")

PRODUCTS = Listing(
    "products", "/product/202502/products/search", "POST", "products", "id",
    modified_field="update_time",
    created=TimeFilter("update_time_ge", "update_time_le", inclusive_upper=True),
    updated=TimeFilter("update_time_ge", "update_time_le", inclusive_upper=True),
    cap=10_000,
)  # fmt: skip
PRODUCT_DETAILS = Listing(
    "product_details", "/product/202309/products/{id}", "GET", None, "id", kind="detail",
    modified_field="update_time", page_size=None, parent="products",
)  # fmt: skip
INVENTORY = Listing(
    "inventory", "/product/202309/inventory/search", "POST", "inventory", "product_id", kind="id_chunks",
    page_size=None, parent="products", chunk_field="product_ids",
)  # fmt: skip
ORDERS = Listing(
    "orders", "/order/202309/orders/search", "POST", "orders", "id",
    modified_field="update_time", created=_BODY_CREATE, updated=_BODY_UPDATE,
    sort=(("sort_order", "ASC"),),
)  # fmt: skip
STATEMENTS = Listing(
    # No update filter: statements are re-read for the last `lookback_days` on every sync, because an order
    # settles up to ~31 days after delivery and lands in a new statement for an old day [C2].
    "statements", "/finance/202309/statements", "GET", "statements", "id",
    sort=(("sort_field", "statement_time"), ("sort_order", "ASC")),
    created=TimeFilter("statement_time_ge", "statement_time_lt", in_query=True), lookback_days=35,
)  # fmt: skip
STATEMENT_TRANSACTIONS = Listing(
    "statement_transactions", "/finance/202309/statements/{id}/statement_transactions", "GET",
    "statement_transactions", "id", kind="per_parent", parent="statements",
    sort=(("sort_field", "order_create_time"), ("sort_order", "ASC")),
)  # fmt: skip
UNSETTLED = Listing(
    # The unsettled set is small by nature (orders between payment and settlement): read whole every sync.
    "unsettled_transactions", "/finance/202507/orders/unsettled", "GET", "transactions", "id",
    sort=(("sort_field", "order_create_time"), ("sort_order", "ASC")),
)  # fmt: skip
RETURNS = Listing(
    "returns", "/return_refund/202309/returns/search", "POST", "return_orders", "return_id",
    modified_field="update_time", page_size=50, created=_BODY_CREATE, updated=_BODY_UPDATE,
    sort=(("sort_field", "update_time"), ("sort_order", "ASC")), parent_field="order_id",
)  # fmt: skip
CANCELLATIONS = Listing(
    "cancellations", "/return_refund/202309/cancellations/search", "POST", "cancellations", "cancel_id",
    modified_field="update_time", page_size=50, created=_BODY_CREATE, updated=_BODY_UPDATE,
    sort=(("sort_field", "update_time"), ("sort_order", "ASC")), parent_field="order_id",
)  # fmt: skip
WAREHOUSES = Listing(
    "warehouses", "/logistics/202309/warehouses", "GET", "warehouses", "id", kind="single", page_size=None
)
FBT_WAREHOUSES = Listing(
    "fbt_warehouses", "/fbt/202408/warehouses", "GET", "warehouses", "fbt_warehouse_id", kind="single",
    page_size=None, optional=True,
)  # fmt: skip
FBT_INVENTORY = Listing(
    "fbt_inventory", "/fbt/202408/inventory/search", "POST", "inventory", ("fbt_warehouse_id", "goods.id"),
    optional=True,
)  # fmt: skip

ANALYTICS = Listing(
    # UNVERIFIED path (the research sheet documents no analytics endpoint; the emulator follows public client
    # code): shop performance per day, GMV, orders, units, buyers and traffic.
    "analytics", "/analytics/202405/shop/performance", "GET", "performance.intervals", "start_date",
    kind="date_ranges", page_size=None, lookback_days=3, optional=True,
)  # fmt: skip

STAGES: tuple[Stage, ...] = (
    Stage("products", "Product catalog with SKUs and prices (product search, windowed by update time).", (PRODUCTS,)),
    Stage("product_details", "Extended details and images of the products changed in this sync.",
          (PRODUCT_DETAILS,), ("products",)),
    Stage("inventory", "Stock per SKU and warehouse for every product.", (INVENTORY,), ("product_details",)),
    Stage("orders", "Orders with their line items (one per unit).", (ORDERS,), ("inventory",)),
    Stage("statements", "Daily settlement statements (00:00 UTC).", (STATEMENTS,), ("orders",)),
    Stage("statement_transactions", "Per-order settlement lines of new or changed statements, and the "
          "estimates of orders not settled yet.", (STATEMENT_TRANSACTIONS, UNSETTLED), ("statements",)),
    Stage("returns_refunds", "Returns, refunds and cancellations.", (RETURNS, CANCELLATIONS),
          ("statement_transactions",)),
    Stage("warehouses_fbt", "Seller warehouses, and Fulfilled-by-TikTok warehouses and inventory where the shop "
          "uses FBT.", (WAREHOUSES, FBT_WAREHOUSES, FBT_INVENTORY), ("returns_refunds",)),
    Stage("analytics", "Shop performance per day as TikTok reports it (GMV, orders, units, visitors), to compare "
          "with what storepipe computes from the orders.", (ANALYTICS,), ("warehouses_fbt",)),
)  # fmt: skip
BY_NAME = {stage.name: stage for stage in STAGES}
LISTINGS = {listing.name: listing for stage in STAGES for listing in stage.listings}
