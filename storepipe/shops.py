"""The shop registry (ops.shops) and the per-platform Dagster partitions that must always agree with it."""

from __future__ import annotations

import os
import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import sqlalchemy as sa
from dagster import DynamicPartitionsDefinition

from storepipe.warehouse import tables

if TYPE_CHECKING:
    from dagster import DagsterInstance


@dataclass(frozen=True)
class Platform:
    """What the registry needs to know about a platform: its partitions and its credential variables."""

    name: str
    partitions: DynamicPartitionsDefinition
    # Credentials come from PREFIX_<SUFFIX> variables; the registry stores only their names.
    credential_suffixes: tuple[str, ...]


PLATFORMS: dict[str, Platform] = {
    # One partitions definition per platform: a shared one would show every WooCommerce shop as a
    # missing partition of the TikTok assets, and "backfill missing" would run the wrong lane.
    "woocommerce": Platform("woocommerce", DynamicPartitionsDefinition(name="woocommerce_shops"), ("KEY", "SECRET")),
    "tiktok_shop": Platform("tiktok_shop", DynamicPartitionsDefinition(name="tiktok_shop_shops"), ("KEY", "SECRET")),
}

# ISO 4217 codes in circulation (2026). Validating against the list catches typos such as "EURO".
CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN
    BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
    GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW
    KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD
    NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
    SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES
    VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
    """.split()  # noqa: SIM905 - a word list reads better than 180 quoted strings
)

_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ENV_PREFIX_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")


class ShopConfigError(ValueError):
    """Bad registry input or configuration: names the field (and shop) and says what to do."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True)
class Shop:
    key: str
    platform: str
    display_name: str
    base_url: str
    timezone: str
    currency: str
    credentials_env: dict[str, str] = field(default_factory=dict)
    enabled: bool = True
    created_at: datetime | None = None

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def partitions(self) -> DynamicPartitionsDefinition:
        return PLATFORMS[self.platform].partitions

    @property
    def credentials_prefix(self) -> str:
        """PREFIX of the shop's PREFIX_<SUFFIX> variables (--credentials-env), for the optional ones a lane reads."""
        return self.credentials_env["key"].rsplit("_", 1)[0]

    def credentials(self) -> dict[str, str]:
        """Read the credentials from the environment now; fail naming the shop and the missing variable."""
        values = {}
        for role, var in self.credentials_env.items():
            value = os.environ.get(var)
            if not value:
                raise ShopConfigError(
                    "credentials",
                    f"shop {self.key!r}: environment variable {var} is not set; export it with the "
                    f"shop's API {role} (see `storepipe shops list` for the variable names)",
                )
            values[role] = value
        return values


def validate_shop(
    *,
    platform: str,
    key: str,
    url: str,
    timezone: str,
    currency: str,
    credentials_env: str,
    display_name: str | None = None,
) -> Shop:
    """Check every field of a new shop and return it; raise ShopConfigError on the first bad one."""
    if platform not in PLATFORMS:
        raise ShopConfigError("--platform", f"unknown platform {platform!r}; use one of {', '.join(PLATFORMS)}")
    if not _KEY_RE.match(key):
        raise ShopConfigError(
            "--key",
            f"{key!r} is not a valid shop key; use 1-63 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit",
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in url:
        raise ShopConfigError(
            "--url", f"{url!r} is not an http(s) URL; give the shop's home URL, e.g. https://shop.example.com"
        )
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ShopConfigError(
            "--timezone", f"unknown timezone {timezone!r}; use an IANA name such as Europe/Berlin"
        ) from None
    if currency.upper() not in CURRENCIES:
        raise ShopConfigError("--currency", f"{currency!r} is not an ISO 4217 currency code such as EUR or USD")
    if not _ENV_PREFIX_RE.match(credentials_env):
        raise ShopConfigError(
            "--credentials-env",
            f"{credentials_env!r} is not a valid variable prefix; use uppercase letters, digits and '_'",
        )
    suffixes = PLATFORMS[platform].credential_suffixes
    names = {suffix.lower(): f"{credentials_env}_{suffix}" for suffix in suffixes}
    unset = [name for name in names.values() if not os.environ.get(name)]
    if unset:
        raise ShopConfigError(
            "--credentials-env",
            f"environment variable {', '.join(unset)} is not set; export {' and '.join(names.values())} "
            "with the shop's API credentials before adding it",
        )
    return Shop(
        key=key,
        platform=platform,
        display_name=display_name or key,
        base_url=url.rstrip("/"),
        timezone=timezone,
        currency=currency.upper(),
        credentials_env=names,
    )


def _row_to_shop(row: sa.Row) -> Shop:
    return Shop(
        key=row.shop_key,
        platform=row.platform,
        display_name=row.display_name,
        base_url=row.base_url,
        timezone=row.timezone,
        currency=row.currency,
        credentials_env=dict(row.credentials_env),
        enabled=row.enabled,
        created_at=row.created_at,
    )


def add_shop(engine: sa.Engine, instance: DagsterInstance, shop: Shop) -> Shop:
    """Register the shop and add its partition in one step: either both happen or neither does.

    The row is inserted first and committed only after the partition exists, so a failure leaves no
    registry row without a partition. (A crash between the two leaves a partition without a row:
    `reconcile` reports it, and adding the same key again adopts it.)
    """
    with engine.begin() as conn:
        existing = conn.execute(sa.select(tables.shops.c.platform).where(tables.shops.c.shop_key == shop.key)).first()
        if existing is not None:
            raise ShopConfigError(
                "--key",
                f"shop {shop.key!r} already exists ({existing.platform}); keys are never reused, choose another",
            )
        conn.execute(
            tables.shops.insert().values(
                shop_key=shop.key,
                platform=shop.platform,
                display_name=shop.display_name,
                base_url=shop.base_url,
                timezone=shop.timezone,
                currency=shop.currency,
                credentials_env=shop.credentials_env,
            )
        )
        name = shop.partitions.name
        assert name is not None
        if not instance.has_dynamic_partition(name, shop.key):
            instance.add_dynamic_partitions(name, [shop.key])
    return get_shop(engine, shop.key)


def get_shop(engine: sa.Engine | sa.Connection, key: str) -> Shop:
    """The registered shop; `engine` may be an open connection (the webhook receiver reads it in its transaction)."""
    query = sa.select(tables.shops).where(tables.shops.c.shop_key == key)
    if isinstance(engine, sa.Connection):
        row = engine.execute(query).first()
    else:
        with engine.connect() as conn:
            row = conn.execute(query).first()
    if row is None:
        raise ShopConfigError("shop", f"no shop {key!r} in the registry; `storepipe shops list` shows them")
    return _row_to_shop(row)


def get_platform_shop(engine: sa.Engine, key: str, platform: str) -> Shop:
    """The shop of a lane's partition; a shop of another platform is a configuration error."""
    shop = get_shop(engine, key)
    if shop.platform != platform:
        raise ShopConfigError("shop", f"shop {shop.key!r} is a {shop.platform} shop, not a {platform} one")
    return shop


def list_shops(engine: sa.Engine, *, platform: str | None = None, enabled_only: bool = False) -> list[Shop]:
    query = sa.select(tables.shops).order_by(tables.shops.c.shop_key)
    if platform:
        query = query.where(tables.shops.c.platform == platform)
    if enabled_only:
        query = query.where(tables.shops.c.enabled)
    with engine.connect() as conn:
        return [_row_to_shop(r) for r in conn.execute(query)]


def set_enabled(engine: sa.Engine, key: str, enabled: bool) -> Shop:
    """Disable (or re-enable) a shop. Its partition and history stay: syncs skip disabled shops."""
    get_shop(engine, key)
    with engine.begin() as conn:
        conn.execute(
            tables.shops.update()
            .where(tables.shops.c.shop_key == key)
            .values(enabled=enabled, disabled_at=None if enabled else sa.func.now())
        )
    return get_shop(engine, key)


@dataclass(frozen=True)
class Drift:
    """Where the registry and Dagster's partitions disagree, and what reconcile did about it."""

    added_partitions: dict[str, list[str]]  # platform -> shop keys whose missing partition was added
    orphan_partitions: dict[str, list[str]]  # platform -> partition keys with no registry row
    pruned: bool

    @property
    def clean(self) -> bool:
        return not any(self.added_partitions.values()) and not any(self.orphan_partitions.values())


def find_drift(engine: sa.Engine, instance: DagsterInstance) -> Drift:
    """Compare without changing anything."""
    missing: dict[str, list[str]] = {}
    orphans: dict[str, list[str]] = {}
    for name, platform in PLATFORMS.items():
        registered = {s.key for s in list_shops(engine, platform=name)}
        partitions = set(instance.get_dynamic_partitions(platform.partitions.name or ""))
        missing[name] = sorted(registered - partitions)
        orphans[name] = sorted(partitions - registered)
    return Drift(added_partitions=missing, orphan_partitions=orphans, pruned=False)


def reconcile(engine: sa.Engine, instance: DagsterInstance, *, prune: bool = False) -> Drift:
    """Repair drift: add the partitions of registered shops; report (or, with prune, delete) orphans.

    Orphans are only deleted on request because a partition may carry materialization history that
    someone still wants to look at.
    """
    drift = find_drift(engine, instance)
    for name, keys in drift.added_partitions.items():
        if keys:
            instance.add_dynamic_partitions(PLATFORMS[name].partitions.name or "", keys)
    if prune:
        for name, keys in drift.orphan_partitions.items():
            for key in keys:
                instance.delete_dynamic_partition(PLATFORMS[name].partitions.name or "", key)
    return Drift(drift.added_partitions, drift.orphan_partitions, pruned=prune)
