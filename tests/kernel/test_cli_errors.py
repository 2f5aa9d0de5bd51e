"""The command line says what is wrong with the database in one line, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_command_before_init_says_to_run_init(tmp_path: Path) -> None:
    env = {**os.environ, "GOVERNANCE_INSTANCE_PATH": str(tmp_path)}
    env.pop("GOVERNANCE_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "governance.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "run `governance init`" in done.stderr
    assert "Traceback" not in done.stderr
