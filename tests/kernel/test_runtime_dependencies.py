"""What the service imports, a production install has: `make install` installs requirements.lock
only (no dev dependencies), so a module the service imports from a dev-only package fails there
and nowhere in the tests, which run on the dev install. pypdf was one: the app did not start."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Imported only where the optional `spark` extra is installed (pyproject), behind a check.
OPTIONAL = {"pyspark"}


def _imported_top_levels() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "governance").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"governance", "__future__"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_package_the_service_imports_is_in_the_runtime_lock() -> None:
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    locked = {_normal(m.group(1)) for m in re.finditer(r"^([A-Za-z0-9_.-]+)==", lock, re.M)}
    distributions = packages_distributions()
    missing = []
    for module in sorted(_imported_top_levels() - OPTIONAL):
        provided_by = distributions.get(module, [])
        if not any(_normal(d) in locked for d in provided_by):
            missing.append(f"{module} (from {', '.join(provided_by) or 'no installed package'})")
    assert missing == [], "imported by governance/ but not in requirements.lock: " + "; ".join(
        missing
    )
