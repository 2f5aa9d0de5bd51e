"""The layout's promises that a reader can check (docs/architecture.md): no import circle, even
through imports written inside functions, and no module imported for its side effects."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
GOVERNANCE = REPO / "governance"


def _graph_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_graph", REPO / "tools/import_graph.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_module_takes_part_in_an_import_circle() -> None:
    tool = _graph_tool()
    files, every, _ = tool.collect(GOVERNANCE)
    assert len(files) > 200
    circles = [g for g in tool.strongly_connected(sorted(files), every) if len(g) > 1]
    assert circles == []


def test_the_circle_finder_sees_a_circle_made_inside_functions(tmp_path: Path) -> None:
    package = tmp_path / "governance"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from governance import b\n")
    (package / "b.py").write_text("import governance.a\n")
    tool = _graph_tool()
    files, every, _ = tool.collect(package)
    circles = [g for g in tool.strongly_connected(sorted(files), every) if len(g) > 1]
    assert circles == [["governance.a", "governance.b"]]


# An import kept only for what importing does (ruff's F401 silenced) registers something by
# being imported; the registry lists such things instead. all_models.py is the one exception:
# SQLAlchemy's metadata is filled by importing the model modules.
SIDE_EFFECT_IMPORT = re.compile(r"^\s*(from governance\S* )?import .*#\s*noqa:[^#]*F401", re.M)


def test_no_module_is_imported_for_its_side_effects() -> None:
    found = [
        f"{path.relative_to(REPO)}: {match.group(0).strip()}"
        for path in sorted(GOVERNANCE.rglob("*.py"))
        if path.name != "all_models.py" and "migrations" not in path.parts
        for match in SIDE_EFFECT_IMPORT.finditer(path.read_text())
    ]
    assert found == []
