"""The Abadie-Imbens (2016) adjustment of the ATT's matching variance for an estimated score.

Abadie & Imbens (2016, Econometrica 84:781-807, "Matching on the estimated propensity score")
show that when the score matched on is a logit F(X'theta) fitted by maximum likelihood, the
large-sample variance of the matching estimator of the ATT is

    sigma^2_adj,t = sigma^2_t - c_t' I^-1 c_t + (d tau_t / d theta)' I^-1 (d tau_t / d theta),

where sigma^2_t is the variance when matching on the true score (Abadie & Imbens 2006, what
matching_variance.py computes) and I the Fisher information of the logit. With p = P(W = 1),
f = F (1 - F) the logistic density, mu(w, X) = E[Y | X, W = w], tau(X) = mu(1, X) - mu(0, X)
and C_w(F) = cov(X, mu(w, X) | F(X'theta)):

    d tau_t / d theta = (1 / p) E[ f X (tau(X) - tau_t) ],
    c_t = d tau_t / d theta + (1 / p) E[ F C_0(F) ].

(Written out, c_t = (1 / p) E[ f ( X (tau-bar(F) - tau_t) + C_1 + F / (1 - F) C_0 ) ], as in the
paper; the form above is what a delta-method derivation gives and what is estimated: the
matched controls' outcomes depend on theta only through C_0, the estimand through
d tau_t / d theta.) So when the controls' outcomes depend on the covariates only through the
score (C_0 = 0) the adjustment vanishes; otherwise it can be positive or negative (for the ATT,
unlike the ATE, the unadjusted variance is not conservative). Estimated with theta_hat:

* I_hat = (1 / N) sum_i f_i X_i X_i' over every unit the logit was fitted on;
* d_hat = (1 / N1) [ sum_treated X_i (1 - F_i) Y_i - sum_controls X_i F_i Y_i
  - tau_hat sum_i f_i X_i ] (inverse-probability weighting: E[W X (1 - F) Y] = E[f X mu(1, X)]);
* e_hat = (1 / N1) sum_i F_i cov_0(i), cov_0(i) the sample covariance of X and Y among the
  L = ``COVARIANCE_NEIGHBOURS`` controls nearest to i by the score (the paper's matching
  estimate of a conditional covariance);

with the sums over the matched treated and every control, and the variance of tau_hat is
V_2006 + (d' I^-1 d - (d + e)' I^-1 (d + e)) / N. Both quadratic forms are invariant to an
affine change of the covariates, so the standardised design of propensity.py is used (earnings
in dollars beside indicators make I ill-conditioned otherwise).

The theory is for matching with replacement on the score; the engine applies the same
correction to its other designs (without replacement, calipers, radius) as an approximation,
as it does the 2006 variance through the ATT weights. It needs every unit's outcome, not only
the matched ones'; where an outcome is missing for some unit, or the estimate is not positive
in a small sample, the 2006 variance is used and named instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .encoding import EncodedCovariates
from .matching import MatchAssignment
from .propensity import BLOCK_ROWS, standardised_design, weighted_gram

COVARIANCE_NEIGHBOURS = 4


@dataclass
class EstimatedScore:
    """What the adjustment needs from the fitted logit: the covariates it was fitted on and
    each unit's linear predictor X'theta (rows as given to matching). The design and the
    controls nearest each unit are computed once and shared by every outcome."""

    encoded: EncodedCovariates
    linear_predictor: np.ndarray
    _design: np.ndarray | None = field(default=None, repr=False)
    _near: dict[bytes, np.ndarray] = field(default_factory=dict, repr=False)

    def design(self) -> np.ndarray:
        if self._design is None:
            self._design = standardised_design(self.encoded)
        return self._design

    def near_controls(
        self, scores: np.ndarray, control_rows: np.ndarray, units: np.ndarray
    ) -> np.ndarray:
        key = units.tobytes()
        if key not in self._near:
            self._near = {key: nearest_in_group(scores, control_rows, units, COVARIANCE_NEIGHBOURS)}
        return self._near[key]


def nearest_in_group(
    scores: np.ndarray, members: np.ndarray, queries: np.ndarray, count: int
) -> np.ndarray:
    """For each of ``queries`` (row numbers), the ``count`` rows of ``members`` nearest by
    score (a query that is itself a member comes first: distance 0, ties to the lower score,
    then the earlier row). Returns a (len(queries), count) array; -1 where the group is
    smaller than ``count``."""
    order = members[np.argsort(scores[members], kind="stable")]
    sorted_scores = scores[order]
    result = np.full((len(queries), count), -1, dtype=np.int64)
    if len(order) == 0:
        return result
    # A block of queries at a time: the (queries, 2 count + 1) work arrays of ten million
    # units would take gigabytes at once.
    for start in range(0, len(queries), BLOCK_ROWS):
        block = slice(start, start + BLOCK_ROWS)
        result[block] = _nearest_block(order, sorted_scores, scores, queries[block], count)
    return result


def _nearest_block(
    order: np.ndarray,
    sorted_scores: np.ndarray,
    scores: np.ndarray,
    queries: np.ndarray,
    count: int,
) -> np.ndarray:
    result = np.full((len(queries), count), -1, dtype=np.int64)
    slot = np.searchsorted(sorted_scores, scores[queries], "left")
    offsets = np.arange(-count, count + 1)
    window = slot[:, None] + offsets[None, :]
    valid = (window >= 0) & (window < len(order))
    rows = order[np.clip(window, 0, len(order) - 1)]
    distance = np.where(
        valid,
        np.abs(sorted_scores[np.clip(window, 0, len(order) - 1)] - scores[queries][:, None]),
        np.inf,
    )
    # The query itself, when a member, is its own nearest: put it first.
    distance = np.where(valid & (rows == queries[:, None]), -1.0, distance)
    chosen = np.argsort(distance, axis=1, kind="stable")[:, :count]
    picked = np.take_along_axis(rows, chosen, axis=1)
    ok = np.isfinite(np.take_along_axis(distance, chosen, axis=1))
    result[:, : picked.shape[1]] = np.where(ok, picked, -1)
    return result


def _weighted_local_covariances(
    design: np.ndarray, values: np.ndarray, neighbours: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """sum_i weights_i cov_i(X, Y), cov_i the sample covariance among row i's L neighbours.

    With S_i = the neighbours' sum of Y, sum_i w_i cov_i = (1 / (L - 1)) [sum_j X_j Y_j u_j
    - (1 / L) sum_j X_j v_j], u_j = sum of w_i over the (i, l) with neighbour j and v_j =
    sum of w_i S_i over the same: two bincounts and two products with X, never an
    (n, L, k) array (a million units by 25 covariates)."""
    count = neighbours.shape[1]
    flat = neighbours.ravel()
    # Rows that are nobody's neighbour may hold NaN (an unmatched treated unit's outcome).
    values = np.where(np.isfinite(values), values, 0.0)
    sums = values[neighbours].sum(axis=1)
    u = np.bincount(flat, weights=np.repeat(weights, count), minlength=len(values))
    v = np.bincount(flat, weights=np.repeat(weights * sums, count), minlength=len(values))
    return np.asarray((design.T @ (values * u) - design.T @ v / count) / (count - 1))


def score_adjustment(
    values: np.ndarray,
    is_treated: np.ndarray,
    scores: np.ndarray,
    assignment: MatchAssignment,
    estimated: EstimatedScore,
    difference: float,
) -> float | None:
    """(d' I^-1 d - (d + e)' I^-1 (d + e)) / N, to add to the 2006 variance of tau_hat; None
    when an outcome needed is missing (see the module doc)."""
    n = len(values)
    treated_rows = np.flatnonzero(is_treated)
    matched_t = treated_rows[assignment.treated_matched]
    control_rows = np.flatnonzero(~is_treated)
    if len(matched_t) < 2 or len(control_rows) < COVARIANCE_NEIGHBOURS:
        return None
    units = np.concatenate([matched_t, control_rows])
    if not np.isfinite(values[units]).all():
        return None
    design = estimated.design()
    propensity = 1.0 / (1.0 + np.exp(-estimated.linear_predictor))
    density = propensity * (1.0 - propensity)
    information = weighted_gram(design, density) / n
    n1 = len(matched_t)
    # Sums over a subset of rows as products with weights that are 0 elsewhere: a row subset
    # of the design would copy it (gigabytes for ten million units).
    in_units = np.zeros(n, dtype=bool)
    in_units[units] = True
    derivative = (
        design[matched_t].T @ ((1.0 - propensity[matched_t]) * values[matched_t])
        - design.T @ np.where(is_treated, 0.0, propensity * values)
        - difference * (design.T @ np.where(in_units, density, 0.0))
    ) / n1
    near = estimated.near_controls(scores, control_rows, units)
    shift = _weighted_local_covariances(design, values, near, propensity[units]) / n1
    try:
        solve_d = np.linalg.solve(information, derivative)
        solve_c = np.linalg.solve(information, derivative + shift)
    except np.linalg.LinAlgError:
        return None
    return float(derivative @ solve_d - (derivative + shift) @ solve_c) / n
