"""A mean's spread over a column of three values gives the people at each value (redteam9b).

The matched comparison published, beside each group's count and mean, the mean's 95% t-interval
(characteristics of numeric covariates, re-offences per 100 people) and, in the balance rows,
the SMD and variance ratio before and after matching: each gives the group's variance. Over a
column of three values (a risk tier 0/1/2, re-offences 0/1/2), count, mean and variance give
the number of people at each value, the middle one included, which the mean's own rule never
bounds. The attacker here solves those three equations from what was released.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from governance.analysis.engine.balance import BalanceRow
from governance.analysis.engine.disclosure import RULE_SPREAD, DisclosurePolicy, small_counts
from governance.analysis.engine.kinds import columns_needed, run_analysis
from governance.analysis.engine.kinds_base import RunContext
from governance.analysis.engine.kinds_matched import DEFAULT_COVARIATES
from governance.analysis.engine.matched_summary import describe_outcomes, outcome_tables
from governance.analysis.engine.matched_tables import (
    COMPARISON,
    TREATMENT,
    balance_rows_published,
    group_table,
)
from governance.analysis.engine.results import AnalysisResult
from governance.analysis.engine.synthetic import generate_dataset

POLICY = DisclosurePolicy()
TIERS = np.array([0.0, 1.0, 2.0])
RELAXED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def people_at_each_value(n: float, mean: float, variance: float) -> np.ndarray:
    """The attacker: count, mean and sample variance over the values 0, 1, 2."""
    squares = (n - 1) * variance + n * mean**2
    system = np.vstack([np.ones(3), TIERS, TIERS**2])
    return np.round(np.linalg.solve(system, [n, n * mean, squares]), 6)


def from_interval(values: dict) -> np.ndarray | None:
    """The people at each value a released group cell gives through its t-interval."""
    if values.get("ci_low") is None or values.get("ci_high") is None:
        return None
    n, mean = float(values["count"]), float(values["value"])
    half = (values["ci_high"] - values["ci_low"]) / 2
    variance = n * (half / stats.t.ppf(0.975, n - 1)) ** 2
    return people_at_each_value(n, mean, variance)


def unsafe(counts: np.ndarray | None, policy: DisclosurePolicy) -> bool:
    return counts is not None and bool(small_counts(counts, policy).any())


@pytest.fixture(scope="module")
def tiered():
    """A matched comparison balancing a risk tier (0/1/2) that only four people of the
    programme (and a few hundred of the register) have at its middle value."""
    dataset = generate_dataset(20_000, seed=1, programme_size=300)
    events = dataset.index_events
    tier = np.where(events["prior_custodial_sentences"].to_numpy() == 0, 0, 2)
    tier[np.random.default_rng(0).choice(len(events), 300, replace=False)] = 1
    tier[events["person_id"].isin(dataset.truth["participant_person_ids"][:4]).to_numpy()] = 1
    events["risk_tier"] = tier
    params = {
        "eligibility": {"data_complete_until": "2022-12-31"},
        "covariates": [*DEFAULT_COVARIATES, "risk_tier"],
    }
    read = columns_needed("matched_comparison", params)
    data = {table: getattr(dataset, table)[columns] for table, columns in read.items()}
    return run_analysis("matched_comparison", data, params, RunContext(POLICY))


def test_a_characteristics_interval_does_not_give_the_people_at_each_tier(tiered):
    treated = tiered.table("characteristics_risk_tier").table.cell(group=TREATMENT)
    assert not treated.suppressed  # the mean itself is safe: its implied counts are large
    assert not unsafe(from_interval(treated.values), POLICY), from_interval(treated.values)
    assert treated.values["ci_low"] is None
    assert RULE_SPREAD in treated.rules
    assert treated.values["value"] is not None


def test_a_balance_row_does_not_give_the_people_at_each_tier(tiered):
    """SMD before, the two means and the variance ratio give both variances before matching."""
    row = next(r for r in tiered.statistics["balance"] if r["term"] == "risk_tier")
    treated = tiered.table("characteristics_risk_tier").table.cell(group=TREATMENT)
    if not row["disclosure"]["suppressed"]:
        scale = (row["mean_treated_before"] - row["mean_control_before"]) / row["smd_before"]
        ratio = row["variance_ratio_before"]
        variance = 2 * scale**2 * ratio / (1 + ratio)
        counts = people_at_each_value(treated.values["count"], row["mean_treated_before"], variance)
        assert not unsafe(counts, POLICY), counts
    assert row["disclosure"] == {"suppressed": True, "rules": [RULE_SPREAD]}
    assert "risk_tier" in [r["term"] for r in tiered.figures["balance"]]


@RELAXED
@given(
    treated=st.lists(st.integers(0, 40), min_size=3, max_size=3),
    comparison=st.lists(st.integers(0, 40), min_size=3, max_size=3),
    min_cell_size=st.integers(3, 15),
    zeros_are_disclosive=st.booleans(),
)
def test_no_released_interval_gives_a_small_count(
    treated, comparison, min_cell_size, zeros_are_disclosive
):
    """Whatever the people at each of three values, a released group interval never gives a
    number under the agreement's minimum (nor a disclosive zero)."""
    policy = DisclosurePolicy(
        min_cell_size=min_cell_size, zeros_are_disclosive=zeros_are_disclosive
    )
    values_t, values_c = (np.repeat(TIERS, counts) for counts in (treated, comparison))
    # The reader knows the values the table is over; over two, the mean is a rate already.
    assume(len(values_t) >= 2 and len(values_c) >= 2 and len(set(values_t) | set(values_c)) == 3)
    table, figures = group_table("mean", values_t, values_c, np.ones(len(values_c)), policy)
    for cell in table.cells:
        if cell.labels["group"] in (TREATMENT, COMPARISON) and not cell.suppressed:
            assert not unsafe(from_interval(cell.values), policy), (cell, treated, comparison)
            shown = cell.values["ci_low"] is not None
            assert shown == (cell.labels["group"] in figures)


def test_an_interval_over_three_values_is_kept_when_every_count_is_safe():
    values = np.repeat(TIERS, [20, 12, 30])
    table, figures = group_table("mean", values, values, np.ones(len(values)), POLICY)
    assert all(table.cell(group=g).values["ci_low"] is not None for g in (TREATMENT, COMPARISON))
    assert set(figures) == {TREATMENT, COMPARISON}
    row = BalanceRow("tier", "tier", False, 1.2, 1.2, 0.0, 1.0, 1.2, 1.2, 0.0, 1.0)
    column = np.concatenate([values, values])[:, None]
    treated = np.array([True] * len(values) + [False] * len(values))
    kept = balance_rows_published([row], column, treated, ~treated, treated, ~treated, POLICY)[0]
    assert kept["disclosure"] == {"suppressed": False, "rules": []}


def test_the_outcome_test_is_withheld_with_its_interval():
    """Re-offences 0/1/2 with four treated people at 1: the Welch or Abadie-Imbens standard
    error gives the treated variance as the interval would, so the comparison is withheld."""
    from governance.analysis.engine.att import compare_outcomes
    from governance.analysis.engine.kinds_matched import OUTCOMES

    rng = np.random.default_rng(1)
    reoffences = np.concatenate([np.repeat(TIERS, [30, 4, 26]), np.repeat(TIERS, [25, 15, 20])])
    matched = pd.DataFrame(
        {
            "treated": [1] * 60 + [0] * 60,
            "reoffences": reoffences,
            "reoffended": (reoffences > 0).astype(float),
            "days_to_first_reoffence": np.where(reoffences > 0, rng.uniform(10, 300, 120), np.nan),
        }
    )
    weights = np.ones(len(matched))
    tables, figures = outcome_tables(matched, weights, POLICY)
    result = AnalysisResult(kind="matched_comparison", parameters={})
    result.tables += tables
    is_treated = matched["treated"].to_numpy() == 1
    describe_outcomes(result, figures, compare_outcomes(matched, OUTCOMES, is_treated, weights))
    assert "reoffence_frequency" not in result.statistics
    assert "reoffence_frequency" in result.withheld
    assert "reoffence_frequency" not in result.figures["outcomes"]
    assert "reoffending_rate" in result.statistics  # the rate's test rests on safe counts
