"""View modules (pages and API operations) parse, call one service or query function, and
render: they read nothing from the database themselves, so pages and the API share their
queries and cannot drift. An AST walk counts the reads left in each view module."""

from __future__ import annotations

import ast
from pathlib import Path

GOVERNANCE = Path(__file__).resolve().parents[2] / "governance"
READS = {"get", "scalars", "scalar", "execute", "query"}
# The pager runs the statement a query function built; it is the one reader among them.
PAGER = GOVERNANCE / "web" / "paging.py"


def view_modules() -> list[Path]:
    """Each noun's pages and API modules, and the shared web and API layers."""
    nouns = [
        p
        for p in GOVERNANCE.glob("*/*.py")
        if p.name.startswith(("web", "api")) and "forms" not in p.name
    ]
    shared = [*GOVERNANCE.glob("web/*.py"), *GOVERNANCE.glob("api/*.py")]
    return sorted(p for p in {*nouns, *shared} if p != PAGER)


def reads_in(source: str) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        builds_a_query = isinstance(func, ast.Name) and func.id == "select"
        reads = isinstance(func, ast.Attribute) and func.attr in READS and _on_a_session(func)
        if builds_a_query or reads:
            lines.append(node.lineno)
    return lines


def _on_a_session(func: ast.Attribute) -> bool:
    """`db.get(...)`, `session.scalars(...)`, `db_session().execute(...)`: a database read,
    not `request.args.get(...)` or `dict.get(...)`."""
    owner = func.value
    if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name):
        return owner.func.id == "db_session"
    return isinstance(owner, ast.Name) and owner.id in {"db", "session"}


def test_views_read_through_query_functions() -> None:
    assert len(view_modules()) > 30
    found = {
        f"{p.relative_to(GOVERNANCE.parent)}:{line}"
        for p in view_modules()
        for line in reads_in(p.read_text())
    }
    assert not found, (
        "Move these reads into a query function of the noun, shared by the "
        f"pages and the API: {sorted(found)}"
    )


def test_the_walk_sees_reads() -> None:
    source = (
        "x = db.get(User, 1)\ny = db_session().scalars(select(User))\nz = request.args.get('a')\n"
    )
    assert sorted(reads_in(source)) == [1, 2, 2]
