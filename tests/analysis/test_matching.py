"""Matching assignments against brute-force references, and option validation."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.analysis.engine.errors import AnalysisParameterError
from governance.analysis.engine.matching import (
    REASON_CALIPER,
    REASON_EXHAUSTED,
    MatchingOptions,
    caliper_width,
    match_scores,
)

# Sized for the 2-core CI machine; no deadline because the LP audit varies in time.
RELAXED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Half-integers are exact in floating point, so distance ties are real ties.
scores = st.lists(st.integers(-8, 8).map(lambda v: v / 2), min_size=1, max_size=12)


def within(value, score, width):
    return width is None or (score - width <= value <= score + width)


def reference_greedy(treated, control, k, width, order):
    available = set(range(len(control)))
    pairs = []
    active = list(order)
    for _ in range(k):
        still = []
        for unit in active:
            candidates = [j for j in available if within(control[j], treated[unit], width)]
            if not candidates:
                continue
            best = min(candidates, key=lambda j: (abs(control[j] - treated[unit]), control[j], j))
            pairs.append((unit, best))
            available.remove(best)
            still.append(unit)
        active = still
    return sorted(pairs)


def reference_with_replacement(treated, control, k, width):
    pairs = []
    for unit, score in enumerate(treated):
        candidates = [j for j in range(len(control)) if within(control[j], score, width)]
        candidates.sort(key=lambda j: (abs(control[j] - score), control[j], j))
        pairs += [(unit, j) for j in candidates[:k]]
    return sorted(pairs)


def reference_order(treated, order):
    if order == "largest":
        return sorted(range(len(treated)), key=lambda i: (-treated[i], i))
    if order == "smallest":
        return sorted(range(len(treated)), key=lambda i: (treated[i], i))
    return list(range(len(treated)))


calipers = st.sampled_from([None, 0.3, 1.0])


@RELAXED
@given(
    scores, scores, st.integers(1, 3), calipers, st.sampled_from(["largest", "smallest", "data"])
)
def test_greedy_without_replacement_matches_brute_force(treated, control, k, caliper, order):
    options = MatchingOptions(neighbours=k, caliper=caliper, order=order, caliper_sd="all")
    t, c = np.array(treated), np.array(control)
    assignment = match_scores(t, c, options)
    pairs = sorted(
        zip(assignment.pair_treated.tolist(), assignment.pair_control.tolist(), strict=True)
    )
    width = assignment.caliper_width
    assert pairs == reference_greedy(treated, control, k, width, reference_order(treated, order))
    assert len(set(assignment.pair_control.tolist())) == len(pairs)  # each control used once


@RELAXED
@given(scores, scores, st.integers(1, 3), calipers)
def test_nearest_with_replacement_matches_brute_force(treated, control, k, caliper):
    options = MatchingOptions(neighbours=k, caliper=caliper, replace=True, caliper_sd="all")
    assignment = match_scores(np.array(treated), np.array(control), options)
    pairs = sorted(
        zip(assignment.pair_treated.tolist(), assignment.pair_control.tolist(), strict=True)
    )
    assert pairs == reference_with_replacement(treated, control, k, assignment.caliper_width)


@RELAXED
@given(scores, scores, st.sampled_from([0.3, 1.0, 2.0]))
def test_radius_weights_match_brute_force(treated, control, caliper):
    options = MatchingOptions(method="radius", caliper=caliper, caliper_sd="all")
    assignment = match_scores(np.array(treated), np.array(control), options)
    width = assignment.caliper_width
    expected = np.zeros(len(control))
    for score in treated:
        inside = [j for j in range(len(control)) if within(control[j], score, width)]
        for j in inside:
            expected[j] += 1 / len(inside)
    np.testing.assert_allclose(assignment.control_weights, expected, atol=1e-9)
    matched = [any(within(v, s, width) for v in control) for s in treated]
    assert assignment.treated_matched.tolist() == matched


@RELAXED
@given(scores, scores, st.integers(1, 3), st.booleans())
def test_att_weights_sum_to_matched_treated(treated, control, k, replace):
    options = MatchingOptions(neighbours=k, replace=replace, caliper=None)
    assignment = match_scores(np.array(treated), np.array(control), options)
    assert assignment.control_weights.sum() == pytest.approx(assignment.treated_matched.sum())


def test_caliper_width_uses_pooled_or_overall_sd():
    treated, control = np.array([0.0, 2.0, 4.0]), np.array([1.0, 1.0, 3.0, 7.0])
    pooled = np.sqrt((np.var(treated, ddof=1) + np.var(control, ddof=1)) / 2)
    assert caliper_width(treated, control, MatchingOptions()) == pytest.approx(0.2 * pooled)
    overall = np.std(np.r_[treated, control], ddof=1)
    assert caliper_width(treated, control, MatchingOptions(caliper_sd="all")) == pytest.approx(
        0.2 * overall
    )
    assert caliper_width(treated, control, MatchingOptions(caliper=None)) is None


def test_unmatched_reasons_distinguish_caliper_from_exhaustion():
    options = MatchingOptions(caliper=None)
    assignment = match_scores(np.array([0.0, 0.1]), np.array([0.05]), options)
    assert assignment.unmatched_reason.count(REASON_EXHAUSTED) == 1
    tight = MatchingOptions(caliper=0.01, caliper_sd="all")
    far = match_scores(np.array([0.0, 10.0]), np.array([0.0, 0.1, 0.2]), tight)
    assert far.unmatched_reason == [None, REASON_CALIPER]


def test_options_validation_names_field():
    with pytest.raises(AnalysisParameterError) as error:
        MatchingOptions(method="radius", caliper=None)
    assert error.value.field == "caliper"
    with pytest.raises(AnalysisParameterError) as order:
        MatchingOptions(order="sideways")
    assert order.value.field == "order"
    with pytest.raises(AnalysisParameterError):
        MatchingOptions(neighbours=0)


def test_large_pool_is_fast_and_correct_on_a_sample():
    rng = np.random.default_rng(3)
    treated, control = rng.normal(0.5, 1, 1_000), rng.normal(0, 1, 1_000_000)
    start = time.perf_counter()
    assignment = match_scores(treated, control, MatchingOptions())
    elapsed = time.perf_counter() - start
    assert assignment.treated_matched.all()
    # Not a timing test, only a guard against accidental O(n*m) work (that takes minutes).
    assert elapsed < 30
    first = int(np.argmax(treated))  # the first unit served in "largest" order
    matched = assignment.pair_control[assignment.pair_treated == first][0]
    assert matched == int(np.argmin(np.abs(control - treated[first])))
