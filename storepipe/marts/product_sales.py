"""product_sales and variation_sales: per shop-local day and item, units, money, refunds, orders, customers."""

from __future__ import annotations

from storepipe.marts.base import Mart

_MEASURES = """count(DISTINCT lf.order_id), count(DISTINCT lf.customer_key),
       sum(lf.quantity), sum(lf.gross_sales), sum(lf.discounts), sum(lf.refunded_quantity),
       sum(lf.refunded_amount), sum(lf.net_sales)"""
_MEASURE_COLUMNS = "orders, customers, units, gross_sales, discounts, refunded_units, refunded_amount, net_sales"
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
SELECT :shop, s.*
FROM (
    SELECT lf.order_date, lf.product_key, (SELECT p.name FROM core.products p
                                           WHERE p.shop_key = :shop AND p.product_key = lf.product_key),
           {_MEASURES}
    FROM marts.line_facts lf
    WHERE lf.shop_key = :shop
      AND (lf.product_key, lf.order_date) IN (SELECT product_key, local_date FROM dirty_product_days)
    GROUP BY lf.order_date, lf.product_key
) s
""",
)

VARIATION_SALES = Mart(
    name="variation_sales",
    table="variation_sales",
    description=_DESCRIPTION.format(item="variation"),
    in_scope="(t.variation_key, t.local_date) IN (SELECT variation_key, local_date FROM dirty_variation_days)",
    insert=f"""
INSERT INTO marts.variation_sales (shop_key, local_date, variation_key, product_key, {_MEASURE_COLUMNS})
SELECT :shop, lf.order_date, lf.variation_key, min(lf.product_key), {_MEASURES}
FROM marts.line_facts lf
WHERE lf.shop_key = :shop AND lf.variation_key IS NOT NULL
  AND (lf.variation_key, lf.order_date) IN (SELECT variation_key, local_date FROM dirty_variation_days)
GROUP BY lf.order_date, lf.variation_key
""",
)
