"""Significance tests and confidence intervals for comparing a cohort with a comparison group.

Owned here: the two-proportion z-test (rates), Welch's t-test (means), and their weighted forms
for matched comparison groups whose members carry matching weights. Every function takes plain
numbers or arrays and returns a JSON-serialisable dataclass; undefined statistics are ``None``.

Choices (see docs/analysis.md for formulas and references):
* two proportions: z uses the pooled SE under H0 (p1 = p2), as in the usual textbook test and
  statsmodels ``proportions_ztest``; the CI uses the unpooled (Wald) SE by default, because
  under the alternative the two rates differ and the interval should not assume otherwise, or
  Newcombe's hybrid score interval (Newcombe 1998, method 10), which keeps its coverage with
  small groups and rates near 0 or 1;
* means: Welch's unequal-variance t with Welch-Satterthwaite degrees of freedom;
* weights: weighted mean, the unbiased "reliability weights" variance and Kish's effective
  sample size n_eff = (sum w)^2 / sum w^2, which stands in for n in every formula above.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class WeightedSummary:
    """Weighted mean, unbiased reliability-weights variance and Kish effective sample size."""

    mean: float
    variance: float | None
    effective_n: float
    sum_weights: float
    n_units: int


def weighted_summary(
    values: Sequence[float] | np.ndarray, weights: Sequence[float] | np.ndarray | None = None
) -> WeightedSummary:
    """Summarise values with non-negative weights (all 1 when ``weights`` is None).

    variance = sum w (x - m)^2 / (sum w - sum w^2 / sum w); with equal weights this is the
    ordinary sample variance (n - 1 denominator), and it does not depend on the weights' scale.
    """
    x = np.asarray(values, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if x.shape != w.shape:
        raise ValueError("values and weights must have the same length")
    if np.any(w < 0) or not np.all(np.isfinite(w)) or not np.all(np.isfinite(x)):
        raise ValueError("weights must be finite and non-negative; values finite")
    keep = w > 0
    x, w = x[keep], w[keep]
    total = float(w.sum())
    if total == 0:
        raise ValueError("at least one positive weight is needed")
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(np.dot(w, x) / total)
        if not math.isfinite(mean):
            # Values near the float limit overflow the sum; on their own scale they do not, and
            # the mean of finite values is finite (it lies between them).
            scale = float(np.max(np.abs(x)))
            mean = scale * float(np.dot(w, x / scale) / total)
        squares = float(np.dot(w, w))
        effective_n = total * total / squares
        denominator = total - squares / total
        variance = float(np.dot(w, (x - mean) ** 2) / denominator) if denominator > 0 else None
    return summary_of(mean, variance, effective_n, total, int(x.size))


def summary_of(
    mean: float, variance: float | None, effective_n: float, sum_weights: float, n_units: int
) -> WeightedSummary:
    """A summary as every engine builds it: a variance beyond the float range (values near
    the float limit) or NaN has no use, since every test and interval built on it would be
    NaN or infinite, so it is undefined (None) and so are they."""
    if variance is not None and not math.isfinite(variance):
        variance = None
    return WeightedSummary(mean, variance, effective_n, sum_weights, n_units)


CI_WALD = "Wald, unpooled"
CI_NEWCOMBE = "Newcombe hybrid score"
CI_WILSON = "Wilson"
CI_WELCH = "Welch t"
PROPORTION_INTERVALS = {"wald": CI_WALD, "newcombe": CI_NEWCOMBE}


def interval_label(method: str, confidence: float = 0.95) -> str:
    """How an interval is named wherever it is shown: "95% CI (Wald, unpooled)"."""
    return f"{round(100 * confidence):g}% CI ({method})"


def statistic_label(prefix: str, key: str, container: Mapping[str, Any]) -> str:
    """A statistic's name for people; an interval's bounds name the interval's method
    ("test: 95% CI (Wald, unpooled), lower")."""
    method = container.get("ci_method")
    if key in ("ci_low", "ci_high") and isinstance(method, str):
        confidence = container.get("confidence", 0.95)
        level = interval_label(method, float(confidence))
        bound = "lower" if key == "ci_low" else "upper"
        return f"{prefix.rstrip('.').replace('_', ' ')}: {level}, {bound}".lstrip(": ")
    return f"{prefix}{key}".replace("_", " ")


def wilson_interval(rate: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion; ``n`` may be an effective (weighted) size."""
    from scipy import stats as scipy_stats

    z = float(scipy_stats.norm.ppf(0.5 + confidence / 2))
    denominator = 1 + z * z / n
    centre = (rate + z * z / (2 * n)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / denominator
    # The Wilson interval always holds the rate; at 0 or 1 the two terms cancel only up to
    # rounding (0 of 3 gave a lower bound of 5.6e-17, above the rate it bounds).
    return min(max(0.0, centre - half), rate), max(min(1.0, centre + half), rate)


@dataclass(frozen=True)
class ProportionComparison:
    """Rate in group 1 minus rate in group 2, with pooled-SE z-test and a CI named by
    ``ci_method``."""

    events_1: float
    n_1: float
    rate_1: float
    events_2: float
    n_2: float
    rate_2: float
    difference: float
    z: float | None
    p_value: float | None
    ci_low: float
    ci_high: float
    confidence: float
    ci_method: str = CI_WALD

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value is not None and self.p_value < alpha

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def two_proportion_test(
    events_1: float,
    n_1: float,
    events_2: float,
    n_2: float,
    confidence: float = 0.95,
    interval: str = "wald",
) -> ProportionComparison:
    """Two-sided two-proportion z-test. Group sizes may be effective (non-integer) sizes.

    z = (p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2)), p = (x1 + x2) / (n1 + n2);
    "wald": CI = (p1 - p2) +/- z_{1-a/2} sqrt(p1 (1 - p1) / n1 + p2 (1 - p2) / n2);
    "newcombe": with (l_i, u_i) the Wilson interval of p_i, CI = (d - sqrt((p1 - l1)^2 +
    (u2 - p2)^2), d + sqrt((u1 - p1)^2 + (p2 - l2)^2)) (Newcombe 1998, method 10).
    When both rates are 0 or both 1 the pooled SE is 0 and z, p are undefined (None).
    """
    from scipy import stats as scipy_stats

    _check_confidence(confidence)
    if interval not in PROPORTION_INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(PROPORTION_INTERVALS)}")
    if n_1 <= 0 or n_2 <= 0:
        raise ValueError("both groups need a positive size")
    if not (0 <= events_1 <= n_1 and 0 <= events_2 <= n_2):
        raise ValueError("events must lie between 0 and the group size")
    rate_1, rate_2 = events_1 / n_1, events_2 / n_2
    difference = rate_1 - rate_2
    pooled = (events_1 + events_2) / (n_1 + n_2)
    pooled_se = math.sqrt(pooled * (1 - pooled) * (1 / n_1 + 1 / n_2))
    z = difference / pooled_se if pooled_se > 0 else None
    p_value = float(2 * scipy_stats.norm.sf(abs(z))) if z is not None else None
    if interval == "newcombe":
        low_1, high_1 = wilson_interval(rate_1, n_1, confidence)
        low_2, high_2 = wilson_interval(rate_2, n_2, confidence)
        ci_low = difference - math.sqrt((rate_1 - low_1) ** 2 + (high_2 - rate_2) ** 2)
        ci_high = difference + math.sqrt((high_1 - rate_1) ** 2 + (rate_2 - low_2) ** 2)
    else:
        unpooled_se = math.sqrt(rate_1 * (1 - rate_1) / n_1 + rate_2 * (1 - rate_2) / n_2)
        half_width = float(scipy_stats.norm.ppf(0.5 + confidence / 2)) * unpooled_se
        ci_low, ci_high = difference - half_width, difference + half_width
    return ProportionComparison(
        float(events_1),
        float(n_1),
        rate_1,
        float(events_2),
        float(n_2),
        rate_2,
        difference,
        z,
        p_value,
        ci_low,
        ci_high,
        confidence,
        PROPORTION_INTERVALS[interval],
    )


@dataclass(frozen=True)
class MeanComparison:
    """Mean of group 1 minus (weighted) mean of group 2, Welch t-test and CI."""

    mean_1: float
    n_1: float
    mean_2: float
    n_2: float
    difference: float
    standard_error: float | None
    t: float | None
    df: float | None
    p_value: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    ci_method: str = CI_WELCH

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value is not None and self.p_value < alpha

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def welch_t_test(
    values_1: Sequence[float] | np.ndarray,
    values_2: Sequence[float] | np.ndarray,
    weights_1: Sequence[float] | np.ndarray | None = None,
    weights_2: Sequence[float] | np.ndarray | None = None,
    confidence: float = 0.95,
) -> MeanComparison:
    """Welch's unequal-variance t-test, optionally with weights on either group.

    t = (m1 - m2) / sqrt(v1/n1 + v2/n2),
    df = (v1/n1 + v2/n2)^2 / ((v1/n1)^2 / (n1 - 1) + (v2/n2)^2 / (n2 - 1)),
    with weighted means m, reliability-weights variances v and Kish effective sizes n.
    Undefined statistics (fewer than two units, or zero variance in both groups) are None.
    """
    _check_confidence(confidence)
    first = weighted_summary(values_1, weights_1)
    second = weighted_summary(values_2, weights_2)
    return compare_summaries(first, second, confidence)


def compare_summaries(
    first: WeightedSummary, second: WeightedSummary, confidence: float = 0.95
) -> MeanComparison:
    """Welch comparison of two already-computed weighted summaries."""
    from scipy import stats as scipy_stats

    difference = first.mean - second.mean
    undefined = MeanComparison(
        first.mean,
        first.effective_n,
        second.mean,
        second.effective_n,
        difference,
        None,
        None,
        None,
        None,
        None,
        None,
        confidence,
    )
    if first.variance is None or second.variance is None:
        return undefined
    part_1 = first.variance / first.effective_n
    part_2 = second.variance / second.effective_n
    variance = part_1 + part_2
    if variance <= 0:
        return undefined
    standard_error = math.sqrt(variance)
    t = difference / standard_error
    # Written with shares of the total variance so tiny variances cannot underflow to 0/0.
    share_1, share_2 = part_1 / variance, part_2 / variance
    df = 1.0 / (share_1**2 / (first.effective_n - 1) + share_2**2 / (second.effective_n - 1))
    p_value = float(2 * scipy_stats.t.sf(abs(t), df))
    half_width = float(scipy_stats.t.ppf(0.5 + confidence / 2, df)) * standard_error
    return MeanComparison(
        first.mean,
        first.effective_n,
        second.mean,
        second.effective_n,
        difference,
        standard_error,
        t,
        df,
        p_value,
        difference - half_width,
        difference + half_width,
        confidence,
    )


def mean_interval(
    values: Sequence[float] | np.ndarray,
    weights: Sequence[float] | np.ndarray | None = None,
    confidence: float = 0.95,
) -> tuple[float, float] | None:
    """t-interval for a (weighted) mean: m +/- t_{n_eff - 1} sqrt(v / n_eff); None if n_eff <= 1."""
    return summary_interval(weighted_summary(values, weights), confidence)


def summary_interval(
    summary: WeightedSummary, confidence: float = 0.95
) -> tuple[float, float] | None:
    """``mean_interval`` of an already-computed summary."""
    from scipy import stats as scipy_stats

    _check_confidence(confidence)
    if summary.variance is None or summary.effective_n <= 1:
        return None
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, summary.effective_n - 1)) * math.sqrt(
        summary.variance / summary.effective_n
    )
    return summary.mean - half, summary.mean + half


def weighted_proportion_test(
    events_1: Sequence[float] | np.ndarray,
    events_2: Sequence[float] | np.ndarray,
    weights_2: Sequence[float] | np.ndarray | None = None,
    confidence: float = 0.95,
) -> ProportionComparison:
    """Two-proportion test where group 2 carries matching weights.

    Group 2's rate is its weighted mean of the 0/1 outcome and its size is its Kish effective
    size; with all weights equal this is exactly ``two_proportion_test`` on the raw counts.
    """
    return compare_proportions(
        weighted_summary(events_1), weighted_summary(events_2, weights_2), confidence
    )


def compare_proportions(
    first: WeightedSummary, second: WeightedSummary, confidence: float = 0.95
) -> ProportionComparison:
    """Two-proportion test of two already-computed summaries of a 0/1 outcome (rate = mean,
    size = Kish effective size)."""
    return two_proportion_test(
        first.mean * first.effective_n,
        first.effective_n,
        second.mean * second.effective_n,
        second.effective_n,
        confidence,
    )


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError("confidence must be strictly between 0 and 1")
