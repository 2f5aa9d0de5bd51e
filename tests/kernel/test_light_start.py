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


def test_the_verifiers_worker_imports_neither_sqlalchemy_nor_the_app() -> None:
    """Each `audit verify` (and each PDF report) starts two worker processes that walk the
    chain; both start at once, so every tenth of a second of their imports is a tenth of a
    second of the command. The key ring's module (SQLAlchemy's ORM, 0.2 s of CPU) was once
    imported through the audit format's `fingerprint`."""
    code = (
        "import sys\n"
        "import governance.audit.verify_worker\n"
        "print(','.join(m for m in ('sqlalchemy', 'flask', 'governance.kernel.keys') "
        "if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert output.stdout.strip() == ""
