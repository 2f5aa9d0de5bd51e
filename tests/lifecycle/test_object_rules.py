"""Object-level rules are named functions in governance/authz/rules.py, used by services,
pages and the API alike, and a refusal is recorded under the rule's name."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest

from governance.authz import rules
from governance.kernel.errors import PermissionDenied

GOVERNANCE = Path(__file__).resolve().parents[2] / "governance"


def test_every_rule_has_a_name_and_says_what_it_requires() -> None:
    assert len(rules.RULES) >= 10
    for name, rule in rules.RULES.items():
        assert rule.rule_name == name  # type: ignore[attr-defined]
        assert rule.__doc__, f"rule {name} needs a docstring saying what it requires"


def test_a_refusal_carries_the_rules_name() -> None:
    request = SimpleNamespace(requester_id=1, steward_id=None)
    with pytest.raises(PermissionDenied) as refused:
        rules.require(
            rules.own_request,
            SimpleNamespace(id=2),
            request,
            message="no",
            audit={"event_type": "access_request:withdraw"},
        )
    assert refused.value.audit == {"event_type": "access_request:withdraw", "rule": "own-request"}
    rules.require(rules.own_request, SimpleNamespace(id=1), request, message="no")


def test_no_role_is_used_as_a_permission() -> None:
    """Roles grant permissions in policies/; code asks for the permission (authz.can)."""
    offences = []
    for path in sorted(GOVERNANCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "has_role"
            ):
                offences.append(f"{path.relative_to(GOVERNANCE.parent)}:{node.lineno}")
    assert not offences, "Ask authz.can(by, Permission.X) instead of has_role:\n" + "\n".join(
        offences
    )


def test_the_lifecycle_tables_name_registered_rules() -> None:
    from governance.lifecycle_docs import LIFECYCLES

    # Agreements and outputs describe who acts in words (docs/agreement-lifecycle.md).
    named = [lc for lc in LIFECYCLES if lc.noun not in {"agreement", "output"}]
    for lifecycle in named:
        for transition in lifecycle.transitions:
            for name in filter(None, transition.rule.split(", ")):
                assert name in rules.RULES, f"{lifecycle.noun}: unknown rule {name!r}"
