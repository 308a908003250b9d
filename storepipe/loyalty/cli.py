"""`storepipe shops loyalty ...`: set a program, sync or recalculate without Dagster, adjust, list discrepancies."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _errors(func: F) -> F:
    """Configuration problems as one line and exit code 2, as the rest of the CLI reports them."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from storepipe.shops import ShopConfigError

        try:
            return func(*args, **kwargs)
        except ShopConfigError as exc:
            raise click.exceptions.Exit(_fail(str(exc))) from None

    return wrapper  # type: ignore[return-value]


def _fail(message: str) -> int:
    click.echo(f"storepipe: error: {message}", err=True)
    return 2


def _shop(key: str):  # -> tuple[Engine, Shop]
    from storepipe.shops import get_shop
    from storepipe.warehouse.engine import warehouse_engine

    engine = warehouse_engine()
    return engine, get_shop(engine, key)


@click.group("loyalty")
def loyalty() -> None:
    """A shop's loyalty program, tiers and cashback ledger (docs/loyalty.md)."""


@loyalty.command("set")
@click.argument("key")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="The program as JSON or YAML (tiers, base_tier, evaluation_period, ...).")  # fmt: skip
@_errors
def loyalty_set(key: str, path: Path) -> None:
    """Validate and store a shop's program; the next sync re-derives every order and tier."""
    from storepipe.loyalty.program import LoyaltyProgram, set_program

    engine, shop = _shop(key)
    program = LoyaltyProgram.from_file(path)
    set_program(engine, shop.key, program)
    tiers = ", ".join(f"{t.name} from {t.min_spend} at {t.cashback_percent} %" for t in program.ranked)
    click.echo(f"shop {shop.key!r}: {program.evaluation_period} program set: {tiers}")


@loyalty.command("show")
@click.argument("key")
@_errors
def loyalty_show(key: str) -> None:
    """Print the shop's program and its last sync summary."""
    import sqlalchemy as sa

    from storepipe.loyalty.program import get_program

    engine, shop = _shop(key)
    with engine.connect() as conn:
        program = get_program(conn, shop.key)
        last = conn.execute(
            sa.text("SELECT summary FROM loyalty.sync_runs WHERE shop_key = :shop ORDER BY sync_id DESC LIMIT 1"),
            {"shop": shop.key},
        ).scalar()
    click.echo(json.dumps({"program": program.to_dict() if program else None, "last_sync": last}, indent=2))


@loyalty.command("sync")
@click.argument("key")
@click.option("--window", type=click.Choice(["last_30_days", "last_90_days", "last_year", "all_time"]),
              default="all_time", show_default=True, help="Which new orders come in, by paid date.")  # fmt: skip
@click.option("--no-customer-metrics", is_flag=True, help="Write the ledger only; tiers follow with the next sync.")
@click.option("--reconcile", is_flag=True, help="Compare every order with the ledger and write corrections.")
@click.option("--recalculate-tiers", is_flag=True, help="Only re-derive every customer's spend and tier.")
@_errors
def loyalty_sync(key: str, window: str, no_customer_metrics: bool, reconcile: bool, recalculate_tiers: bool) -> None:
    """Run a loyalty sync of one shop here, without Dagster (the Dagster job does the same)."""
    from storepipe.loyalty import sync

    engine, shop = _shop(key)
    if recalculate_tiers:
        result = sync.recalculate_tiers(engine, shop, report=click.echo)
    else:
        options = sync.SyncOptions(sync.SyncWindow(window), not no_customer_metrics, reconcile)
        result = sync.sync_shop(engine, shop, options, report=click.echo)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)


@loyalty.command("adjust")
@click.argument("key")
@click.option("--customer", required=True, help="The customer key, e.g. id:42 or email:ann@example.com.")
@click.option("--amount", required=True, help="Credit (5.00) or debit (-5.00), in whole cents.")
@click.option("--note", required=True, help="Why: kept with the entry.")
@click.option("--ref", "ref", required=True, help="A unique reference (ticket id): the same one never books twice.")
@_errors
def loyalty_adjust(key: str, customer: str, amount: str, note: str, ref: str) -> None:
    """Book a manual adjustment into the append-only ledger."""
    from storepipe.loyalty.ledger import add_adjustment
    from storepipe.shops import ShopConfigError

    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise ShopConfigError("--amount", f"{amount!r} is not a number such as 5.00 or -2.50") from None
    engine, shop = _shop(key)
    done = add_adjustment(engine, shop, customer_key=customer, amount=value, key=ref, note=note)
    verb = "booked" if done.created else "already booked, nothing written:"
    click.echo(f"{verb} {done.entry_key} {done.amount} for {done.customer_key}; balance {done.balance}")


@loyalty.command("discrepancies")
@click.argument("key")
@_errors
def loyalty_discrepancies(key: str) -> None:
    """List the open discrepancies a sync summary counts (loyalty's and the import's orders)."""
    from storepipe.loyalty.ledger import open_discrepancies

    engine, shop = _shop(key)
    found = open_discrepancies(engine, shop.key)
    for entity, source_id, reason, seen in found:
        click.echo(f"{entity}\t{source_id}\t{seen}\t{reason}")
    click.echo(f"{len(found)} open discrepancies", err=True)
