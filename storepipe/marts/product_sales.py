"""product_sales and variation_sales: per shop-local day and item, units, money, refunds, orders, customers."""

from __future__ import annotations

from storepipe.marts.base import Mart

_MEASURE_COLUMNS = "orders, customers, units, gross_sales, discounts, refunded_units, refunded_amount, net_sales"


def _per_day(key: str, dirty: str, *, with_product: bool = False) -> str:
    """Lines of the dirty (item, day) pairs, summed per order first: fewer rows for the distinct counts.

    Joining the distinct dirty pairs (rather than `IN`) lets PostgreSQL walk the (item, day) index."""
    product = ("min(lf.product_key) AS product_key, ", "min(product_key), ") if with_product else ("", "")
    return f"""
    WITH per_order AS (
        SELECT lf.order_date, lf.{key}, lf.order_id, lf.customer_key, {product[0]}sum(lf.quantity) AS units,
               sum(lf.gross_sales) AS gross, sum(lf.discounts) AS discounts, sum(lf.refunded_quantity) AS r_units,
               sum(lf.refunded_amount) AS r_amount, sum(lf.net_sales) AS net
        FROM (SELECT DISTINCT {key}, local_date FROM {dirty}) d
        JOIN marts.line_facts lf ON lf.shop_key = :shop AND lf.{key} = d.{key} AND lf.order_date = d.local_date
        WHERE lf.{key} IS NOT NULL  -- lets the partial variation index serve
        GROUP BY lf.order_date, lf.{key}, lf.order_id, lf.customer_key
    )
    SELECT order_date, {key}, {product[1]}count(*) AS orders, count(DISTINCT customer_key) AS customers,
           sum(units) AS units, sum(gross) AS gross, sum(discounts) AS discounts, sum(r_units) AS r_units,
           sum(r_amount) AS r_amount, sum(net) AS net
    FROM per_order GROUP BY order_date, {key}
    """


_DESCRIPTION = (
    "Per shop-local day (the order's date; refunds on the order's date) and {item}: units, gross sales, "
    "discounts, refunded units and amount (excluding tax), net sales, orders, distinct customers."
)

PRODUCT_SALES = Mart(
    name="product_sales",
    table="product_sales",
    description=_DESCRIPTION.format(item="product ('' for lines without a product)"),
    in_scope="(t.product_key, t.local_date) IN (SELECT product_key, local_date FROM dirty_product_days)",
    insert=f"""
INSERT INTO marts.product_sales (shop_key, local_date, product_key, product_name, {_MEASURE_COLUMNS})
SELECT :shop, s.order_date, s.product_key, p.name, s.orders, s.customers, s.units, s.gross, s.discounts, s.r_units,
       s.r_amount, s.net
FROM ({_per_day("product_key", "dirty_product_days")}) s
LEFT JOIN core.products p ON p.shop_key = :shop AND p.product_key = s.product_key
""",
)

VARIATION_SALES = Mart(
    name="variation_sales",
    table="variation_sales",
    description=_DESCRIPTION.format(item="variation"),
    in_scope="(t.variation_key, t.local_date) IN (SELECT variation_key, local_date FROM dirty_variation_days)",
    insert=f"""
INSERT INTO marts.variation_sales (shop_key, local_date, variation_key, product_key, {_MEASURE_COLUMNS})
SELECT :shop, s.* FROM ({_per_day("variation_key", "dirty_variation_days", with_product=True)}) s
""",
)
