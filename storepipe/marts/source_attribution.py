"""source_attribution: orders, revenue and customers per traffic source (type, referrer, UTM fields, device)."""

from __future__ import annotations

from storepipe.marts.base import Mart

_DIMS = ("source_type", "referrer", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
         "device_type")  # fmt: skip

SOURCE_ATTRIBUTION = Mart(
    name="source_attribution",
    table="source_attribution",
    description="Orders, net and total sales and new customers per source; a customer's source is their first "
    "counted order's.",
    in_scope="t.source_key IN (SELECT source_key FROM dirty_sources)",
    insert=f"""
INSERT INTO marts.source_attribution (shop_key, source_key, {", ".join(_DIMS)}, orders, net_sales, total_sales,
                                      new_customers)
-- Every measure is a plain sum or count (a customer has exactly one order numbered 1): one hash aggregate.
SELECT :shop, f.source_key, {", ".join(f"min(f.{d})" for d in _DIMS)}, count(*), sum(f.net_sales),
       sum(f.total_sales), count(*) FILTER (WHERE f.customer_order_seq = 1)
FROM marts.order_facts f
WHERE f.shop_key = :shop AND f.counted AND f.source_key IN (SELECT source_key FROM dirty_sources)
GROUP BY f.source_key
""",
)
