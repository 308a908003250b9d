"""The WooCommerce streams as data: endpoint, filters, parent, import order. One spec per entity, no classes each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stream:
    """How to fetch one entity.

    `status_sweeps`: separate sweeps per status value; WooCommerce's default status=any leaves out
    trashed records, so orders and subscriptions also sweep status=trash to mark them deleted.
    `modified_filter`: the endpoint takes modified_after/_before (WC >= 5.8; customers never do).
    `parent`: fetched per parent record (variations per variable product, refunds per order on
    stores older than 9.0). `optional`: a missing route (plugin not active) is not an error.
    `resweep`: incremental syncs also re-read records created in the last days, because some changes
    (a PayPal refund, a line-item edit) do not bump date_modified.
    """

    name: str
    path: str
    depends_on: tuple[str, ...] = ()
    params: tuple[tuple[str, str], ...] = ()
    status_sweeps: tuple[str | None, ...] = (None,)
    modified_filter: bool = True
    created_filter: bool = False
    parent: str | None = None
    optional: bool = False
    resweep: bool = False

    @property
    def table_name(self) -> str:
        return f"woocommerce_{self.name}"


ORDERS = Stream("orders", "/orders", status_sweeps=("any", "trash"), created_filter=True, resweep=True)
CUSTOMERS = Stream(
    # No date filter exists for customers (woocommerce#31482). Strategy, see sync.py: new ids from the
    # top of an id-descending listing, plus every customer referenced by orders changed in this sync,
    # plus a full sweep when the last one is older than a week.
    "customers",
    "/customers",
    depends_on=("orders",),
    params=(("role", "all"),),
    modified_filter=False,
)
PRODUCTS = Stream("products", "/products", depends_on=("customers",), params=(("status", "any"),))
VARIATIONS = Stream("variations", "/products/{parent_id}/variations", depends_on=("products",), parent="products")
COUPONS = Stream("coupons", "/coupons", depends_on=("variations",))
REFUNDS = Stream(
    # Store-wide /refunds on WC >= 9.0; older stores: /orders/<id>/refunds for orders that have refunds.
    "refunds",
    "/refunds",
    depends_on=("coupons",),
    parent="orders",
)
SUBSCRIPTIONS = Stream(
    "subscriptions", "/subscriptions", depends_on=("refunds",), status_sweeps=("any", "trash"),
    created_filter=True, optional=True,
)  # fmt: skip

STREAMS: tuple[Stream, ...] = (ORDERS, CUSTOMERS, PRODUCTS, VARIATIONS, COUPONS, REFUNDS, SUBSCRIPTIONS)
BY_NAME = {s.name: s for s in STREAMS}
