"""SQLAlchemy engines for the warehouse, with migrations applied once per process before first use."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from storepipe.settings import Settings, get_settings
from storepipe.warehouse.server import resolve_databases

_engines: dict[str, sa.Engine] = {}
_migrated: set[str] = set()
_lock = threading.Lock()


def make_engine(url: str) -> sa.Engine:
    """One pooled engine per URL and process."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)
            _engines[url] = engine
        return engine


def warehouse_engine(settings: Settings | None = None, *, migrate: bool = True) -> sa.Engine:
    """The warehouse engine, with the schema upgraded to the newest migration (idempotent, race-safe)."""
    url = resolve_databases(settings or get_settings()).warehouse_url
    engine = make_engine(url)
    if migrate and url not in _migrated:
        from storepipe.warehouse.migrate import upgrade

        upgrade(engine)
        _migrated.add(url)
    return engine


def dispose_all() -> None:
    """Close every pooled connection (tests that drop databases call this first)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _migrated.clear()
