"""Project hygiene that CI must enforce: ruff is clean, and CI runs exactly the README's test command."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    return re.findall(r"```(?:sh|bash)\n(.+?)\n```", (ROOT / "README.md").read_text(), flags=re.S)


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or "ruff"
    result = subprocess.run(
        [ruff, "check", "storepipe", "storepipe_tests", "bench"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one() -> None:
    commands = _readme_commands()
    assert len(commands) == 2, commands
    run_ui, run_tests = commands
    assert "storepipe dev" in run_ui
    assert run_tests.endswith("pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert run_tests.replace("pip install -e", "pip install -q -e") in ci
