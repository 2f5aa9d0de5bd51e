"""Under rounding, a mean over a column far from 0 does not give the exact count (rounding11).

After rounding10 a mean over a numeric column was released as its exact sum S over the rounded
count p, so S = mean x p is known. Every value lies in the column's range [lowest, highest],
so S / highest <= n <= S / lowest. For ages that is loose; for a year of birth (1940 to 2008)
over a group of 23 it is 22.7 <= n <= 23.5: the exact 23 rounding was meant to hide (published
as 25). The sum of squares (through Welch's variance) says the same. Now the sums are taken from
the column's lowest value over the whole table (``ValueDomain.origin``): people at it add to
neither, so only a lower bound is left, as for ages. The property: the release is the same when
people at that value are added within the published counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import assume, given
from hypothesis import strategies as st

from governance.analysis.engine.disclosure import DisclosurePolicy, ValueDomain, published_mean
from governance.analysis.engine.kinds import run_analysis
from governance.analysis.engine.kinds_base import RunContext
from tests.analysis.test_rounding_hides_spread import welch_variances
from tests.analysis.test_rounding_recovers_nothing import (
    RELAXED,
    ROUNDED,
    candidates,
    cells_of,
    released,
    rounded,
)

LOWEST, HIGHEST = 1940, 2008
_rng = np.random.default_rng(11)
# 23 people born 1980 to 1990 (published as 25); 33 across the whole range, its ends included.
YEARS = {
    "a": _rng.integers(1980, 1991, 23).tolist(),
    "b": [LOWEST, HIGHEST, *_rng.integers(LOWEST, HIGHEST + 1, 31).tolist()],
}


def frame(values: dict[str, list[int]]) -> pd.DataFrame:
    rows = [{"g": group, "born": value} for group, years in values.items() for value in years]
    data = pd.DataFrame(rows)
    data.insert(0, "person_id", [f"p{i}" for i in range(len(data))])
    return data


def describe(values: dict[str, list[int]], policy: DisclosurePolicy) -> Any:
    return run_analysis(
        "descriptive",
        {"records": frame(values)},
        {"group_by": ["g"], "mean_of": "born"},
        RunContext(policy),
    )


def counts_from_sum(mean: float, published: int, base: int = 5) -> set[int]:
    """The counts that round as published and for which S = mean x published is a sum of
    that many years in [LOWEST, HIGHEST]."""
    total = mean * published
    return {n for n in candidates(published, base) if n * LOWEST <= total <= n * HIGHEST}


def counts_from_squares(mean: float, variance: float, published: int, base: int = 5) -> set[int]:
    """The same from S and the sum of squares Q = v (p - 1) + S^2 / p that Welch's variance
    over the published count gives: everyone within the range, sum (x - lo)(x - hi) <= 0, so
    n lo hi <= (lo + hi) S - Q, and n >= S^2 / Q (Cauchy-Schwarz)."""
    total = mean * published
    squares = variance * (published - 1) + total * total / published
    return {
        n
        for n in candidates(published, base)
        if n * LOWEST * HIGHEST <= (LOWEST + HIGHEST) * total - squares + 1e-6
        and n * squares >= total * total - 1e-6
    }


def test_a_mean_of_years_does_not_give_the_exact_count():
    result = describe(YEARS, ROUNDED)
    cell = cells_of(result, "means")["a"]
    assert cell["count"] == 25
    # On the earlier code the sum's bounds left only the exact 23.
    assert counts_from_sum(cell["mean"], 25) != {23}
    # Read from the origin (the table's lowest, which the reader may know), only n >= S' /
    # (highest - lowest) is left: every count in the interval.
    shifted = (cell["mean"] - LOWEST) * 25
    assert {n for n in candidates(25, 5) if n * (HIGHEST - LOWEST) >= shifted} == set(range(23, 28))
    # The mean is a year again, not S over 25 people (1,827 on the earlier code).
    assert 1980 <= cell["mean"] <= 1991


def test_welchs_variance_over_years_does_not_give_the_exact_count():
    result = describe(YEARS, ROUNDED)
    welch = result.statistics["welch"]
    assert welch["n_1"] == 25
    assert welch["mean_1"] == cells_of(result, "means")["a"]["mean"]
    found = [
        counts_from_squares(welch["mean_1"], variance, 25) for variance in welch_variances(welch)
    ]
    # On the earlier code one root left only the exact 23.
    assert all(counts != {23} for counts in found)


def test_the_origin_is_the_whole_tables_not_the_groups():
    """The group's own lowest year (1980) would change with the people in it; the table's
    (1940) is the same for every group and population drawn from it."""
    result = describe(YEARS, ROUNDED)
    exact = np.array(YEARS["a"], dtype=float)
    expected = published_mean(
        float(exact.mean()), 23, ROUNDED, ValueDomain((LOWEST, 1941, 2007, HIGHEST), LOWEST)
    )
    assert expected == LOWEST + (exact - LOWEST).sum() / 25
    assert cells_of(result, "means")["a"]["mean"] == expected


def test_without_rounding_a_mean_of_years_is_the_groups_own():
    result = describe(YEARS, DisclosurePolicy())
    cell = cells_of(result, "means")["a"]
    assert cell["count"] == 23
    assert cell["mean"] == float(np.mean(YEARS["a"]))


@RELAXED
@given(
    data=st.data(),
    values=st.lists(
        st.lists(st.integers(LOWEST + 1, HIGHEST), min_size=20, max_size=40), min_size=2, max_size=2
    ),
    base=st.sampled_from([3, 5, 10]),
)
def test_a_release_over_years_is_the_same_for_counts_that_round_alike(data, values, base):
    """People at the table's lowest year add to neither sum: for every number of them that
    keeps the published counts (the total's included), the whole release (means table,
    Welch's test, summary) is the same."""
    assume(len(set(values[0] + values[1])) >= 3)
    policy = DisclosurePolicy(rounding_base=base)
    lowest = [data.draw(st.integers(10, 30)) for _ in values]
    sizes = [len(v) + k for v, k in zip(values, lowest, strict=True)]
    moved = [
        data.draw(
            st.sampled_from(
                [other for other in candidates(rounded(size, base), base) if other - len(v) >= 10]
            )
        )
        - len(v)
        for size, v in zip(sizes, values, strict=True)
    ]
    assume(rounded(sum(len(v) for v in values) + sum(moved), base) == rounded(sum(sizes), base))
    outputs = [
        describe({g: v + [LOWEST] * k for g, v, k in zip("ab", values, ks, strict=True)}, policy)
        for ks in (lowest, moved)
    ]
    assert "welch" in outputs[0].statistics, outputs[0].withheld
    assert released(outputs[0]) == released(outputs[1])
