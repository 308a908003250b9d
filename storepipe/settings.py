"""Configuration from the environment: where storepipe keeps its state and which PostgreSQL it uses."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "STOREPIPE_HOME"
DATABASE_URL_ENV = "STOREPIPE_DATABASE_URL"
# The Dagster instance's storage URL; derived from the warehouse server unless set explicitly.
DAGSTER_STORAGE_URL_ENV = "STOREPIPE_DAGSTER_STORAGE_URL"

WAREHOUSE_DB = "storepipe"
DAGSTER_DB = "storepipe_dagster"


@dataclass(frozen=True)
class Settings:
    """Where storepipe's files live and, if given, the external PostgreSQL server."""

    home: Path
    database_url: str | None

    @property
    def pgdata(self) -> Path:
        """Data directory of the embedded PostgreSQL (used only when database_url is None)."""
        return self.home / "pgdata"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def embedded(self) -> bool:
        return self.database_url is None


def get_settings() -> Settings:
    """Read the settings now (not at import time), so tests and subprocesses can change the environment."""
    home = Path(os.environ.get(HOME_ENV) or Path.home() / ".storepipe").expanduser().resolve()
    url = os.environ.get(DATABASE_URL_ENV) or None
    return Settings(home=home, database_url=url)
