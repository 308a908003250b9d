"""Processes that start at once share one embedded PostgreSQL: no double start, no corruption."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from storepipe.warehouse.migrate import head_revision
from storepipe.warehouse.server import stop_embedded

_PROBE = """
import json, sys
from storepipe.settings import get_settings
from storepipe.warehouse.engine import warehouse_engine
import sqlalchemy as sa
engine = warehouse_engine()
with engine.connect() as conn:
    pid = conn.execute(sa.text("SELECT pg_postmaster_start_time()::text, current_setting('data_directory')")).one()
    rev = conn.execute(sa.text("SELECT version_num FROM ops.alembic_version")).scalar_one()
print(json.dumps({"start": pid[0], "datadir": pid[1], "revision": rev, "url": str(engine.url)}))
"""


def test_two_processes_starting_together_share_one_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("STOREPIPE_DATABASE_URL", "STOREPIPE_DAGSTER_STORAGE_URL")}
    env["STOREPIPE_HOME"] = str(home)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PROBE], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
        seen = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
        assert seen[0]["start"] == seen[1]["start"]  # the same postmaster, started once
        assert seen[0]["datadir"] == seen[1]["datadir"] == str((home / "pgdata").resolve())
        assert seen[0]["revision"] == seen[1]["revision"] == head_revision()

        # A third process later reuses the running server instead of starting another.
        later = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120)
        assert json.loads(later.stdout.strip().splitlines()[-1])["start"] == seen[0]["start"]
    finally:
        stop_embedded(home / "pgdata")
