"""Building the app stays light: the server's workers, the analysis worker and every command
build it, and the heavy libraries only some requests need are imported by those requests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Each costs a noticeable part of a second and tens of MB at every start (docs/benchmarks.md,
# "Audit commands: a lighter start").
HEAVY = ("duckdb", "pyspark", "scipy", "weasyprint", "saml2", "scim2_models", "splink")


def test_building_the_app_imports_none_of_the_heavy_libraries(
    instance_path: Path, database_url: str
) -> None:
    code = (
        "import sys\n"
        "from governance import create_app\n"
        "create_app()\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]  # the repository, wherever pytest was started
    env = dict(
        os.environ,
        GOVERNANCE_INSTANCE_PATH=str(instance_path),
        GOVERNANCE_DATABASE_URL=database_url,
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root, env=env
    )
    assert output.stdout.strip() == ""
