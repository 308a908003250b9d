"""The shop registry: validation names the field, registering adds the partition, drift is found and repaired."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from storepipe.settings import Settings
from storepipe.shops import (
    PLATFORMS,
    ShopConfigError,
    add_shop,
    find_drift,
    get_shop,
    list_shops,
    reconcile,
    set_enabled,
    validate_shop,
)

GOOD = {
    "platform": "woocommerce",
    "key": "acme",
    "url": "https://acme.example.com/",
    "timezone": "Europe/Berlin",
    "currency": "eur",
    "credentials_env": "ACME",
}
WOO = PLATFORMS["woocommerce"].partitions.name


@pytest.fixture
def credentials(clean_env: None) -> None:
    os.environ["ACME_KEY"] = "ck_live_do_not_store"
    os.environ["ACME_SECRET"] = "cs_live_do_not_store"


def test_valid_shop_is_normalised(credentials: None) -> None:
    shop = validate_shop(**GOOD)
    assert shop.base_url == "https://acme.example.com"
    assert shop.currency == "EUR"
    assert shop.display_name == "acme"
    assert shop.credentials_env == {"key": "ACME_KEY", "secret": "ACME_SECRET"}


@pytest.mark.parametrize(
    ("change", "field", "hint"),
    [
        ({"platform": "magento"}, "--platform", "use one of woocommerce, tiktok_shop"),
        ({"key": "Acme Shop"}, "--key", "lowercase letters"),
        ({"url": "not-a-url"}, "--url", "is not an http(s) URL"),
        ({"url": "ftp://acme.example.com"}, "--url", "is not an http(s) URL"),
        ({"timezone": "Mars/Olympus"}, "--timezone", "IANA name"),
        ({"currency": "EURO"}, "--currency", "ISO 4217"),
        ({"credentials_env": "acme-creds"}, "--credentials-env", "valid variable prefix"),
        ({"credentials_env": "NOPE"}, "--credentials-env", "NOPE_KEY, NOPE_SECRET is not set"),
    ],
)
def test_bad_input_names_the_field(credentials: None, change: dict, field: str, hint: str) -> None:
    with pytest.raises(ShopConfigError) as err:
        validate_shop(**{**GOOD, **change})
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")
    assert hint in str(err.value)


def test_add_registers_the_shop_and_its_partition(engine: sa.Engine, instance, credentials: None) -> None:
    shop = add_shop(engine, instance, validate_shop(**GOOD))
    assert shop.created_at is not None and shop.enabled
    assert instance.get_dynamic_partitions(WOO) == ["acme"]
    assert instance.get_dynamic_partitions(PLATFORMS["tiktok_shop"].partitions.name) == []
    assert [s.key for s in list_shops(engine)] == ["acme"]


def test_secrets_are_never_stored(engine: sa.Engine, instance, credentials: None) -> None:
    add_shop(engine, instance, validate_shop(**GOOD))
    with engine.connect() as conn:
        dump = " ".join(str(v) for row in conn.execute(sa.text("SELECT * FROM ops.shops")) for v in row)
    assert "ACME_KEY" in dump
    assert "do_not_store" not in dump


def test_duplicate_key_is_rejected_and_writes_nothing(engine: sa.Engine, instance, credentials: None) -> None:
    add_shop(engine, instance, validate_shop(**GOOD))
    with pytest.raises(ShopConfigError, match="already exists"):
        add_shop(engine, instance, validate_shop(**{**GOOD, "url": "https://other.example.com"}))
    assert get_shop(engine, "acme").base_url == "https://acme.example.com"


def test_disable_keeps_partition_and_history(engine: sa.Engine, instance, credentials: None) -> None:
    add_shop(engine, instance, validate_shop(**GOOD))
    assert not set_enabled(engine, "acme", False).enabled
    assert list_shops(engine, enabled_only=True) == []
    assert instance.get_dynamic_partitions(WOO) == ["acme"]
    assert find_drift(engine, instance).clean
    assert set_enabled(engine, "acme", True).enabled


def test_credentials_are_read_at_run_time_and_missing_ones_name_the_shop(
    engine: sa.Engine, instance, credentials: None
) -> None:
    shop = add_shop(engine, instance, validate_shop(**GOOD))
    assert shop.credentials() == {"key": "ck_live_do_not_store", "secret": "cs_live_do_not_store"}
    del os.environ["ACME_SECRET"]
    with pytest.raises(ShopConfigError, match="shop 'acme': environment variable ACME_SECRET is not set"):
        shop.credentials()


def test_drift_is_found_and_repaired(engine: sa.Engine, instance, credentials: None) -> None:
    add_shop(engine, instance, validate_shop(**GOOD))
    instance.delete_dynamic_partition(WOO, "acme")  # e.g. deleted by hand in the UI
    instance.add_dynamic_partitions(WOO, ["ghost"])  # a partition nobody registered
    drift = find_drift(engine, instance)
    assert drift.added_partitions["woocommerce"] == ["acme"]
    assert drift.orphan_partitions["woocommerce"] == ["ghost"]

    reconcile(engine, instance)
    assert sorted(instance.get_dynamic_partitions(WOO)) == ["acme", "ghost"]  # orphans only reported
    reconcile(engine, instance, prune=True)
    assert instance.get_dynamic_partitions(WOO) == ["acme"]
    assert find_drift(engine, instance).clean


def test_adding_a_key_whose_partition_survived_a_crash_adopts_it(
    engine: sa.Engine, instance, credentials: None
) -> None:
    instance.add_dynamic_partitions(WOO, ["acme"])  # partition added, registry commit lost
    add_shop(engine, instance, validate_shop(**GOOD))
    assert instance.get_dynamic_partitions(WOO) == ["acme"]
    assert find_drift(engine, instance).clean


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storepipe.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )


def test_cli_bad_input_exits_2_with_one_line_and_writes_nothing(settings: Settings, credentials: None) -> None:
    bad = _cli(
        "shops", "add", "--platform", "woocommerce", "--key", "acc_bad", "--url", "not-a-url",
        "--timezone", "Mars/Olympus", "--currency", "EUR", "--credentials-env", "ACME",
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "storepipe: error: --url: 'not-a-url' is not an http(s) URL; "
        "give the shop's home URL, e.g. https://shop.example.com"
    ]
    listed = _cli("shops", "list")
    assert listed.returncode == 0
    assert "no shops registered" in listed.stdout


def _add_acme() -> subprocess.CompletedProcess[str]:
    return _cli(
        "shops", "add", "--platform", "woocommerce", "--key", "acme", "--url", "https://acme.example.com",
        "--timezone", "America/New_York", "--currency", "USD", "--credentials-env", "ACME",
    )  # fmt: skip


def test_cli_add_list_disable_status(settings: Settings, credentials: None) -> None:
    added = _add_acme()
    assert added.returncode == 0, added.stderr
    assert "added woocommerce shop 'acme'" in added.stdout
    again = _add_acme()
    assert again.returncode == 2 and "already exists" in again.stderr
    assert "America/New_York" in _cli("shops", "list").stdout
    assert _cli("shops", "disable", "acme").stdout.strip() == "disabled shop 'acme'"
    status = _cli("status", "acme")
    assert status.returncode == 0 and "acme" in status.stdout and "no syncs recorded yet" in status.stdout
    missing = _cli("status", "nope")
    assert missing.returncode == 2 and "no shop 'nope'" in missing.stderr
    assert _cli("shops", "reconcile").stdout.strip() == "registry and partitions agree"


def test_cli_metric_settings_show_change_and_reject_bad_groups(settings: Settings, credentials: None) -> None:
    added = _add_acme()
    assert added.returncode == 0, added.stderr
    assert (
        _cli("shops", "metrics", "acme").stdout.strip()
        == "shop 'acme': counts paid, refunded orders by their created date"
    )
    changed = _cli("shops", "metrics", "acme", "--count", "paid", "--date-basis", "paid")
    assert changed.stdout.strip() == "shop 'acme': counts paid orders by their paid date"
    bad = _cli("shops", "metrics", "acme", "--count", "paid,shipped")
    assert bad.returncode == 2 and "counted_status_groups: ['shipped']" in bad.stderr
    assert "paid orders by their paid date" in _cli("shops", "metrics", "acme").stdout
