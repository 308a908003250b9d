"""Shared fixtures: a real PostgreSQL server (embedded, or STOREPIPE_DATABASE_URL's) and fresh databases on it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL, make_url

from storepipe.settings import DATABASE_URL_ENV, HOME_ENV, Settings
from storepipe.warehouse.engine import dispose_all

_SAVED_ENV = dict(os.environ)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[URL]:
    """Admin URL of the server the tests create their databases on."""
    from storepipe.warehouse.server import start_embedded, stop_embedded

    external = _SAVED_ENV.get(DATABASE_URL_ENV)
    if external:
        yield make_url(external.replace("postgres://", "postgresql://", 1)).set(database="postgres")
        return
    pgdata = tmp_path_factory.mktemp("server") / "pgdata"
    yield start_embedded(pgdata)
    stop_embedded(pgdata)


def _admin_dsn(server: URL) -> str:
    return server.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)


def drop_database(server: URL, name: str) -> None:
    with psycopg.connect(_admin_dsn(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def clean_env() -> Iterator[None]:
    """Undo whatever a test (or prepare_environment) exported."""
    before = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(before)


@pytest.fixture
def settings(pg_server: URL, tmp_path: Path, clean_env: None) -> Iterator[Settings]:
    """Settings pointing at a brand-new, empty warehouse database (and a fresh STOREPIPE_HOME)."""
    name = f"sp_test_{uuid.uuid4().hex[:10]}"
    url = pg_server.set(database=name).render_as_string(hide_password=False)
    home = tmp_path / "home"
    os.environ[HOME_ENV] = str(home)
    os.environ[DATABASE_URL_ENV] = url
    os.environ.pop("STOREPIPE_DAGSTER_STORAGE_URL", None)
    yield Settings(home=home, database_url=url)
    dispose_all()
    from storepipe.instance import _instance_for

    _instance_for.cache_clear()
    drop_database(pg_server, name)
    drop_database(pg_server, f"{name}_dagster")


@pytest.fixture
def engine(settings: Settings):
    from storepipe.warehouse.engine import warehouse_engine

    return warehouse_engine(settings)


@pytest.fixture
def instance(settings: Settings):
    """A persistent, Postgres-backed Dagster instance, as the webserver and daemon use it."""
    from storepipe.instance import get_instance

    inst = get_instance(settings)
    yield inst
    inst.dispose()
