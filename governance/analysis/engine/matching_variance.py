"""Standard errors of a matching estimate of the ATT that count what matching does.

The weighted Welch test treats the matched comparison group as a weighted sample: it ignores
that each treated person is compared with *their own* controls, and that with replacement one
control can stand in for many treated people. Abadie & Imbens (2006, Econometrica 74:235-267,
Theorem 7) give the variance of the matching estimator of the population ATT,

    V = (1 / N1^2) [ sum_treated (Y_i - Yhat_i(0) - tau)^2
                     + sum_controls (K_i (K_i - 1) / M^2) sigma^2(X_i, 0) ],

where Yhat_i(0) is the mean outcome of treated i's M matched controls, K_i the number of times
control i is used, and sigma^2(X_i, W_i) the conditional variance of the outcome, estimated by
matching within the same group: sigma^2 = J / (J + 1) (Y_i - mean of its J nearest same-group
neighbours)^2 (their eq. 14; J = ``VARIANCE_NEIGHBOURS``, 2 as Stata's ``teffects``). With the
engine's ATT weights (w_i = sum over the treated it serves of 1 / m, m that treated person's
number of controls) the control term is sum (w_i^2 - q_i) sigma_i^2 with q_i = sum 1 / m^2,
which is K (K - 1) / M^2 when every treated person has M controls, and also covers calipers
that leave some with fewer, and radius matching.

Outcomes measured only among some people (days to re-offence, among re-offenders) break the
pairs; for them the conditional ("sample") form is used: sum over both groups of (their weight
in the group mean)^2 sigma_i^2, with sigma^2 estimated among the same people.

When the score is an estimated logit, matching_variance_score.py adds Abadie & Imbens's
(2016) adjustment for its estimation (``with_variance`` gives the adjusted result); this
module's variance is the one for a score that is known, or for outcomes among a subgroup.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from .matching import MatchAssignment

VARIANCE_NEIGHBOURS = 2
CI_ABADIE_IMBENS = "normal, Abadie-Imbens SE"
CI_ABADIE_IMBENS_2016 = "normal, Abadie-Imbens SE adjusted for the estimated score"
KIND_2016 = "Abadie-Imbens (2016), population ATT, adjusted for the estimated propensity score"


@dataclass(frozen=True)
class MatchedDifference:
    """The ATT of one outcome with its Abadie-Imbens standard error, z-test and interval."""

    treated_mean: float
    control_mean: float
    difference: float
    standard_error: float | None
    z: float | None
    p_value: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    n_treated: int
    n_controls: int
    variance: str
    ci_method: str = CI_ABADIE_IMBENS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def with_variance(
    result: MatchedDifference, variance: float, kind: str, ci_method: str
) -> MatchedDifference:
    """``result`` with another (positive) variance of the same difference, named."""
    from scipy import stats as scipy_stats

    standard_error = math.sqrt(variance)
    z = result.difference / standard_error
    half = float(scipy_stats.norm.ppf(0.5 + result.confidence / 2)) * standard_error
    return replace(
        result,
        standard_error=standard_error,
        z=z,
        p_value=float(2 * scipy_stats.norm.sf(abs(z))),
        ci_low=result.difference - half,
        ci_high=result.difference + half,
        variance=kind,
        ci_method=ci_method,
    )


def imputed_controls(assignment: MatchAssignment, control_values: np.ndarray) -> np.ndarray:
    """Yhat_i(0): the mean outcome of each treated unit's matched controls (NaN if none).
    ``control_values`` is indexed like the control scores given to ``match_scores``."""
    counts = assignment.controls_per_treated.astype(float)
    if assignment.radius_windows is not None:
        low, high = assignment.radius_windows
        ordered = control_values[assignment.control_order]
        cumulative = np.concatenate([[0.0], np.cumsum(np.nan_to_num(ordered))])
        sums = cumulative[high] - cumulative[low]
    else:
        sums = np.bincount(
            assignment.pair_treated,
            weights=control_values[assignment.pair_control],
            minlength=len(counts),
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def within_group_variances(
    scores: np.ndarray,
    values: np.ndarray,
    candidates: np.ndarray,
    rows: np.ndarray,
    neighbours: int = VARIANCE_NEIGHBOURS,
) -> np.ndarray:
    """sigma^2 of each of ``rows``: J / (J + 1) (Y_i - mean of its J nearest ``candidates``
    by score, itself excluded)^2. Ties in distance go to the earlier candidate."""
    pool = np.flatnonzero(candidates)
    order = pool[np.argsort(scores[pool], kind="stable")]
    sorted_scores = scores[order]
    result = np.full(len(rows), np.nan)
    reach = neighbours + 1
    for k, row in enumerate(rows):
        slot = int(np.searchsorted(sorted_scores, scores[row]))
        window = order[max(0, slot - reach) : slot + reach + 1]
        window = window[window != row]
        if len(window) < 1:
            continue
        distance = np.abs(scores[window] - scores[row])
        chosen = window[np.argsort(distance, kind="stable")[:neighbours]]
        found = len(chosen)
        result[k] = found / (found + 1) * (values[row] - values[chosen].mean()) ** 2
    return result


def abadie_imbens(
    values: np.ndarray,
    is_treated: np.ndarray,
    weights: np.ndarray,
    scores: np.ndarray,
    assignment: MatchAssignment,
    among: np.ndarray | None = None,
    confidence: float = 0.95,
) -> MatchedDifference | None:
    """The ATT and its Abadie-Imbens variance for one outcome.

    Arrays are indexed like the rows given to matching (treated rows in the order of the
    treated scores, controls likewise); ``values`` may be NaN outside the matched people and
    their within-group neighbours. ``among`` restricts the comparison (see the module doc).
    """
    from scipy import stats as scipy_stats

    treated_rows = np.flatnonzero(is_treated)
    control_rows = np.flatnonzero(~is_treated)
    finite = np.isfinite(values)
    keep = finite if among is None else finite & among
    matched_t = treated_rows[assignment.treated_matched & keep[treated_rows]]
    used_c = control_rows[(assignment.control_weights > 0) & keep[control_rows]]
    if len(matched_t) < 2 or len(used_c) < 2:
        return None
    sigma_c = within_group_variances(scores, values, keep & ~is_treated, used_c)
    weight_c = weights[used_c]
    treated_mean = float(values[matched_t].mean())
    control_mean = float(np.average(values[used_c], weights=weight_c))
    difference = treated_mean - control_mean
    if among is None:
        n_treated = len(matched_t)
        imputed = imputed_controls(assignment, values[control_rows])
        position = np.searchsorted(treated_rows, matched_t)
        residual = values[matched_t] - imputed[position] - difference
        squares = assignment.control_square_shares[np.searchsorted(control_rows, used_c)]
        variance = (
            float(np.nansum(residual**2)) + float(np.nansum((weight_c**2 - squares) * sigma_c))
        ) / n_treated**2
        kind = "Abadie-Imbens (2006), population ATT"
    else:
        sigma_t = within_group_variances(scores, values, keep & is_treated, matched_t)
        share_c = weight_c / weight_c.sum()
        variance = float(np.nansum(sigma_t) / len(matched_t) ** 2) + float(
            np.nansum(share_c**2 * sigma_c)
        )
        kind = "Abadie-Imbens (2006), conditional, among a subgroup"
    if not variance > 0:
        return MatchedDifference(
            treated_mean,
            control_mean,
            difference,
            None,
            None,
            None,
            None,
            None,
            confidence,
            len(matched_t),
            len(used_c),
            kind,
        )
    standard_error = math.sqrt(variance)
    z = difference / standard_error
    half = float(scipy_stats.norm.ppf(0.5 + confidence / 2)) * standard_error
    return MatchedDifference(
        treated_mean=treated_mean,
        control_mean=control_mean,
        difference=difference,
        standard_error=standard_error,
        z=z,
        p_value=float(2 * scipy_stats.norm.sf(abs(z))),
        ci_low=difference - half,
        ci_high=difference + half,
        confidence=confidence,
        n_treated=len(matched_t),
        n_controls=len(used_c),
        variance=kind,
    )
