"""Output-level checks: identifying columns, population fingerprints and differencing."""

from __future__ import annotations

import pytest

from governance.analysis.disclosure import DisclosurePolicy
from governance.analysis.errors import AnalysisRefused
from governance.analysis.ledger import (
    Population,
    check_output_columns,
    differencing_conflicts,
    population_of,
    require_no_differencing,
)

POLICY = DisclosurePolicy()


def test_grouping_by_identifier_or_free_text_is_refused():
    with pytest.raises(AnalysisRefused) as error:
        check_output_columns(["sex", "name"], {"name", "date_of_birth"}, {"reference"})
    assert error.value.reason == "direct_identifier"
    with pytest.raises(AnalysisRefused) as free:
        check_output_columns(["reference"], {"name"}, {"reference"})
    assert free.value.reason == "free_text"
    check_output_columns(["sex", "region"], {"name"}, {"reference"})


def test_digest_is_order_and_duplicate_insensitive():
    first = population_of("a", [3, 1, 2, 2])
    second = population_of("b", ["2", "1", "3"])
    assert first.digest == second.digest
    assert first.size == 3
    assert population_of("c", [1, 2]).digest != first.digest


def test_small_symmetric_difference_is_flagged():
    base = population_of("cohort", range(100))
    minus_three = population_of("cohort-3", range(3, 100))
    conflicts = differencing_conflicts(minus_three, [base], POLICY)
    assert len(conflicts) == 1
    assert conflicts[0].only_in_released == 3
    assert conflicts[0].exact
    with pytest.raises(AnalysisRefused):
        require_no_differencing(minus_three, [base], POLICY)


def test_identical_or_large_differences_are_not_flagged():
    base = population_of("cohort", range(100))
    assert differencing_conflicts(population_of("same", range(100)), [base], POLICY) == []
    far = population_of("far", range(50, 150))
    assert differencing_conflicts(far, [base], POLICY) == []
    exactly_min = population_of("ten", range(10, 100))
    assert differencing_conflicts(exactly_min, [base], POLICY) == []


def test_size_only_ledger_is_conservative():
    stored = Population("old", 100, "x" * 64)
    new = population_of("new", range(95))
    conflicts = differencing_conflicts(new, [stored], POLICY)
    assert len(conflicts) == 1
    assert not conflicts[0].exact
    assert differencing_conflicts(population_of("big", range(200)), [stored], POLICY) == []


def test_raw_keys_only_when_asked_for():
    kept = population_of("a", [3, 1, 2], keep_keys=True)
    assert kept.keys == ("1", "2", "3")
    assert "keys" not in kept.to_dict()
    assert kept.to_dict(include_keys=True)["keys"] == [
        "1",
        "2",
        "3",
    ]
    assert population_of("a", [1]).keys is None


def test_member_hashes_are_salted():
    assert (
        population_of("a", [1], salt="s1").member_hashes
        != population_of("a", [1], salt="s2").member_hashes
    )
    assert "member_hashes" not in population_of("a", [1]).to_dict()
