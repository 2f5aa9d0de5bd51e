"""The balance table's comparison pool and "before less after" (pool9).

The matched comparison's balance rows publish each covariate's mean before matching over the
comparison pool. The pool's size is published nowhere, but the pool's means over 0/1 columns
(sex, employed, every category level) are exact fractions k / N_pool in full precision in the
API and CSV: the least common multiple of their denominators gives N_pool. With it, a pool
mean is a count of people, and a numeric row's SMD and variance ratio give the pool's variance:
over three values, the people at each. The pool's "before" figures were not checked at all.

Likewise the treated people without a comparison person: before matching the treated means are
over all of them, after over the matched ones, and the cohort flow publishes both sizes, so
before less after described, level by level, the treated people matching left out (one woman
among 13). The engine already left them out of "before" when they were fewer than the minimum
cell size; now it does whenever the difference would break the rules.
"""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from governance.analysis.engine.balance import BalanceRow
from governance.analysis.engine.disclosure import (
    RULE_SPREAD,
    RULE_THRESHOLD,
    DisclosurePolicy,
    small_counts,
)
from governance.analysis.engine.kinds import columns_needed, run_analysis
from governance.analysis.engine.kinds_base import RunContext
from governance.analysis.engine.kinds_matched import DEFAULT_COVARIATES
from governance.analysis.engine.matched_tables import balance_rows_published
from governance.analysis.engine.synthetic import generate_dataset

POLICY = DisclosurePolicy()
TIERS = np.array([0.0, 1.0, 2.0])
RELAXED = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def pool_size(rows: list[dict]) -> int:
    """The attacker: the pool's means over 0/1 columns are k / N_pool, exactly as floats."""
    denominators = [
        Fraction(row["mean_control_before"]).limit_denominator(10**7).denominator
        for row in rows
        if row["binary"] and row["mean_control_before"] is not None
    ]
    return math.lcm(*denominators)


def pool_at_each_tier(row: dict, n: int) -> np.ndarray:
    """Count, mean and variance (from the SMD before and the variance ratio) over 0, 1, 2."""
    scale = (row["mean_treated_before"] - row["mean_control_before"]) / row["smd_before"]
    variance = 2 * scale**2 / (1 + row["variance_ratio_before"])
    mean = row["mean_control_before"]
    squares = (n - 1) * variance + n * mean**2
    system = np.vstack([np.ones(3), TIERS, TIERS**2])
    return np.round(np.linalg.solve(system, [n, n * mean, squares]), 6)


def _run(dataset, params: dict, policy: DisclosurePolicy = POLICY):
    params = {"eligibility": {"data_complete_until": "2022-12-31"}, **params}
    read = columns_needed("matched_comparison", params)
    data = {table: getattr(dataset, table)[columns] for table, columns in read.items()}
    return run_analysis("matched_comparison", data, params, RunContext(policy))


@pytest.fixture(scope="module")
def dataset():
    return generate_dataset(20_000, seed=1, programme_size=300)


@pytest.fixture(scope="module")
def middle_tier(dataset):
    """A risk tier 0/2 for everyone but two people of the register's pool, at 1."""
    events = dataset.index_events.copy()
    participants = events["person_id"].isin(dataset.truth["participant_person_ids"]).to_numpy()
    tier = np.where(events["prior_custodial_sentences"].to_numpy() == 0, 0, 2)
    tier[np.flatnonzero(~participants)[[5, 500]]] = 1
    events["risk_tier"] = tier
    tiered = replace(dataset, index_events=events)
    return _run(tiered, {"covariates": [*DEFAULT_COVARIATES, "risk_tier"]})


def test_the_pool_before_matching_does_not_give_two_people_at_a_middle_tier(middle_tier):
    """On main the row was released and the attacker found exactly 2 pool members at tier 1."""
    rows = middle_tier.statistics["balance"]
    n = pool_size(rows)
    row = next(r for r in rows if r["term"] == "risk_tier")
    if not row["disclosure"]["suppressed"]:
        counts = pool_at_each_tier(row, n)
        assert not small_counts(counts, POLICY).any(), (n, counts)
    assert row["disclosure"] == {"suppressed": True, "rules": [RULE_SPREAD]}
    # The rest of the table is still out, and the pool's size still derivable from it.
    assert not next(r for r in rows if r["term"] == "age_at_index")["disclosure"]["suppressed"]
    assert n > 10_000


def test_before_less_after_does_not_describe_the_unmatched_treated(dataset):
    """A narrow caliper leaves 13 treated people without a comparison person; the flow
    publishes 13 and the matched count, and on main before less after gave 1 woman among them."""
    result = _run(dataset, {"matching": {"caliper": 0.002}})
    flow = {
        cell.labels["stage"]: cell.values["count"]
        for cell in result.table("cohort_flow").table.cells
    }
    after, left_out = flow["in_treatment_group"], flow["no_control_within_caliper"]
    assert left_out is not None
    assert left_out >= POLICY.min_cell_size
    for row in result.statistics["balance"]:
        if row["binary"] and not row["disclosure"]["suppressed"]:
            held = (
                row["mean_treated_before"] * (after + left_out) - row["mean_treated_after"] * after
            )
            described = np.array([held, left_out - held])
            # Either the subtraction is not a count of the left-out people, or it is a safe one.
            integral = np.allclose(described, np.round(described), atol=1e-6)
            assert not (integral and small_counts(np.round(described), POLICY).any()), row
    for row in result.statistics["balance"]:
        if not row["disclosure"]["suppressed"]:
            assert row["mean_treated_before"] == pytest.approx(row["mean_treated_after"])
    assert any("left out of it" in note for note in result.notes)


def test_a_few_unmatched_treated_are_left_out_of_before_as_before(dataset):
    """The case the decision record describes (1 to min_cell_size - 1 left out): kept."""
    result = _run(dataset, {"matching": {"caliper": 0.005}})
    assert any("left out of it" in note for note in result.notes)
    for row in result.statistics["balance"]:
        if not row["disclosure"]["suppressed"]:
            assert row["mean_treated_before"] == pytest.approx(row["mean_treated_after"])


def flag_column(
    treated: int, pool: int, matched: int, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 0/1 column over 30 treated (``treated`` with it, all matched) and a pool of ``size``
    (``pool`` with it, ``matched`` of them among its first 30, the matched controls), with
    the treated rows and the matched controls' rows."""
    t_values = np.array([1.0] * treated + [0.0] * (30 - treated))
    chosen = np.array([1.0] * matched + [0.0] * (30 - matched))
    rest = np.array([1.0] * (pool - matched) + [0.0] * (size - 30 - (pool - matched)))
    column = np.concatenate([t_values, chosen, rest])[:, None]
    rows = np.arange(len(column))
    return column, rows < 30, (rows >= 30) & (rows < 60)


def _published(treated: int, pool: int, matched: int, policy: DisclosurePolicy, size: int = 400):
    """One 0/1 balance row over ``flag_column``'s groups."""
    column, is_treated, matched_controls = flag_column(treated, pool, matched, size)
    row = BalanceRow("flag", "flag", True, 0.5, 0.01, 1.0, None, 0.5, 0.1, 1.0, None)
    return balance_rows_published(
        [row], column, is_treated, ~is_treated, is_treated, matched_controls, policy
    )[0]


def test_a_pool_level_held_by_three_is_withheld_where_zeros_are_not_disclosive():
    """No matched control has it, so only the pool's mean (3 / N_pool) said 3 (main released)."""
    policy = DisclosurePolicy(zeros_are_disclosive=False)
    published = _published(treated=15, pool=3, matched=0, policy=policy)
    assert published["disclosure"] == {"suppressed": True, "rules": [RULE_THRESHOLD]}
    assert published["mean_control_before"] is None
    assert published["smd_after"] is None


def test_the_unused_pool_is_held_to_the_rule_too():
    """15 in the pool with it, 12 of them matched (weights 1): the pool less the matched
    controls leaves 3 unused people with it (main released)."""
    assert _published(treated=15, pool=15, matched=12, policy=POLICY)["disclosure"]["suppressed"]


def test_a_row_safe_for_every_group_is_released():
    published = _published(treated=15, pool=40, matched=12, policy=POLICY)
    assert published["disclosure"] == {"suppressed": False, "rules": []}
    assert published["mean_control_before"] == 0.01


@RELAXED
@given(
    treated=st.integers(0, 30),
    pool=st.integers(0, 60),
    matched=st.integers(0, 30),
    min_cell_size=st.integers(3, 15),
    zeros_are_disclosive=st.booleans(),
)
def test_no_released_row_gives_a_small_count_of_any_group(
    treated, pool, matched, min_cell_size, zeros_are_disclosive
):
    """Whatever the holders of a 0/1 characteristic among the treated, the pool and the
    matched controls, a released row gives no group (treated, pool, matched controls, unused
    pool) a count under the minimum, nor a disclosive zero."""
    assume(matched <= pool and pool - matched <= 370)
    policy = DisclosurePolicy(
        min_cell_size=min_cell_size, zeros_are_disclosive=zeros_are_disclosive
    )
    published = _published(treated, pool, matched, policy)
    if not published["disclosure"]["suppressed"]:
        groups = {
            "treated": (treated, 30),
            "pool": (pool, 400),
            "matched": (matched, 30),
            "unused": (pool - matched, 400 - 30),
        }
        for name, (holders, size) in groups.items():
            counts = np.array([holders, size - holders], dtype=float)
            assert not small_counts(counts, policy).any(), (name, holders, size)
