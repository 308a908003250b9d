"""The per-lane Dagster wiring of the marts: one asset per mart, refreshed together, with their checks.

Dagster cannot run assets of different partitions definitions in one run, so each lane gets its own
copy (`woocommerce/marts/customer_metrics`, later `tiktok_shop/marts/...`) over the same SQL. The marts
of a shop are refreshed by one op in one transaction: they always agree with each other, which is what
the reconciliation checks test. (No `from __future__ import annotations`: Dagster reads the config
annotation of the asset function at definition time.)
"""

from collections.abc import Iterator

import dagster as dg
import sqlalchemy as sa

from storepipe.marts.base import Mart
from storepipe.marts.checks import CHECKS, MartCheck, run_checks
from storepipe.marts.cohorts import cohort_matrix
from storepipe.marts.refresh import FACT_TABLES, MARTS, RefreshResult, refresh_shop
from storepipe.resources import WarehouseResource
from storepipe.shops import get_platform_shop

ORDER_FACTS = "order_facts"
_FACTS_DESCRIPTION = (
    "One row per order (counted or not, with the formulas of docs/metrics.md), per counted order line and "
    "per counted refund: what every mart reads."
)


class MartsConfig(dg.Config):
    """Run config of the marts (Launchpad → ops → <lane>_marts)."""

    full_rebuild: bool = False  # recompute every row of the shop instead of only what the sync touched


def _row_counts(engine: sa.Engine, shop_key: str, marts: tuple[Mart, ...]) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table: conn.execute(
                sa.text(f"SELECT count(*) FROM marts.{table} WHERE shop_key = :shop"), {"shop": shop_key}
            ).scalar_one()
            for table in (*FACT_TABLES, *(m.table for m in marts))
        }


def _cohort_preview(engine: sa.Engine, shop_key: str) -> str:
    """The last 12 monthly cohorts' retention over their first 12 months, as a markdown table."""
    matrix = cohort_matrix(engine, shop_key, grain="month", value="retention")
    if matrix.empty:
        return "no cohorts yet"
    shown = matrix.iloc[-12:, :12]
    header = "| cohort | size | " + " | ".join(f"M{p}" for p in shown.columns) + " |"
    lines = [header, "|" + "---|" * (len(shown.columns) + 2)]
    for (start, size), row in shown.iterrows():
        cells = " | ".join("" if v != v else f"{100 * float(v):.0f} %" for v in row)  # v != v: NaN
        lines.append(f"| {start:%Y-%m} | {size} | {cells} |")
    return "\n".join(lines)


def _metadata(
    name: str, table_rows: dict[str, int], result: RefreshResult, marts: tuple[Mart, ...]
) -> dict[str, object]:
    tables = FACT_TABLES if name == ORDER_FACTS else (next(m.table for m in marts if m.name == name),)
    metadata: dict[str, object] = {
        "dagster/row_count": table_rows[tables[0]],
        "rows_written": sum(result.rows.get(t if name == ORDER_FACTS else name, 0) for t in tables),
        "seconds": round(result.seconds.get("facts" if name == ORDER_FACTS else name, 0.0), 3),
        "refresh": "full rebuild" if result.full else "incremental",
    }
    if name == ORDER_FACTS:
        metadata |= {"reason": result.reason, "changed_orders": result.changed_orders}
        metadata |= {f"rows_{t}": table_rows[t] for t in FACT_TABLES}
        metadata |= {f"{k}": v for k, v in result.dirty.items()}
    return metadata


def mart_assets(
    lane: str,
    partitions: dg.PartitionsDefinition,
    model: dg.AssetKey,
    *,
    extra_marts: tuple[Mart, ...] = (),
    extra_checks: tuple[MartCheck, ...] = (),
) -> dg.AssetsDefinition:
    """The marts of one lane as a multi-asset downstream of the lane's model asset, with their checks.

    `extra_marts` / `extra_checks` are the lane's own marts and their checks (TikTok: storepipe.marts.pnl's
    PNL_MARTS and PNL_CHECKS), refreshed in the same transaction after the shared ones.
    """
    group = f"{lane}_marts"
    marts = MARTS + extra_marts
    checks = CHECKS + extra_checks
    facts_key = dg.AssetKey([lane, "marts", ORDER_FACTS])
    specs = [
        dg.AssetSpec(facts_key, deps=[model], group_name=group, description=_FACTS_DESCRIPTION, kinds={"postgres"}),
        *(
            dg.AssetSpec(
                [lane, "marts", m.name], deps=[facts_key], group_name=group, description=m.description,
                kinds={"postgres"},
            )
            for m in marts
        ),
    ]  # fmt: skip
    check_specs = [
        dg.AssetCheckSpec(c.name, asset=dg.AssetKey([lane, "marts", c.mart]), description=c.description) for c in checks
    ]

    @dg.multi_asset(
        name=f"{lane}_marts",
        specs=specs,
        check_specs=check_specs,
        partitions_def=partitions,
        can_subset=False,
    )
    def _marts(
        context: dg.AssetExecutionContext, config: MartsConfig, warehouse: WarehouseResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        engine = warehouse.engine()
        shop = get_platform_shop(engine, context.partition_key, lane)
        result = refresh_shop(engine, shop, full=config.full_rebuild, report=context.log.info, extra=extra_marts)
        table_rows = _row_counts(engine, shop.key, marts)
        for spec in specs:
            name = spec.key.path[-1]
            metadata = _metadata(name, table_rows, result, marts)
            if name == "cohorts":
                metadata["retention_by_month"] = dg.MetadataValue.md(_cohort_preview(engine, shop.key))
            yield dg.MaterializeResult(asset_key=spec.key, metadata=metadata)
        for outcome in run_checks(engine, shop.key, checks):
            yield dg.AssetCheckResult(
                asset_key=dg.AssetKey([lane, "marts", outcome.check.mart]),
                check_name=outcome.check.name,
                passed=outcome.passed,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"details": dg.MetadataValue.json(outcome.details)},
            )

    return _marts
