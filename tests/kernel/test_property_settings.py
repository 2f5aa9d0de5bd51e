"""Property tests are not timed: a slow example on a loaded machine is not a failure (speed
targets live in bench/), unless a test sets its own deadline."""

from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

TESTS = Path(__file__).resolve().parents[1]


def test_the_suite_runs_property_tests_without_a_deadline() -> None:
    assert settings().deadline is None


@given(st.integers())
def test_a_property_test_takes_the_suite_profile(value: int) -> None:
    assert settings.default is not None
    assert settings.default.deadline is None


def test_every_settings_decorator_sits_on_a_property_test() -> None:
    """`@settings(...)` on a function without `@given` does nothing: a helper placed between a
    test's settings and its `@given` once left that test at Hypothesis's default number of
    examples (100 for its declared 40, 28 s of CI). Every decorated function is a property test."""
    misplaced = []
    for path in sorted(TESTS.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if "settings" not in source:
            continue
        tree = ast.parse(source)
        # A module's own names for a settings object (`RELAXED = settings(...)`).
        aliases = {
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign) and _called(node.value) == "settings"
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            names = {_called(d) for d in node.decorator_list}
            if names & {"settings", *aliases} and "given" not in names:
                misplaced.append(f"{path.relative_to(TESTS.parent)}::{node.name}")
    assert misplaced == []


def _called(expression: ast.expr) -> str:
    """The name a decorator or value calls or is: `settings` for `settings(...)`."""
    target = expression.func if isinstance(expression, ast.Call) else expression
    return target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
