"""No status changes outside the lifecycle tables: `Lifecycle.apply` and `Lifecycle.update`
(governance/lifecycle.py) are the only code that writes a status column. A constructor may
give a new row its initial state; nothing else may assign one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GOVERNANCE = Path(__file__).resolve().parents[2] / "governance"
THE_WRITER = GOVERNANCE / "lifecycle.py"


def _is_status(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value == "status"


def status_writes(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for each status assignment the tree contains."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            for part in ast.walk(target):
                if isinstance(part, ast.Attribute) and part.attr == "status":
                    found.append((node.lineno, "assigns .status"))
        if not isinstance(node, ast.Call):
            continue
        name = (
            node.func.attr
            if isinstance(node.func, ast.Attribute)
            else node.func.id
            if isinstance(node.func, ast.Name)
            else ""
        )
        if name == "setattr" and len(node.args) >= 2 and _is_status(node.args[1]):
            found.append((node.lineno, "setattr(..., 'status', ...)"))
        if name in {"values", "update"}:
            if any(k.arg == "status" for k in node.keywords):
                found.append((node.lineno, f"{name}(status=...)"))
            for arg in node.args:
                if isinstance(arg, ast.Dict) and any(_is_status(k) for k in arg.keys):
                    found.append((node.lineno, f"{name}({{'status': ...}})"))
    return found


def test_no_module_writes_a_status_outside_the_lifecycle() -> None:
    offences = [
        f"{path.relative_to(GOVERNANCE.parent)}:{line}: {what}"
        for path in sorted(GOVERNANCE.rglob("*.py"))
        if path != THE_WRITER
        for line, what in status_writes(ast.parse(path.read_text(), str(path)))
    ]
    assert not offences, (
        "Change a status only through its lifecycle table "
        "(Lifecycle.apply / Lifecycle.update):\n" + "\n".join(offences)
    )


@pytest.mark.parametrize(
    "source",
    [
        "run.status = 'queued'",
        "a.b.status = x",
        "setattr(grant, 'status', 'revoked')",
        "session.execute(update(Run).values(status='failed'))",
        "stmt.values({'status': 'failed'})",
        "row.update({'status': 'x'})",
        "obj.status: str = 'x'",
    ],
)
def test_the_guard_sees_every_way_of_writing_a_status(source: str) -> None:
    assert status_writes(ast.parse(source))


@pytest.mark.parametrize(
    "source",
    [
        "Run(status='queued')",
        "status = request.args.get('status')",
        "query.where(Run.status == 'queued')",
        "body = {'status': 'ok'}",
    ],
)
def test_the_guard_lets_reads_and_new_rows_pass(source: str) -> None:
    assert not status_writes(ast.parse(source))
