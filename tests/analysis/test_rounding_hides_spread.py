"""Under rounding, a spread does not give an exact count back (rounding10).

After rounding9 a mean over a numeric column was released as its exact sum S over the rounded
count, but the figures that print its variance (Welch's test, a group's t-interval, a balance
row's SMD and variance ratio) used each group's exact size. Over whole numbers the sum of
squares Q is whole, and the variance v = (Q - S^2 / n) / (n - 1): the attacker tries each count
n in the published count's rounding interval and keeps those for which v (n - 1) + S^2 / n is
whole. On the earlier code that singles out the exact count. Now a spread comes from S, Q and
the published count only (``disclosure.published_variance``), so a release is the same for every
count that rounds alike, and the properties below check it for the whole output.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from governance.analysis.engine.balance import balance_table
from governance.analysis.engine.disclosure import DisclosurePolicy
from governance.analysis.engine.encoding import EncodedCovariates
from governance.analysis.engine.kinds import run_analysis
from governance.analysis.engine.matched_tables import balance_rows_published, group_table
from tests.analysis.test_rounding_recovers_nothing import (
    RELAXED,
    ROUNDED,
    candidates,
    cells_of,
    declared,
    records,
    released,
    rounded,
)

# Whole-number ages of 23 people (published as 25) and 37 (published as 35).
AGES = np.random.default_rng(10).integers(18, 61, 60).tolist()


def sizes_with_whole_squares(mean: float, variance: float, published: int) -> list[int]:
    """The counts in the published count's rounding interval (base 5) for which the sum of
    squares the released mean and variance imply, v (n - 1) + S^2 / n, is whole, S being the
    (whole) sum the mean over the published count gives."""
    total = round(mean * published)
    kept = []
    for n in candidates(published, 5):
        squares = variance * (n - 1) + total * total / n
        if n > 1 and abs(squares - round(squares)) < 1e-4:
            kept.append(n)
    return kept


def frame(values: dict[str, list[int]]) -> pd.DataFrame:
    rows = [{"g": group, "score": value} for group, scores in values.items() for value in scores]
    data = pd.DataFrame(rows)
    data.insert(0, "person_id", [f"p{i}" for i in range(len(data))])
    return data


def describe(values: dict[str, list[int]], policy: DisclosurePolicy) -> Any:
    data = {"records": frame(values)}
    return run_analysis(
        "descriptive", data, {"group_by": ["g"], "mean_of": "score"}, declared(policy, data)
    )


def welch_variances(welch: dict[str, Any]) -> list[float]:
    """Group 1's variance from Welch's standard error and degrees of freedom over the
    published sizes: share s of the squared SE solves s^2 / (n_1 - 1) + (1 - s)^2 / (n_2 - 1)
    = 1 / df; both roots are kept."""
    a, b = 1 / (welch["n_1"] - 1), 1 / (welch["n_2"] - 1)
    squared = welch["standard_error"] ** 2
    root = math.sqrt(max(b * b - (a + b) * (b - 1 / welch["df"]), 0.0))
    return [(b + sign * root) / (a + b) * squared * welch["n_1"] for sign in (1, -1)]


def test_welch_over_whole_numbers_does_not_give_the_exact_count():
    result = describe({"a": AGES[:23], "b": AGES[23:]}, ROUNDED)
    welch = result.statistics["welch"]
    assert (welch["n_1"], welch["n_2"]) == (25, 35)
    found = {
        n
        for variance in welch_variances(welch)
        for n in sizes_with_whole_squares(welch["mean_1"], variance, 25)
    }
    # On the earlier code the variance was group a's own: only 23 makes Q whole.
    assert found != {23}
    assert cells_of(result, "means")["a"]["mean"] == welch["mean_1"]


def test_a_groups_interval_does_not_give_the_exact_count():
    """The matched comparison's mean tables print a t-interval beside the published count."""
    table, _ = group_table(
        "mean", np.array(AGES[:23], float), np.array(AGES[23:], float), np.ones(37), ROUNDED
    )
    cell = table.cell(group="treatment").values
    assert (cell["count"], cell["effective_n"]) == (25, 25)
    half = (cell["ci_high"] - cell["ci_low"]) / 2
    variance = (half / scipy_stats.t.ppf(0.975, 24)) ** 2 * 25
    assert sizes_with_whole_squares(cell["value"], variance, 25) != [23]


def test_welch_over_two_values_is_the_same_for_counts_that_round_alike():
    """A mean of a 0/1 column is a rate: its variance p (1 - p) n / (n - 1) over the exact
    share and size gave both back through Welch's standard error. 10 of 23 and 11 of 24 in
    group a (with 15 of 37 in b) publish the same counts, the total's included."""
    tables = [{"records": records({"a": a, "b": (37, 15)})} for a in ((23, 10), (24, 11))]
    outputs = [
        released(
            run_analysis(
                "descriptive", data, {"group_by": ["g"], "mean_of": "flag"}, declared(ROUNDED, data)
            )
        )
        for data in tables
    ]
    assert '"welch"' in outputs[0]
    assert outputs[0] == outputs[1]


def test_a_spread_over_three_values_is_withheld_under_rounding():
    """Over 0, 1, 2 the released sum S and sum of squares Q give the people at 1 and 2
    exactly (2S - Q and (Q - S) / 2) whatever the count: counts rounding hides. Each value
    here is held by at least 11 people, so without rounding the test goes out."""
    scores = {"a": [0] * 12 + [1] * 11 + [2] * 13, "b": [0] * 14 + [1] * 15 + [2] * 11}
    result = describe(scores, ROUNDED)
    assert "welch" not in result.statistics
    assert "rounds counts" in result.withheld["welch"]
    assert "welch" in describe(scores, DisclosurePolicy()).statistics
    table, _ = group_table(
        "mean", np.array(scores["a"], float), np.array(scores["b"], float), np.ones(40), ROUNDED
    )
    cell = table.cell(group="treatment")
    assert cell.values["ci_low"] is None
    assert "spread" in cell.rules


def numeric_column(treated: list[int], pool: list[int], zeros: int) -> np.ndarray:
    """A whole-number column over 30 treated and a pool (``pool`` then ``zeros`` people at 0);
    the pool's first 30 are the matched controls."""
    return np.array(treated + pool + [0] * zeros, dtype=float)[:, None]


def numeric_row(column: np.ndarray, policy: DisclosurePolicy) -> dict[str, Any]:
    rows = np.arange(len(column))
    is_treated, controls = rows < 30, (rows >= 30) & (rows < 60)
    encoded = EncodedCovariates(
        matrix=column, names=["age"], sources=["age"], levels={}, binary=[False], reference=[False]
    )
    weights = np.where(controls, 1.0, 0.0)[~is_treated]
    table = balance_table(encoded, is_treated.astype(int), np.ones(30), weights)
    return balance_rows_published(
        table, column, is_treated, ~is_treated, is_treated, controls, policy
    )[0]


def test_a_numeric_balance_row_does_not_give_the_pool_its_exact_size():
    """The pool's size is published nowhere; its mean is S over the published 400, and the
    SMD and variance ratio before matching give both groups' variances."""
    rng = np.random.default_rng(11)
    column = numeric_column(
        rng.integers(18, 40, 30).tolist(), rng.integers(18, 61, 300).tolist(), 101
    )
    row = numeric_row(column, ROUNDED)
    assert not row["disclosure"]["suppressed"]
    scale = (row["mean_treated_before"] - row["mean_control_before"]) / row["smd_before"]
    pool_variance = 2 * scale**2 / (1 + row["variance_ratio_before"])
    # On the earlier code: only the pool's exact 401 makes its sum of squares whole.
    assert sizes_with_whole_squares(row["mean_control_before"], pool_variance, 400) != [401]


def added_alike(data: Any, values: list[list[int]], base: int) -> tuple[list[int], list[int]]:
    """Two numbers of people to add to each group (at a value that adds to neither sum), each
    at least 10, that give the same published counts, the total's included."""
    added = [data.draw(st.integers(10, 30)) for _ in values]
    sizes = [len(v) + k for v, k in zip(values, added, strict=True)]
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
    return added, moved


@RELAXED
@given(
    data=st.data(),
    values=st.lists(st.lists(st.integers(1, 30), min_size=20, max_size=40), min_size=2, max_size=2),
    base=st.sampled_from([3, 5, 10]),
)
def test_means_and_welch_are_the_same_for_counts_that_round_alike(data, values, base):
    """People at 0 change a group's count and neither its sum nor its sum of squares: for
    every number of them that keeps the published counts (the total's included), the whole
    release (the means table, Welch's test, the summary) is the same."""
    # Four values or more (with 0): over three, the test is withheld when a count is small.
    assume(len(set(values[0] + values[1])) >= 3)
    policy = DisclosurePolicy(rounding_base=base)
    outputs = [
        describe({g: v + [0] * z for g, v, z in zip("ab", values, counts, strict=True)}, policy)
        for counts in added_alike(data, values, base)
    ]
    assert "welch" in outputs[0].statistics, outputs[0].withheld
    assert released(outputs[0]) == released(outputs[1])


@RELAXED
@given(
    base=st.sampled_from([3, 5, 10]),
    treated=st.lists(st.integers(0, 40), min_size=30, max_size=30),
    pool=st.lists(st.integers(0, 60), min_size=60, max_size=200),
    zeros=st.integers(1, 40),
)
def test_a_numeric_balance_row_is_the_same_for_pools_that_round_alike(base, treated, pool, zeros):
    """One more person at 0 in the pool where its published size stays the same: the
    released row (means, SMDs, variance ratios) is the same."""
    size = len(pool) + zeros
    assume(rounded(size, base) == rounded(size + 1, base))
    policy = DisclosurePolicy(rounding_base=base, min_cell_size=3, zeros_are_disclosive=False)
    first = numeric_row(numeric_column(treated, pool, zeros), policy)
    second = numeric_row(numeric_column(treated, pool, zeros + 1), policy)
    assume(not first["disclosure"]["suppressed"] and not second["disclosure"]["suppressed"])
    assert first == second


def test_without_rounding_a_spread_is_the_groups_own():
    result = describe({"a": AGES[:23], "b": AGES[23:]}, DisclosurePolicy())
    welch = result.statistics["welch"]
    first, second = np.array(AGES[:23], float), np.array(AGES[23:], float)
    expected = math.sqrt(first.var(ddof=1) / 23 + second.var(ddof=1) / 37)
    assert welch["n_1"] == 23
    assert math.isclose(welch["standard_error"], expected, rel_tol=1e-12)
