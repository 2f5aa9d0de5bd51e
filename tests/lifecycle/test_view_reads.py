"""View modules (pages and API operations) parse, call one service or query function, and
render: they read nothing from the database themselves, so pages and the API share their
queries and cannot drift. An AST walk counts the reads left in each view module."""

from __future__ import annotations

import ast
from pathlib import Path

GOVERNANCE = Path(__file__).resolve().parents[2] / "governance"
READS = {"get", "scalars", "scalar", "execute", "query"}
# Reads still written in views, per module, to move into their noun's queries. The count may
# only go down; a module not listed may hold none.
NOT_YET_MOVED = {
    "governance/access/api_requests.py": 1,
    "governance/access/web.py": 7,
    "governance/access/web_data.py": 1,
    "governance/agreements/web.py": 2,
    "governance/agreements/web_view.py": 5,
    "governance/analysis/web.py": 5,
    "governance/datasets/web.py": 5,
    "governance/identity/web_admin.py": 5,
    "governance/outputs/api.py": 1,
    "governance/outputs/web_public.py": 1,
}


def view_modules() -> list[Path]:
    nouns = [p for p in GOVERNANCE.glob("*/*.py")
             if p.name.startswith(("web", "api")) and not p.name.endswith("_forms.py")
             and "forms" not in p.name]
    return sorted(nouns)


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
    found = {str(p.relative_to(GOVERNANCE.parent)): len(reads_in(p.read_text()))
             for p in view_modules()}
    grown = {name: count for name, count in found.items()
             if count > NOT_YET_MOVED.get(name, 0)}
    assert not grown, ("Move these reads into a query function of the noun's service "
                       f"(reads per module): {grown}")


def test_the_walk_sees_reads() -> None:
    source = ("x = db.get(User, 1)\ny = db_session().scalars(select(User))\n"
              "z = request.args.get('a')\n")
    assert sorted(reads_in(source)) == [1, 2, 2]
