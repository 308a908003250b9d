"""Programs are validated with errors that name the field; the CLI sets them, adjusts balances, lists problems."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from storepipe.cli import main
from storepipe.loyalty.program import LoyaltyProgram, Tier
from storepipe.shops import ShopConfigError
from storepipe_tests.loyalty.shop import AS_OF, PROGRAM, SHOP_KEY, load, order, register, rows


def _tiers(*spec: tuple[str, str, str]) -> list[dict[str, str]]:
    return [{"name": n, "min_spend": m, "cashback_percent": c} for n, m, c in spec]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"tiers": []}, "tiers", "at least one tier"),
        ({"tiers": _tiers(("Bronze", "0", "1"), ("Bronze", "10", "2"))}, "tiers", "unique"),
        ({"tiers": _tiers(("Bronze", "0", "1"), ("Silver", "0", "2"))}, "tiers", "same min_spend"),
        ({"tiers": _tiers(("Bronze", "0", "101"))}, "tiers.Bronze.cashback_percent", "between 0 and 100"),
        ({"tiers": _tiers(("Bronze", "0", "1"), ("Silver", "-5", "2"))}, "tiers.Silver.min_spend", "negative"),
        ({"tiers": [{"name": "Bronze", "min_spend": 0.5, "cashback_percent": "1"}]}, "tiers[0].min_spend",
         "no floats"),
        ({"tiers": [{"name": "Bronze", "min_spend": "lots", "cashback_percent": "1"}]}, "tiers[0].min_spend",
         "not a number"),
        ({"base_tier": "Platinum"}, "base_tier", "not one of the tiers"),
        ({"base_tier": "Silver"}, "base_tier", "must be the lowest tier"),
        ({"tiers": _tiers(("Bronze", "10", "1"))}, "base_tier", "min_spend 0"),
        ({"evaluation_period": "MONTHLY"}, "evaluation_period", "is not ANNUAL .rolling 365 days. or LIFETIME"),
        ({"paid_statuses": []}, "paid_statuses", "non-empty list"),
        ({"include_tax": "yes"}, "include_tax", "not true or false"),
        ({"points": 3}, "program", "unknown setting points"),
    ],
)  # fmt: skip
def test_invalid_programs_name_the_field(change: dict, field: str, message: str) -> None:
    with pytest.raises(ShopConfigError, match=message) as error:
        LoyaltyProgram.from_dict(PROGRAM | change)
    assert error.value.field == field


def test_a_program_round_trips_and_places_spend() -> None:
    program = LoyaltyProgram.from_dict(PROGRAM | {"excluded_products": ["9"], "include_shipping": True})
    assert LoyaltyProgram.from_dict(program.to_dict()) == program
    assert program.statuses_for("woocommerce") == ("processing", "completed", "refunded")
    assert program.statuses_for("tiktok_shop")[-1] == "COMPLETED"
    assert [program.tier_for(D(s)).name for s in ("0", "99.99", "100", "499.99", "500", "-1")] == [
        "Bronze", "Bronze", "Silver", "Silver", "Gold", "Bronze",
    ]  # fmt: skip
    assert program.ranked[0] == Tier("Bronze", D("0"), D("2"))
    assert program.fingerprint() != LoyaltyProgram.from_dict(PROGRAM).fingerprint()


def test_cli_sets_a_program_adjusts_and_lists_discrepancies(
    engine: sa.Engine, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    shop = register(engine, instance)
    load(engine, shop, [order(1, 7, f"{AS_OF} 09:00", ["100.00"]), order(2, "", f"{AS_OF} 09:00", ["10.00"])])
    runner = CliRunner()
    path = tmp_path / "program.json"
    path.write_text(json.dumps(PROGRAM | {"evaluation_period": "LIFETIME"}))
    result = runner.invoke(main, ["shops", "loyalty", "set", SHOP_KEY, "--file", str(path)])
    assert result.output == (
        "shop 'fixture': LIFETIME program set: Bronze from 0 at 2 %, Silver from 100 at 5 %, Gold from 500 at 10 %\n"
    )
    path.write_text(json.dumps(PROGRAM | {"base_tier": "Gold"}))
    bad = runner.invoke(main, ["shops", "loyalty", "set", SHOP_KEY, "--file", str(path)])
    assert bad.exit_code == 2
    assert "base_tier: the base tier 'Gold' must be the lowest tier" in bad.output

    assert runner.invoke(main, ["shops", "loyalty", "sync", SHOP_KEY]).exit_code == 0
    found = runner.invoke(main, ["shops", "loyalty", "discrepancies", SHOP_KEY])
    assert found.stdout.split("\t")[:2] == ["loyalty_orders", "2"]

    adjust = ["shops", "loyalty", "adjust", SHOP_KEY, "--customer", "id:7", "--amount", "5.00", "--note", "goodwill",
              "--ref", "T-1"]  # fmt: skip
    assert runner.invoke(main, adjust).output == "booked adjustment:T-1 5.00 for id:7; balance 7.00\n"
    assert runner.invoke(main, adjust).output.startswith("already booked, nothing written: adjustment:T-1")
    wrong = runner.invoke(main, [*adjust[:7], "1.005", *adjust[8:]])
    assert wrong.exit_code == 2 and "whole cents" in wrong.output
    assert rows(engine, "SELECT kind, amount, source, note FROM loyalty.cashback_ledger ORDER BY entry_id") == [
        ("earn", D("2.00"), "sync", None), ("adjustment", D("5.00"), "manual", "goodwill"),
    ]  # fmt: skip
