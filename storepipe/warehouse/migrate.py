"""Apply the Alembic migrations programmatically, serialised across processes by an advisory lock."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
VERSION_SCHEMA = "ops"
# Any constant works; it only has to be the same in every storepipe process.
_ADVISORY_LOCK_KEY = 0x5707E_0001


def alembic_config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE, "version_table_schema": VERSION_SCHEMA}
        )
        return ctx.get_current_revision()


def upgrade(engine: sa.Engine, revision: str = "head") -> str:
    """Upgrade the warehouse to `revision`; a no-op when it is there already. Returns the new revision.

    Two processes starting at once (webserver and daemon, say) both call this: the session-level
    advisory lock makes the second wait and then find nothing to do.
    """
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
        try:
            conn.commit()
            command.upgrade(alembic_config(conn), revision)
            conn.commit()
        finally:
            conn.rollback()  # a failed migration leaves the transaction aborted: the unlock must not hide it
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_LOCK_KEY})
            conn.commit()
    current = current_revision(engine)
    assert current is not None
    return current
