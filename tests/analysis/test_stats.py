"""Tests of stats.py against independent scipy and statsmodels computations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from governance.analysis.engine.stats import (
    two_proportion_test,
    weighted_proportion_test,
    weighted_summary,
    welch_t_test,
)

# Sized for the 2-core CI machine; no deadline because the LP audit varies in time.
RELAXED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@RELAXED
@given(
    st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
)
def test_two_proportion_matches_statsmodels(group_1, group_2):
    (x1, n1), (x2, n2) = group_1, group_2
    result = two_proportion_test(x1, n1, x2, n2)
    assert result.difference == pytest.approx(x1 / n1 - x2 / n2)
    if result.z is None:
        assert (x1 + x2) in (0, n1 + n2)
        return
    z, p = proportions_ztest([x1, x2], [n1, n2])
    assert result.z == pytest.approx(z, rel=1e-9, abs=1e-12)
    assert result.p_value == pytest.approx(p, rel=1e-9, abs=1e-12)
    low, high = confint_proportions_2indep(x1, n1, x2, n2, method="wald", compare="diff")
    assert result.ci_low == pytest.approx(low, abs=1e-12)
    assert result.ci_high == pytest.approx(high, abs=1e-12)


def test_two_proportion_known_value():
    # 30/100 vs 45/100: pooled p = .375, z = -.15 / sqrt(.375*.625*.02) = -2.1909
    result = two_proportion_test(30, 100, 45, 100)
    assert result.z == pytest.approx(-2.19089, abs=1e-5)
    assert result.p_value == pytest.approx(0.028459, abs=1e-5)
    assert result.significant()


samples = st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=60)


@RELAXED
@given(samples, samples)
def test_welch_matches_scipy(first, second):
    result = welch_t_test(first, second)
    if result.t is None:
        assert np.var(first) == 0
        assert np.var(second) == 0
        return
    # scipy warns (and loses precision) on near-constant samples; compare where both are sound.
    assume(np.ptp(first) > 1e-3 and np.ptp(second) > 1e-3)
    reference = scipy_stats.ttest_ind(first, second, equal_var=False)
    assert result.t == pytest.approx(reference.statistic, rel=1e-7, abs=1e-9)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-6, abs=1e-12)
    interval = reference.confidence_interval(0.95)
    assert result.ci_low == pytest.approx(interval.low, rel=1e-7, abs=1e-7)
    assert result.ci_high == pytest.approx(interval.high, rel=1e-7, abs=1e-7)
    assert result.df == pytest.approx(reference.df, rel=1e-7)


def test_weighted_summary_reduces_to_unweighted_and_is_scale_free():
    values = np.array([1.0, 4.0, 2.0, 8.0])
    plain = weighted_summary(values)
    assert plain.variance == pytest.approx(np.var(values, ddof=1))
    assert plain.effective_n == pytest.approx(4)
    scaled = weighted_summary(values, np.full(4, 0.25))
    assert scaled.variance == pytest.approx(plain.variance)
    assert scaled.effective_n == pytest.approx(4)


weights = st.lists(st.floats(0.05, 5.0), min_size=3, max_size=40)


@RELAXED
@given(st.data())
def test_weighted_welch_matches_statsmodels_with_kish_scaled_weights(data):
    size = data.draw(st.integers(3, 40))
    values_1 = np.array(data.draw(st.lists(st.floats(-100, 100), min_size=size, max_size=size)))
    values_2 = np.array(data.draw(st.lists(st.floats(-100, 100), min_size=size, max_size=size)))
    weights_2 = np.array(data.draw(st.lists(st.floats(0.05, 5.0), min_size=size, max_size=size)))
    result = welch_t_test(values_1, values_2, weights_2=weights_2)
    if result.t is None or np.var(values_2) < 1e-9 or np.var(values_1) < 1e-9:
        return
    # statsmodels treats weights as frequencies (n = sum w); rescaling them so that they sum to
    # Kish's effective size makes its formulas identical to ours.
    effective = weights_2.sum() ** 2 / (weights_2**2).sum()
    d1 = DescrStatsW(values_1, weights=np.ones(size))
    d2 = DescrStatsW(values_2, weights=weights_2 * effective / weights_2.sum())
    t, p, df = CompareMeans(d1, d2).ttest_ind(usevar="unequal")
    assert result.t == pytest.approx(t, rel=1e-6, abs=1e-9)
    assert result.p_value == pytest.approx(p, rel=1e-5, abs=1e-12)
    assert result.df == pytest.approx(df, rel=1e-6)
    low, _high = CompareMeans(d1, d2).tconfint_diff(usevar="unequal")
    assert result.ci_low == pytest.approx(low, rel=1e-6, abs=1e-6)
    assert result.mean_2 == pytest.approx(d2.mean)


def test_weighted_proportion_equal_weights_is_plain_test():
    treated = np.array([1] * 30 + [0] * 70)
    controls = np.array([1] * 45 + [0] * 55)
    weighted = weighted_proportion_test(treated, controls, np.full(100, 0.5))
    plain = two_proportion_test(30, 100, 45, 100)
    assert weighted.z == pytest.approx(plain.z)
    assert weighted.ci_low == pytest.approx(plain.ci_low)


def test_degenerate_inputs():
    assert two_proportion_test(0, 10, 0, 20).z is None
    assert welch_t_test([1.0], [2.0, 3.0]).p_value is None
    with pytest.raises(ValueError):  # noqa: PT011  (any ValueError: events exceed the count)
        two_proportion_test(11, 10, 0, 5)
    with pytest.raises(ValueError):  # noqa: PT011  (any ValueError: a negative weight)
        weighted_summary([1.0, 2.0], [-1.0, 1.0])
