"""Migrations build the schema from an empty database, match the table definitions, and re-run as a no-op."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storepipe.settings import Settings
from storepipe.warehouse.engine import make_engine
from storepipe.warehouse.migrate import current_revision, head_revision, upgrade
from storepipe.warehouse.server import resolve_databases
from storepipe.warehouse.tables import SCHEMAS, WOOCOMMERCE_ENTITIES, metadata

_SNAPSHOT = sa.text(
    """
    SELECT table_schema, table_name, column_name, data_type, is_nullable, coalesce(column_default, '')
    FROM information_schema.columns WHERE table_schema = ANY(:schemas)
    UNION ALL
    SELECT n.nspname, c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), '', ''
    FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = ANY(:schemas)
    ORDER BY 1, 2, 3
    """
)


def _snapshot(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(_SNAPSHOT, {"schemas": list(SCHEMAS)})]


def _empty_engine(settings: Settings) -> sa.Engine:
    return make_engine(resolve_databases(settings).warehouse_url)


def test_upgrade_from_empty_creates_every_schema_and_table(settings: Settings) -> None:
    engine = _empty_engine(settings)
    assert current_revision(engine) is None
    assert upgrade(engine) == head_revision()
    inspector = sa.inspect(engine)
    assert set(SCHEMAS) <= set(inspector.get_schema_names())
    assert set(inspector.get_table_names(schema="ops")) == {
        "alembic_version",
        "shops",
        "sync_progress",
        "checkpoints",
        "discrepancies",
        "metric_settings",
        "mart_state",
        "loyalty_programs",
        "webhook_inbox",
    }
    assert {f"woocommerce_{e}" for e in WOOCOMMERCE_ENTITIES} <= set(inspector.get_table_names(schema="raw"))


def test_migrated_schema_matches_table_definitions(settings: Settings) -> None:
    engine = _empty_engine(settings)
    upgrade(engine)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                # core and marts are written in SQL, not declared as SQLAlchemy tables: compare only these.
                "include_object": lambda obj, _n, kind, reflected, other: (
                    not (kind == "table" and reflected and other is None)
                ),
                "include_schemas": True,
                "include_name": lambda name, kind, _p: kind != "schema" or name in SCHEMAS,
            },
        )
        diffs = [d for d in compare_metadata(ctx, metadata) if "alembic_version" not in repr(d)]
    assert diffs == []


def test_second_upgrade_changes_nothing(settings: Settings) -> None:
    engine = _empty_engine(settings)
    upgrade(engine)
    before = _snapshot(engine)
    assert len(before) > 40
    assert upgrade(engine) == head_revision()
    assert _snapshot(engine) == before


def test_concurrent_upgrades_serialise(settings: Settings) -> None:
    """Webserver and daemon start together: both upgrade, one waits on the advisory lock, neither fails."""
    url = resolve_databases(settings).warehouse_url
    engines = [sa.create_engine(url), sa.create_engine(url)]
    results: list[str] = []
    errors: list[BaseException] = []

    def run(engine: sa.Engine) -> None:
        try:
            results.append(upgrade(engine))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for e in engines:
        e.dispose()
    assert errors == []
    assert results == [head_revision(), head_revision()]
