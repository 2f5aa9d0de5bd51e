"""Covariate balance before and after matching: standardised mean differences and variance ratios.

Every numeric covariate and every level of every categorical covariate (reference level
included) gets a row. SMD = (mean_treated - mean_control) / denominator, where the denominator
is fixed from the samples *before* matching so that "before" and "after" are on one scale:
* "pooled" (default, Austin 2009): sqrt((s_t^2 + s_c^2) / 2);
* "treated" (MatchIt's default for the ATT): s_t.
For binary variables (0/1 columns and category levels) s^2 = p (1 - p); otherwise s^2 is the
sample variance. After matching, means and variances are weighted by the matching weights
(matched treated weight 1, controls their ATT weights; reliability-weights variance). Variance
ratios (treated / control) are reported for non-binary covariates only, as MatchIt does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .encoding import EncodedCovariates


@dataclass(frozen=True)
class BalanceRow:
    """Balance of one covariate (or one level of a categorical covariate)."""

    term: str
    covariate: str
    binary: bool
    mean_treated_before: float
    mean_control_before: float
    smd_before: float | None
    variance_ratio_before: float | None
    mean_treated_after: float | None
    mean_control_after: float | None
    smd_after: float | None
    variance_ratio_after: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _weighted_moments(matrix: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted means and reliability-weights variances of every column; ``weights`` covers all
    rows (0 leaves a row out) so no row subset of a large matrix is ever copied."""
    total = weights.sum()
    denominator = total - (weights @ weights) / total
    mean = np.full(matrix.shape[1], np.nan)
    variance = np.full(matrix.shape[1], np.nan)
    for position in range(matrix.shape[1]):
        # A column at a time, as float64 (the matrix may be float32, see encoding.py).
        column = np.asarray(matrix[:, position], dtype=float)
        mean[position] = weights @ column / total
        if denominator > 0:
            centred = column - mean[position]
            variance[position] = weights @ (centred * centred) / denominator
    return mean, variance


def smd(difference: float, scale: float) -> float | None:
    """A standardised mean difference over ``scale`` (the standard deviation it is measured
    in). A covariate constant in the reference samples is balanced only if the means agree."""
    if scale > 0:
        return float(difference / scale)
    return 0.0 if abs(difference) < 1e-12 else None


def smd_scale(spread_t: Any, spread_c: Any, denominator: str) -> Any:
    """The standard deviation an SMD is measured in, from each group's variance before
    matching (p(1 - p) for a 0/1 covariate): the treated group's ("treated") or the mean of
    the two ("pooled"); numbers or arrays alike."""
    return np.sqrt(spread_t if denominator == "treated" else (spread_t + spread_c) / 2)


def _smd(difference: np.ndarray, denominator: np.ndarray) -> list[float | None]:
    return [smd(diff, scale) for diff, scale in zip(difference, denominator, strict=True)]


def variance_ratio(numerator: float | None, denominator: float | None) -> float | None:
    """Treated over control variance; None where the control's is not positive."""
    if numerator is None or denominator is None or not (denominator > 0):
        return None
    return None if not np.isfinite(numerator) else float(numerator / denominator)


def _ratio(
    numerator: np.ndarray, denominator: np.ndarray, binary: list[bool]
) -> list[float | None]:
    return [
        None if is_binary else variance_ratio(num, den)
        for num, den, is_binary in zip(numerator, denominator, binary, strict=True)
    ]


def balance_table(
    encoded: EncodedCovariates,
    treatment: np.ndarray,
    treated_weights: np.ndarray | None,
    control_weights: np.ndarray | None,
    denominator: str = "pooled",
) -> list[BalanceRow]:
    """Balance rows; ``encoded`` must have all levels (``drop_reference=False``).

    ``treated_weights`` and ``control_weights`` are the after-matching weights of the treated
    and control rows (in their order within ``encoded``); pass None for a before-only table.
    """
    treated = np.asarray(treatment) == 1
    matrix = encoded.matrix
    binary = list(encoded.binary)
    mean_t, var_t = _weighted_moments(matrix, treated.astype(float))
    mean_c, var_c = _weighted_moments(matrix, (~treated).astype(float))
    is_binary = np.array(binary, dtype=bool)
    scale_t = np.where(is_binary, mean_t * (1 - mean_t), var_t)
    scale_c = np.where(is_binary, mean_c * (1 - mean_c), var_c)
    scale = smd_scale(scale_t, scale_c, denominator)
    smd_before = _smd(mean_t - mean_c, scale)
    ratio_before = _ratio(var_t, var_c, binary)
    after: tuple[list[Any], list[Any], list[Any], list[Any]]
    if treated_weights is not None and control_weights is not None and np.any(control_weights > 0):
        full_t = np.zeros(len(treated))
        full_t[treated] = np.asarray(treated_weights, dtype=float)
        full_c = np.zeros(len(treated))
        full_c[~treated] = np.asarray(control_weights, dtype=float)
        used = (full_t > 0) | (full_c > 0)
        # Only the matched rows matter after matching; subsetting them first is cheap.
        after_t, after_var_t = _weighted_moments(matrix[used], full_t[used])
        after_c, after_var_c = _weighted_moments(matrix[used], full_c[used])
        after = (
            after_t.tolist(),
            after_c.tolist(),
            _smd(after_t - after_c, scale),
            _ratio(after_var_t, after_var_c, binary),
        )
    else:
        empty: list[Any] = [None] * len(binary)
        after = (empty, empty, empty, empty)
    return [
        BalanceRow(
            term=encoded.names[i],
            covariate=encoded.sources[i],
            binary=binary[i],
            mean_treated_before=float(mean_t[i]),
            mean_control_before=float(mean_c[i]),
            smd_before=smd_before[i],
            variance_ratio_before=ratio_before[i],
            mean_treated_after=after[0][i],
            mean_control_after=after[1][i],
            smd_after=after[2][i],
            variance_ratio_after=after[3][i],
        )
        for i in range(len(binary))
    ]


def imbalanced_terms(rows: list[BalanceRow], max_abs_smd: float) -> list[str]:
    """Terms whose |SMD| after matching exceeds ``max_abs_smd`` (or cannot be computed)."""
    return [row.term for row in rows if row.smd_after is None or abs(row.smd_after) > max_abs_smd]
