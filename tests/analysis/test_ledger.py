"""Output-level checks: identifying columns, keyed population fingerprints and differencing."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.analysis.engine.disclosure import DisclosurePolicy
from governance.analysis.engine.errors import AnalysisRefused
from governance.analysis.engine.ledger import (
    LEGACY_SCHEME,
    MEMBER_HASH_BYTES,
    DifferencingRefused,
    Population,
    ReleasedPopulations,
    check_output_columns,
    common_members,
    differencing_conflicts,
    key_fingerprint,
    key_texts,
    legacy_digest,
    population_of,
    require_no_differencing,
)

POLICY = DisclosurePolicy()
KEY = b"ledger-key-for-tests-0123456789ab"


def test_grouping_by_identifier_or_free_text_is_refused():
    with pytest.raises(AnalysisRefused) as error:
        check_output_columns(["sex", "name"], {"name", "date_of_birth"}, {"reference"})
    assert error.value.reason == "direct_identifier"
    with pytest.raises(AnalysisRefused) as free:
        check_output_columns(["reference"], {"name"}, {"reference"})
    assert free.value.reason == "free_text"
    check_output_columns(["sex", "region"], {"name"}, {"reference"})


def test_digest_is_order_and_duplicate_insensitive():
    first = population_of("a", [3, 1, 2, 2], KEY)
    second = population_of("b", ["2", "1", "3"], KEY)
    assert first.digest == second.digest
    assert first.size == 3
    assert population_of("c", [1, 2], KEY).digest != first.digest


def test_member_hashes_are_full_width_keyed_blake2b():
    population = population_of("a", ["17"], KEY)
    assert population.members is not None
    (member,) = population.members.tolist()
    assert len(member) == MEMBER_HASH_BYTES == 32
    expected = hashlib.blake2b(b"17", key=KEY, digest_size=32, person=b"gov-ledger-v1").digest()
    assert member == expected
    # Neither the hashes nor the digest can be computed without the key.
    other = population_of("a", ["17"], b"another-key-0123456789abcdef0123")
    assert other.members is not None
    assert other.members.tolist() != population.members.tolist()
    assert other.digest != population.digest
    assert population.digest != legacy_digest(["17"])
    assert "member_hashes" not in population.to_dict()
    assert population.to_dict(include_members=True)["member_hashes"] == [expected.hex()]


def test_key_fingerprint_names_a_key_without_revealing_it():
    assert key_fingerprint(KEY) == key_fingerprint(bytes(KEY))
    assert key_fingerprint(KEY) != key_fingerprint(b"x" * 32)
    assert len(key_fingerprint(KEY)) == 16
    assert KEY.hex()[:16] != key_fingerprint(KEY)


def test_small_symmetric_difference_is_flagged():
    base = population_of("cohort", range(100), KEY)
    minus_three = population_of("cohort-3", range(3, 100), KEY)
    conflicts = differencing_conflicts(minus_three, [base], POLICY.min_cell_size)
    assert len(conflicts) == 1
    assert conflicts[0].only_in_released == 3
    assert conflicts[0].exact
    with pytest.raises(DifferencingRefused) as refused:
        require_no_differencing(minus_three, [base], POLICY)
    assert refused.value.reason == "differencing"
    assert refused.value.conflicts == conflicts
    # The refusal tells the analyst what to change, without naming the earlier release.
    assert "at least 10 people" in refused.value.message
    assert "cohort'" not in refused.value.message.replace("'cohort-3'", "")


def test_identical_or_large_differences_are_not_flagged():
    base = population_of("cohort", range(100), KEY)
    same = population_of("same", range(100), KEY)
    assert differencing_conflicts(same, [base], 10) == []
    far = population_of("far", range(50, 150), KEY)
    assert differencing_conflicts(far, [base], 10) == []
    exactly_min = population_of("ten", range(10, 100), KEY)
    assert differencing_conflicts(exactly_min, [base], 10) == []
    # Same size, five people swapped: a symmetric difference of 10 is allowed, of 8 is not.
    swapped = population_of("swap", [*range(5, 100), *range(200, 205)], KEY)
    assert differencing_conflicts(swapped, [base], 10) == []
    assert len(differencing_conflicts(swapped, [base], 11)) == 1


def test_hashes_under_another_key_never_match():
    """Two ledgers under different keys share no member, so they must never be compared:
    the governance layer refuses loudly instead (tests/analysis/test_ledger_service.py)."""
    base = population_of("cohort", range(100), KEY)
    minus_three = population_of("cohort-3", range(3, 100), b"z" * 32)
    assert base.members is not None
    assert minus_three.members is not None
    assert common_members(base.members, minus_three.members) == 0


def test_legacy_rows_are_compared_conservatively():
    keys = [str(i) for i in range(100)]
    stored = Population("old", 100, legacy_digest(sorted(keys)), scheme="legacy-digest")
    identical = population_of("same", range(100), KEY, with_legacy_digest=True)
    assert differencing_conflicts(identical, [stored], 10) == []
    near = population_of("new", range(95), KEY, with_legacy_digest=True)
    conflicts = differencing_conflicts(near, [stored], 10)
    assert len(conflicts) == 1
    assert not conflicts[0].exact
    assert differencing_conflicts(population_of("big", range(200), KEY), [stored], 10) == []


def test_raw_keys_only_when_asked_for():
    kept = population_of("a", [3, 1, 2], KEY, keep_keys=True)
    assert kept.keys == ("1", "2", "3")
    assert "keys" not in kept.to_dict()
    assert kept.to_dict(include_keys=True)["keys"] == ["1", "2", "3"]
    assert population_of("a", [1], KEY).keys is None


@settings(max_examples=60, deadline=None)
@given(
    st.sets(st.integers(0, 300), max_size=120),
    st.sets(st.integers(0, 300), max_size=120),
    st.integers(1, 15),
)
def test_conflicts_match_a_set_computation(first, second, minimum):
    """The hashed comparison counts exactly the people in one population and not the other."""
    new = population_of("new", sorted(first), KEY)
    old = population_of("old", sorted(second), KEY)
    assert new.members is not None
    assert old.members is not None
    assert common_members(new.members, old.members) == len(first & second)
    difference = len(first ^ second)
    found = differencing_conflicts(new, [old], minimum)
    assert bool(found) == (0 < difference < minimum)
    if found:
        assert (found[0].only_in_new, found[0].only_in_released) == (
            len(first - second),
            len(second - first),
        )


def test_hashing_a_large_population_is_vectorised_enough():
    population = population_of("register", np.arange(200_000), KEY)
    assert population.size == 200_000
    assert population.members is not None
    assert len(population.members) == 200_000


# Person keys as the engine handed them: int64 without a gap, pandas' nullable integers with
# one, and float64 ("7.0") for integers with a gap, the form releases were recorded in before.
_INTEGER_KEYS = st.sets(st.integers(min_value=-(2**53), max_value=2**53), min_size=12, max_size=80)


def _as_read_with_gaps(keys: list[int]) -> pd.Series:
    """The keys as the engine had them when their column had a gap: float64 with a NaN."""
    return pd.Series([*map(float, keys), np.nan], dtype="float64")


def _as_nullable(keys: list[int]) -> pd.Series:
    return pd.Series([*keys, None], dtype="Int64")


@given(keys=_INTEGER_KEYS, data=st.data())
@settings(max_examples=60, deadline=None)
def test_a_release_in_the_float_form_is_matched_by_integer_keys(keys, data):
    """An earlier release recorded "7.0" for each person; a new one over the same people but a
    few, handed the keys as integers ("7"), is caught with the exact difference, and one over
    exactly the same people is recognised as the same population (no conflict)."""
    people = sorted(keys)
    earlier = population_of("earlier", _as_read_with_gaps(people), KEY)
    left = data.draw(
        st.integers(min_value=1, max_value=min(POLICY.min_cell_size - 1, len(people) - 1))
    )
    form = data.draw(st.sampled_from([_as_nullable, np.array]))
    new = population_of("new", form(people[left:]), KEY)
    [conflict] = differencing_conflicts(new, [earlier], POLICY.min_cell_size)
    assert (conflict.only_in_new, conflict.only_in_released, conflict.exact) == (0, left, True)
    same = population_of("same", form(people), KEY)
    assert earlier.digest in same.digests
    assert not differencing_conflicts(same, [earlier], POLICY.min_cell_size)


@given(keys=_INTEGER_KEYS, data=st.data())
@settings(max_examples=60, deadline=None)
def test_every_numeric_form_of_the_same_people_is_one_population(keys, data):
    """Whatever type the keys reach the engine as, the ledger writes them alike ("7"), so a
    population one person away from a new release is caught whichever form either had."""
    people = sorted(keys)
    forms = [_as_read_with_gaps, _as_nullable, np.array]
    first, second = data.draw(st.sampled_from(forms)), data.draw(st.sampled_from(forms))
    assert (
        population_of("a", first(people), KEY).digest
        == population_of("b", second(people), KEY).digest
    )
    earlier = population_of("earlier", first(people), KEY)
    new = population_of("new", second(people[1:]), KEY)
    [conflict] = differencing_conflicts(new, [earlier], POLICY.min_cell_size)
    assert (conflict.only_in_new, conflict.only_in_released) == (0, 1)


def test_integer_keys_are_written_as_integers_and_text_keys_as_they_are():
    def texts(keys):
        written, former = key_texts(keys)
        return written, sorted(former)

    assert texts(pd.Series([7.0, np.nan, 12.0, 7.0])) == (["12", "7"], ["12.0", "7.0"])
    assert texts(pd.Series([7, None], dtype="Int64")) == (["7"], ["7.0"])
    assert texts(pd.Series([2.5, 1e16])) == (["1e+16", "2.5"], ["1e+16", "2.5"])
    big = 2**53 + 1  # as a float it is 2**53: the float form loses the last digit
    assert texts(pd.Series([big], dtype="Int64")) == ([str(big)], ["9007199254740992.0"])
    assert texts(["7.0", "7", "a"]) == (["7", "7.0", "a"], ["7", "7.0", "a"])
    assert population_of("text", ["7", "8"], KEY).former is None


def test_a_legacy_row_in_the_float_form_is_matched_by_integer_keys():
    """Rows from before the keyed ledger carry an unkeyed digest of the keys' text; one written
    as "7.0" is the same people as integer keys, not a possible conflict."""
    people = list(range(1, 40))
    text = sorted(f"{float(k)}" for k in people)
    legacy = Population("legacy", len(people), legacy_digest(text), scheme=LEGACY_SCHEME)
    new = population_of("new", _as_nullable(people), KEY, with_legacy_digest=True)
    assert not differencing_conflicts(new, [legacy], POLICY.min_cell_size)
    fewer = population_of("fewer", _as_nullable(people[1:]), KEY, with_legacy_digest=True)
    [conflict] = differencing_conflicts(fewer, [legacy], POLICY.min_cell_size)
    assert not conflict.exact


def test_tables_over_the_float_form_are_found_for_integer_keys():
    """Protection intervals link a new table to earlier ones over exactly the same people; an
    earlier release recorded in the float form is still found."""
    people = list(range(1, 40))
    earlier = population_of("earlier", _as_read_with_gaps(people), KEY)
    ledger = ReleasedPopulations((earlier,), {earlier.digest: [{"name": "counts"}]})
    assert ledger.tables_over(population_of("new", _as_nullable(people), KEY)) == [
        {"name": "counts"}
    ]
