"""A mean over a column of few values is a rate in disguise: the counts of people it implies
are held to the rate rule (docs/decisions/analysis-disclosure.md, "Means are rates too")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from governance.analysis.engine.balance import BalanceRow
from governance.analysis.engine.disclosure import (
    ABOVE_LOWEST,
    BELOW_HIGHEST,
    RULE_THRESHOLD,
    TOTAL_LABEL,
    DisclosurePolicy,
    ValueDomain,
    control_table,
)
from governance.analysis.engine.kinds import columns_needed, run_analysis
from governance.analysis.engine.kinds_base import RunContext
from governance.analysis.engine.matched_tables import (
    COMPARISON,
    TREATMENT,
    balance_rows_published,
    group_table,
)
from governance.analysis.engine.synthetic import generate_dataset
from governance.analysis.engine.tabulation import aggregate_cells, control_means, control_rates

RELAXED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
POLICY = DisclosurePolicy()

# The tester's runs (explore6 F2): the demo's Index events (50,000 people, seed 2026), under
# agreement DUA-2026-001 (minimum cell size 10, three offence categories excluded).
DEMO_EXCLUDED = ["sexual", "domestic_violence", "terrorism"]
BY = ["ethnicity", "offence_category", "region"]


def implied(
    count: float, mean: float | None, low: float = 0.0, high: float = 1.0
) -> tuple[int, int]:
    """The counts of people at the low and at the high value a released two-valued mean gives
    (an empty cell, released where zeros are not disclosive, has no mean)."""
    if mean is None:
        return 0, 0
    at_high = round(count * (mean - low) / (high - low))
    return round(count) - at_high, at_high


@pytest.fixture(scope="module")
def demo_records() -> pd.DataFrame:
    return generate_dataset(50_000, seed=2026, programme_size=1000).index_events


def descriptive(records: pd.DataFrame, params: dict, policy: DisclosurePolicy = POLICY):
    params = {"group_by": BY, "excluded_offence_categories": DEMO_EXCLUDED, **params}
    read = columns_needed("descriptive", params)
    return run_analysis(
        "descriptive", {"records": records[read["records"]]}, params, RunContext(policy)
    )


@pytest.mark.slow
def test_the_testers_mean_of_employed_releases_no_small_count(demo_records):
    """Fails on main: 21 released cells implied 1 to 9 people employed or not employed, e.g.
    (other, fraud, london) count 12 mean 0.5, which the rate table suppresses."""
    means = descriptive(demo_records, {"mean_of": "employed"}).table("means").table
    for cell in means.cells:
        if cell.suppressed:
            continue
        for part in implied(cell.values["count"], cell.values["mean"]):
            assert part >= 10, (cell.labels, cell.values)
    for labels, parts in (
        (("other", "fraud", "london"), (6, 6)),
        (("other", "fraud", "south"), (4, 9)),
        (("unknown", "motoring", "wales"), (6, 16)),
    ):
        cell = means.cell(**dict(zip(BY, labels, strict=True)))
        assert cell.suppressed
        assert RULE_THRESHOLD in cell.rules
        assert (cell.raw[BELOW_HIGHEST], cell.raw[ABOVE_LOWEST]) == parts


@pytest.mark.slow
def test_a_mean_of_a_0_1_column_is_suppressed_where_its_rate_is(demo_records):
    """One run with rate_of and mean_of the same column: the same primary rule fires on the
    same cells, and the tables are linked (the mean's implied events are the rate's events),
    so the one cannot give back what the other hides."""
    result = descriptive(demo_records, {"rate_of": "employed", "mean_of": "employed"})
    rates, means = result.table("rates"), result.table("means")
    assert means.quantities() == {"count": "count", ABOVE_LOWEST: "events:employed"}
    for rate, mean in zip(rates.table.cells, means.table.cells, strict=True):
        assert rate.labels == mean.labels
        assert (RULE_THRESHOLD in rate.rules) == (RULE_THRESHOLD in mean.rules), rate.labels
        assert rate.suppressed == mean.suppressed, rate.labels
        if not mean.suppressed:
            assert mean.values["mean"] == pytest.approx(rate.values["rate"])


def two_code_data() -> pd.DataFrame:
    groups = {
        # group: (people at code 1, people at code 2)
        "a": (6, 6),  # 12 people: 6 and 6, both under 10
        "b": (15, 15),
        "c": (25, 5),  # 5 at code 2
        "d": (20, 0),  # everyone shares code 1
        "e": (12, 14),
    }
    rows = [(g, code) for g, (ones, twos) in groups.items() for code in [1] * ones + [2] * twos]
    return pd.DataFrame(rows, columns=["g", "code"])


def test_a_two_code_column_is_held_to_the_rate_rule():
    table = control_means(two_code_data(), ["g"], "code", POLICY)
    assert table.cell(g="a").rules == [RULE_THRESHOLD]
    assert table.cell(g="c").rules == [RULE_THRESHOLD]
    assert table.cell(g="b").values == {"count": 30, "mean": 1.5}
    assert table.cell(g="e").values["mean"] == pytest.approx(40 / 26)
    assert table.cell(g="a").raw == {"count": 12.0, ABOVE_LOWEST: 6.0, BELOW_HIGHEST: 6.0}


def test_a_cell_whose_people_share_one_value_follows_the_zero_rule():
    """Everyone in the cell at one of two values is a rate of 0 or 1: suppressed when zeros
    are disclosive (the rate rule's default), released otherwise."""
    strict = control_means(two_code_data(), ["g"], "code", POLICY)
    assert strict.cell(g="d").rules == [RULE_THRESHOLD]
    relaxed = DisclosurePolicy(zeros_are_disclosive=False)
    loose = control_means(two_code_data(), ["g"], "code", relaxed)
    assert loose.cell(g="d").values == {"count": 20, "mean": 1.0}
    assert loose.cell(g="c").rules == [RULE_THRESHOLD]  # 5 is still under 10


def test_a_column_of_one_value_or_stored_as_booleans():
    """A column with a single value in the table: every cell says everyone shares it. A column
    stored as booleans has the domain {0, 1} even when it holds only True."""
    data = pd.DataFrame({"g": ["a"] * 20 + ["b"] * 30, "flag": [True] * 50})
    for column in (data["flag"], data["flag"].astype(int) * 7):
        frame = data.assign(flag=column)
        table = control_means(frame, ["g"], "flag", POLICY)
        assert all(cell.rules == [RULE_THRESHOLD] for cell in table.cells)
        loose = control_means(frame, ["g"], "flag", DisclosurePolicy(zeros_are_disclosive=False))
        assert not any(cell.suppressed for cell in loose.cells)
    assert ValueDomain.of(data["flag"], boolean=True).values == (0.0, 1.0)
    assert ValueDomain.of(data["flag"]).values == (1.0,)


def test_a_mean_close_to_an_end_of_a_few_valued_column_gives_a_small_count():
    """Over {0, 1, 2} (e.g. prior offences capped), 40 people with a sum of 3 are at most 3
    people above 0: the rate rule's events; a sum far from both ends says nothing small."""
    rows = [("a", v) for v in [1, 1, 1] + [0] * 37]
    rows += [("b", v) for v in [0] * 20 + [2] * 20]
    rows += [("c", v) for v in [2] * 36 + [1] * 4]  # 4 below the highest value
    data = pd.DataFrame(rows, columns=["g", "v"])
    table = control_means(data, ["g"], "v", POLICY)
    assert table.cell(g="a").rules == [RULE_THRESHOLD]
    assert table.cell(g="c").rules == [RULE_THRESHOLD]
    assert table.cell(g="b").values == {"count": 40, "mean": 1.0}


def test_means_of_continuous_values_are_released_as_before():
    rng = np.random.default_rng(3)
    data = pd.DataFrame(
        {"g": np.repeat(["a", "b", "c"], 30), "v": rng.normal(100.0, 15.0, size=90)}
    )
    table = control_means(data, ["g"], "v", POLICY)
    assert not any(cell.suppressed for cell in table.cells)
    assert table.cell(g="a").values["mean"] == pytest.approx(data["v"][:30].mean())


def test_values_a_hair_apart_give_huge_bounds_not_an_overflow():
    # Found by hypothesis on Python 3.12 (test_disclosure's dominance property): a second
    # lowest value 1e-303 above the lowest makes the bound about 1e303, and rounding it to six
    # places overflowed (a warning, an error under the suite's filters, a failed run).
    domain = ValueDomain.from_values([0.0, 1e-303, 5.0, 1e6])
    above, below = domain.implied_counts(np.array([3.0, 40.0]), np.array([1.0, 3.0]))
    assert above.tolist() == pytest.approx([1e303, 3e303])  # not small: nothing to hide
    # (n * highest - sum) / (highest - second highest), rounded to six places as before.
    assert below.tolist() == [3.000014, 40.000197]
    data = pd.DataFrame({"g": ["a"] * 12 + ["b"] * 12, "v": [0.0, 1e-303] * 12})
    table = control_means(data, ["g"], "v", POLICY)
    # Two values: a rate, six people at each, under the minimum.
    assert table.cell(g="a").suppressed


def test_a_mean_table_without_its_implied_counts_is_refused():
    cells = aggregate_cells(two_code_data(), ["g"], value_column="code")
    with pytest.raises(ValueError, match="imply"):
        control_table(cells, ["g"], "mean", POLICY)


def test_a_hidden_implied_count_needs_a_complement():
    """One group of few people at the high code: its complement keeps the margin from giving
    back its count and its mean."""
    data = pd.DataFrame(
        {
            "g": ["a"] * 40 + ["b"] * 40 + ["c"] * 40,
            "v": [2] * 3 + [1] * 37 + [2] * 20 + [1] * 20 + [2] * 15 + [1] * 25,
        }
    )
    table = control_means(data, ["g"], "v", POLICY)
    assert table.cell(g="a").rules == [RULE_THRESHOLD]
    assert sum(cell.suppressed for cell in table.cells) >= 2


codes = st.sampled_from([(0.0, 1.0), (1.0, 2.0), (-1.0, 3.5), (10.0, 20.0)])
two_valued = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["u", "v"]), st.booleans()),
    min_size=1,
    max_size=150,
)


@RELAXED
@given(two_valued, codes, st.integers(1, 12), st.booleans())
def test_released_means_of_two_values_imply_only_safe_counts(rows, pair, minimum, zeros):
    """Whatever the two values and the policy: a released mean's two implied counts are each
    at least the minimum cell size (or zero, where zeros are not disclosive), exactly as the
    rate table of the same people would publish them."""
    low, high = pair
    data = pd.DataFrame([(g, h, high if up else low) for g, h, up in rows], columns=["g", "h", "v"])
    policy = DisclosurePolicy(min_cell_size=minimum, zeros_are_disclosive=zeros)
    means = control_means(data, ["g", "h"], "v", policy)
    rates = control_rates(data.assign(e=(data["v"] == high).astype(int)), ["g", "h"], "e", policy)
    for mean, rate in zip(means.cells, rates.cells, strict=True):
        assert (RULE_THRESHOLD in mean.rules) == (RULE_THRESHOLD in rate.rules)
        if mean.suppressed:
            continue
        for part in implied(mean.values["count"], mean.values["mean"], low, high):
            assert part >= minimum or (part == 0 and not zeros), (mean.labels, mean.values)


@RELAXED
@given(two_valued)
def test_no_hidden_implied_count_is_recoverable_from_the_released_means(rows):
    """An attacker who knows the two codes solves the released counts and means (count and
    people at the high code of every released cell, additive along every line, each cell's
    high count between 0 and its count) for each hidden cell: none is pinned exactly."""
    data = pd.DataFrame([(g, h, 2 if up else 1) for g, h, up in rows], columns=["g", "h", "v"])
    table = control_means(data, ["g", "h"], "v", POLICY)
    hidden = [i for i, cell in enumerate(table.cells) if cell.suppressed]
    if not hidden:
        return
    slot = {position: k for k, position in enumerate(hidden)}
    size = 2 * len(hidden)  # per hidden cell: its count, then its people at the high code
    equations, rhs = [], []
    lines: dict[tuple[str, str], list[int]] = {}
    for position, cell in enumerate(table.cells):
        for dim in ("g", "h"):
            other = "h" if dim == "g" else "g"
            lines.setdefault((other, cell.labels[other]), []).append(position)
    for (other, _), members in lines.items():
        dim = "g" if other == "h" else "h"
        total = [p for p in members if table.cells[p].labels[dim] == TOTAL_LABEL]
        levels = [p for p in members if table.cells[p].labels[dim] != TOTAL_LABEL]
        for offset in (0, 1):
            row, constant = np.zeros(size), 0.0
            for sign, positions in ((1.0, levels), (-1.0, total)):
                for p in positions:
                    if p in slot:
                        row[2 * slot[p] + offset] += sign
                    else:
                        values = table.cells[p].values
                        count = float(values["count"])
                        known = count if offset == 0 else count * (values["mean"] - 1.0)
                        constant += sign * known
            equations.append(row)
            rhs.append(-constant)
    # Each hidden cell's high count lies between 0 and its count.
    upper = np.zeros((len(hidden), size))
    for k in range(len(hidden)):
        upper[k, 2 * k + 1], upper[k, 2 * k] = 1.0, -1.0
    bounds = [(0, None)] * size
    for k in range(len(hidden)):
        high_count = np.zeros(size)
        high_count[2 * k + 1] = 1.0
        low_count = np.zeros(size)
        low_count[2 * k], low_count[2 * k + 1] = 1.0, -1.0
        for target, objective in (("high", high_count), ("low", low_count)):
            ranges = []
            for sign in (1.0, -1.0):
                found = linprog(
                    sign * objective,
                    A_ub=upper,
                    b_ub=np.zeros(len(hidden)),
                    A_eq=np.array(equations),
                    b_eq=np.array(rhs),
                    bounds=bounds,
                    method="highs",
                )
                assert found.status in (0, 3)
                ranges.append(np.inf if found.status == 3 else sign * float(found.fun))
            low, high = ranges
            assert high - low > 1e-6, (table.cells[hidden[k]].labels, target)


def test_a_matched_mean_of_a_0_1_covariate_is_held_to_the_rate_rule():
    """The characteristics of a numeric 0/1 covariate (group_table "mean"): 12 treated people,
    6 of them with it, is a rate of 6 / 12."""
    treated = np.array([1.0] * 6 + [0.0] * 6)
    comparison = np.array([1.0] * 30 + [0.0] * 30)
    table, figures = group_table("mean", treated, comparison, np.ones(60), POLICY)
    cell = table.cell(group=TREATMENT)
    assert cell.suppressed
    assert RULE_THRESHOLD in cell.rules
    assert TREATMENT not in figures
    assert RULE_THRESHOLD not in table.cell(group=COMPARISON).rules


def test_a_balance_row_of_two_codes_is_held_to_the_rate_rule():
    """A numeric covariate of two codes (1, 2) is not "binary" to the balance table, yet its
    group means give counts of people: 4 treated people at code 2 is withheld."""
    column = np.array([2.0] * 4 + [1.0] * 26 + [2.0] * 30 + [1.0] * 30)
    treated = np.array([True] * 30 + [False] * 60)
    row = BalanceRow("code", "code", False, 1.13, 1.5, -0.7, None, 1.13, 1.5, -0.7, None)
    published = balance_rows_published(
        [row], column[:, None], treated, ~treated, treated, ~treated, POLICY
    )[0]
    assert published["disclosure"] == {"suppressed": True, "rules": [RULE_THRESHOLD]}
    assert published["mean_treated_before"] is None
    safe = np.array([2.0] * 15 + [1.0] * 15 + [2.0] * 30 + [1.0] * 30)
    kept = balance_rows_published(
        [row], safe[:, None], treated, ~treated, treated, ~treated, POLICY
    )[0]
    assert kept["disclosure"] == {"suppressed": False, "rules": []}


def test_the_means_population_is_recorded_like_the_rates():
    """The differencing ledger sees the people behind the means table as it sees the rate
    table's: the records (cell by cell), or, when some lack a value, those with one."""
    records = pd.DataFrame(
        {
            "person_id": [f"p{i}" for i in range(60)],
            "g": ["a"] * 30 + ["b"] * 30,
            "flag": [1.0, 0.0] * 25 + [None] * 10,
        }
    )
    params = {"group_by": ["g"], "rate_of": "flag", "mean_of": "flag"}
    whole = records.assign(flag=records["flag"].fillna(1.0))
    result = run_analysis("descriptive", {"records": whole}, params, RunContext(POLICY))
    assert [p.label for p in result.populations] == ["records"]
    assert result.table("means").population == result.table("rates").population == "records"
    params = {"group_by": ["g"], "mean_of": "flag"}
    result = run_analysis("descriptive", {"records": records}, params, RunContext(POLICY))
    with_value = result.populations[1]
    assert with_value.label == result.table("means").population == "records with flag"
    assert with_value.size == 50
    assert with_value.cells is not None


def three_values(at_two: int) -> pd.DataFrame:
    values = [0] * 20 + [1] * 15 + [2] * at_two + [0] * 20 + [1] * 20 + [2] * 20
    groups = ["a"] * (35 + at_two) + ["b"] * 60
    return pd.DataFrame(
        {"person_id": [f"p{i}" for i in range(len(values))], "g": groups, "score": values}
    )


def test_welch_over_three_values_is_withheld_when_it_gives_a_small_count():
    """Welch's standard error and degrees of freedom give each group's variance; with the count
    and the mean that is the number of people at each of three values: 5 at the top value."""
    params = {"group_by": ["g"], "mean_of": "score"}
    result = run_analysis("descriptive", {"records": three_values(5)}, params, RunContext(POLICY))
    means = result.table("means").table
    assert not means.cell(g="a").suppressed
    assert not means.cell(g="b").suppressed
    assert "welch" not in result.statistics
    assert "three values" in result.withheld["welch"]
    safe = run_analysis("descriptive", {"records": three_values(12)}, params, RunContext(POLICY))
    assert safe.statistics["welch"]["n_1"] == 47
