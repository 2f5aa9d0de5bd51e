"""Property tests are not timed: a slow example on a loaded machine is not a failure (speed
targets live in bench/), unless a test sets its own deadline."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st


def test_the_suite_runs_property_tests_without_a_deadline() -> None:
    assert settings().deadline is None


@given(st.integers())
def test_a_property_test_takes_the_suite_profile(value: int) -> None:
    assert settings.default is not None
    assert settings.default.deadline is None
