"""The package boundary: no web, ORM or database imports; the public API is importable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_importing_the_engine_pulls_in_no_web_or_database_code():
    code = (
        "import sys, governance.analysis.engine\n"
        "banned = [m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'sqlalchemy', 'sqlite3', 'psycopg', 'psycopg2', 'werkzeug')]\n"
        "print(','.join(banned))"
    )
    root = Path(__file__).resolve().parents[2]  # the repository, wherever pytest was started
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert output.stdout.strip() == ""


def test_public_api_names_resolve():
    import governance.analysis.engine as analysis

    for name in analysis.__all__:
        assert hasattr(analysis, name), name
