"""The per-lane Dagster wiring of loyalty: four assets synced together by one op, their checks, a recalculation job.

Like the marts (storepipe.marts.factory), each lane gets its own copy over the same SQL because Dagster
cannot run assets of different partitions definitions in one run: `woocommerce/loyalty/cashback_ledger`,
later `tiktok_shop/loyalty/...`, all in the group `loyalty`. The sync options are run config, as the
RewardsPro Data Sync page offers them. (No `from __future__ import annotations`: Dagster reads the config
annotation of the asset function at definition time.)
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING

import dagster as dg
import sqlalchemy as sa

from storepipe.loyalty.checks import CHECKS, WARN_ONLY, run_checks
from storepipe.loyalty.sync import SyncOptions, SyncResult, SyncWindow, recalculate_tiers, sync_shop
from storepipe.resources import WarehouseResource
from storepipe.shops import get_platform_shop

if TYPE_CHECKING:  # not exported by dagster; what define_asset_job returns
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

GROUP = "loyalty"
ASSETS = {
    "customer_spend": "Per customer: synced paid orders, gross, refunded and net spend, and net spend in the "
    "evaluation period (loyalty.customer_spend).",
    "tiers": "Per customer: the current tier from the period spend (loyalty.tier_placements) and the history of tier "
    "changes with their date and reason (loyalty.tier_changes).",
    "cashback_ledger": "The append-only cashback book: an earn per paid order, a pro-rata clawback per refund, "
    "corrections from reconcile, manual adjustments; balances are sums of entries (loyalty.cashback_ledger).",
    "sync_summary": "What each sync did: orders synced, customers updated, discrepancies (loyalty.sync_runs).",
}


class LoyaltyConfig(dg.Config):
    """Run config of a loyalty sync (Launchpad → ops → <lane>_loyalty), RewardsPro's Data Sync options."""

    window: SyncWindow = SyncWindow.all_time  # which new orders come in, by paid date
    update_customer_metrics: bool = True  # off: ledger only, spend and tiers follow with the next sync
    reconcile_ledger: bool = False  # compare every order with the ledger and write corrections
    recalculate_tiers: bool = False  # only re-derive spend and tiers (the <lane>_recalculate_tiers job sets it)


def discrepancy_link(shop_key: str) -> str:
    """Where the discrepancy rows are: the view, and the CLI that lists them."""
    return (
        f"`SELECT * FROM loyalty.discrepancies WHERE shop_key = '{shop_key}' AND resolved_at IS NULL` "
        f"or `storepipe shops loyalty discrepancies {shop_key}`"
    )


def _counts(engine: sa.Engine, shop_key: str) -> dict[str, object]:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM loyalty.customer_spend WHERE shop_key = :shop),"
                " (SELECT count(*) FROM loyalty.tier_placements WHERE shop_key = :shop),"
                " (SELECT count(*) FROM loyalty.tier_changes WHERE shop_key = :shop),"
                " (SELECT count(*) FROM loyalty.cashback_ledger WHERE shop_key = :shop),"
                " (SELECT coalesce(sum(balance), 0) FROM loyalty.balances WHERE shop_key = :shop),"
                " (SELECT count(*) FROM loyalty.pending_customers WHERE shop_key = :shop),"
                " (SELECT count(*) FROM loyalty.sync_runs WHERE shop_key = :shop)"
            ),
            {"shop": shop_key},
        ).one()
        tiers = dict(
            conn.execute(
                sa.text("SELECT tier, count(*) FROM loyalty.tier_placements WHERE shop_key = :shop GROUP BY tier"),
                {"shop": shop_key},
            ).all()
        )
    keys = ("customers", "placements", "tier_changes", "entries", "total_balance", "pending", "sync_runs")
    return dict(zip(keys, row, strict=True)) | {"by_tier": tiers}


def _metadata(name: str, result: SyncResult, counts: dict) -> dict[str, object]:
    if name == "customer_spend":
        return {"dagster/row_count": counts["customers"], "customers_updated": result.customers_updated,
                "pending_customers": counts["pending"],
                "seconds": round(result.seconds.get("tiers", 0.0), 3)}  # fmt: skip
    if name == "tiers":
        return {"dagster/row_count": counts["placements"], "tier_changes": counts["tier_changes"],
                **{f"customers_{tier}": n for tier, n in sorted(counts["by_tier"].items())}}  # fmt: skip
    if name == "cashback_ledger":
        # Money as text: metadata floats would round it.
        return {"dagster/row_count": counts["entries"], "entries_written": result.entries_written,
                "total_balance": str(counts["total_balance"]),
                **{f"{kind}_entries": n for kind, n in sorted(result.entries.items())},
                **{f"{kind}_amount": str(v) for kind, v in sorted(result.amounts.items())},
                "seconds": round(result.seconds.get("ledger", 0.0), 3)}  # fmt: skip
    return {
        "dagster/row_count": counts["sync_runs"],
        "orders_synced": result.orders_synced,
        "customers_updated": result.customers_updated,
        "discrepancies": sum(result.discrepancies.values()),
        "discrepancy_rows": dg.MetadataValue.md(discrepancy_link(result.shop_key)),
        "orders_outside_window": result.orders_outside_window,
        "entries_written": result.entries_written,
        "sync": "full scan" if result.full else "incremental",
        "reason": result.reason,
        "window": result.window,
        "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in result.warnings) or "none"),
        "summary": dg.MetadataValue.json(result.summary()),
        "seconds": round(sum(result.seconds.values()), 3),
    }


def loyalty_assets(lane: str, partitions: dg.PartitionsDefinition, upstream: dg.AssetKey) -> dg.AssetsDefinition:
    """Loyalty of one lane as a multi-asset downstream of `upstream` (the lane's marts), with its checks."""
    keys = {name: dg.AssetKey([lane, GROUP, name]) for name in ASSETS}
    deps = {"customer_spend": upstream, "tiers": keys["customer_spend"], "cashback_ledger": keys["tiers"],
            "sync_summary": keys["cashback_ledger"]}  # fmt: skip
    specs = [
        dg.AssetSpec(keys[name], deps=[deps[name]], group_name=GROUP, description=text, kinds={"postgres"})
        for name, text in ASSETS.items()
    ]
    check_specs = [dg.AssetCheckSpec(c.name, asset=keys[c.mart], description=c.description) for c in CHECKS]

    @dg.multi_asset(
        name=f"{lane}_loyalty",
        specs=specs,
        check_specs=check_specs,
        partitions_def=partitions,
        can_subset=False,
    )
    def _loyalty(
        context: dg.AssetExecutionContext, config: LoyaltyConfig, warehouse: WarehouseResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        engine = warehouse.engine()
        shop = get_platform_shop(engine, context.partition_key, lane)
        if config.recalculate_tiers:
            result = recalculate_tiers(engine, shop, run_id=context.run.run_id, report=context.log.info)
        else:
            options = SyncOptions(SyncWindow(config.window), config.update_customer_metrics, config.reconcile_ledger)
            result = sync_shop(engine, shop, options, run_id=context.run.run_id, report=context.log.info)
        for warning in result.warnings:
            context.log.warning(warning)
        counts = _counts(engine, shop.key)
        for name, key in keys.items():
            yield dg.MaterializeResult(asset_key=key, metadata=_metadata(name, result, counts))
        for outcome in run_checks(engine, shop):
            yield dg.AssetCheckResult(
                asset_key=keys[outcome.check.mart],
                check_name=outcome.check.name,
                passed=outcome.passed,
                severity=dg.AssetCheckSeverity.WARN if outcome.check.name in WARN_ONLY else dg.AssetCheckSeverity.ERROR,
                metadata={"details": dg.MetadataValue.json(outcome.details)},
            )

    return _loyalty


def recalculate_tiers_job(lane: str, assets: dg.AssetsDefinition) -> "UnresolvedAssetJobDefinition":
    """Manual tier recalculation of one shop from the UI: the loyalty assets with recalculate_tiers set."""
    return dg.define_asset_job(
        f"{lane}_recalculate_tiers",
        selection=dg.AssetSelection.assets(assets),
        executor_def=dg.in_process_executor,
        config={"ops": {f"{lane}_loyalty": {"config": {"recalculate_tiers": True}}}},
        description="Re-derives every customer's spend, tier and tier history of one shop from its synced orders; "
        "the cashback ledger is not touched.",
    )
