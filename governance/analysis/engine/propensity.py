"""Propensity model: covariate encoding and an unpenalised logistic regression.

Owned here: checking that the model is identifiable and fitting it by maximum likelihood with
statsmodels ``Logit`` (Newton-Raphson) on the covariates ``encoding.py`` prepares (numeric as
they are; categoricals one-hot against a reference level, the first in sorted order, as R's
``factor`` does).

Why statsmodels rather than scikit-learn: the published results the engine is validated against
(MatchIt's ``distance = "glm"``, Austin's tutorials, the JDL methodology) use the plain maximum
likelihood logit. statsmodels fits exactly that model with no penalty to switch off, and reports
convergence and standard errors, so a non-identifiable model fails loudly instead of quietly
shrinking coefficients as a default-penalised solver would.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from .encoding import MISSING_LEVEL, EncodedCovariates, encode_covariates
from .errors import DataShapeError, PropensityModelError

__all__ = [
    "MISSING_LEVEL",
    "EncodedCovariates",
    "PropensityModel",
    "check_identifiable",
    "encode_covariates",
    "fit_propensity",
]


@dataclass(frozen=True)
class PropensityModel:
    """Fitted logit: coefficients (intercept first), SEs, and each unit's score."""

    names: list[str]
    coefficients: np.ndarray
    standard_errors: np.ndarray
    linear_predictor: np.ndarray
    iterations: int

    @property
    def propensity(self) -> np.ndarray:
        return np.asarray(1.0 / (1.0 + np.exp(-self.linear_predictor)))

    def coefficient_table(self) -> list[dict[str, float | str]]:
        return [
            {"term": name, "coefficient": float(value), "standard_error": float(se)}
            for name, value, se in zip(
                self.names, self.coefficients, self.standard_errors, strict=True
            )
        ]


def check_identifiable(
    encoded: EncodedCovariates, treatment: np.ndarray, design: np.ndarray | None = None
) -> None:
    """Refuse designs whose maximum likelihood estimate does not exist or is not unique."""
    model = encoded.model_columns
    treated = treatment == 1
    if treated.all() or not treated.any():
        raise PropensityModelError("need both treated and comparison units to fit the model")
    for position in model:
        name = encoded.names[position]
        column = encoded.matrix[:, position]
        if np.ptp(column) == 0:
            raise PropensityModelError(f"covariate {name!r} does not vary; remove it")
        if encoded.binary[position]:
            # A level present in only one group makes its coefficient run off to infinity
            # (quasi-complete separation): the model cannot say how alike the groups are.
            in_treated = column[treated].any()
            in_control = column[~treated].any()
            absent_treated = (column[treated] == 0).any()
            absent_control = (column[~treated] == 0).any()
            if not (in_treated and in_control and absent_treated and absent_control):
                raise PropensityModelError(
                    f"perfect separation: {name!r} occurs in (or is absent from) only one group; "
                    "merge or drop that level"
                )
    if design is None:
        design = _design(encoded)[0]
    _check_rank(design, ["(intercept)"] + [encoded.names[i] for i in model])


def _design(encoded: EncodedCovariates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intercept plus the model columns, each centred and scaled to unit SD, with the centres
    and scales. Earnings in dollars beside indicators make the Hessian too ill-conditioned for
    Newton's method; the maximum-likelihood fit is equivariant under this affine change, so
    coefficients are transformed back exactly afterwards."""
    model = encoded.model_columns
    design = np.empty((encoded.matrix.shape[0], len(model) + 1), order="F")
    design[:, 0] = 1.0
    centres = np.zeros(len(model))
    scales = np.ones(len(model))
    for position, column in enumerate(model):
        values = encoded.column(column)
        centres[position] = values.mean()
        spread = values.std()
        scales[position] = spread if spread > 0 else 1.0
        design[:, position + 1] = (values - centres[position]) / scales[position]
    return design, centres, scales


def standardised_design(encoded: EncodedCovariates) -> np.ndarray:
    """The design the logit is fitted on (intercept, then standardised model columns)."""
    return _design(encoded)[0]


def _original_scale(
    params: np.ndarray, covariance: np.ndarray, centres: np.ndarray, scales: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and standard errors for the unscaled covariates: beta = A beta'."""
    transform = np.eye(len(params))
    transform[0, 1:] = -centres / scales
    transform[1:, 1:] = np.diag(1.0 / scales)
    coefficients = transform @ params
    standard_errors = np.sqrt(np.diag(transform @ covariance @ transform.T))
    return coefficients, standard_errors


def _check_rank(design: np.ndarray, names: list[str]) -> None:
    gram = design.T @ design
    scale = np.sqrt(np.diag(gram))
    scaled = gram / np.outer(scale, scale)
    kept: list[int] = []
    for position in range(len(names)):
        trial = [*kept, position]
        if np.linalg.matrix_rank(scaled[np.ix_(trial, trial)], tol=1e-10) < len(trial):
            raise PropensityModelError(
                f"covariate {names[position]!r} is a linear combination of earlier covariates"
            )
        kept = trial


_WARM_START_ROWS = 200_000


def _starting_values(design: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """Marginal log-odds for the intercept, or, for large data, a fit on all treated units and
    a random sample of controls with the intercept shifted by log(sampling fraction).

    The shift is exact for logistic models fitted on control-sampled data (Prentice & Pyke
    1979), so Newton's method on the full data starts next to the optimum and needs 2-3 steps
    instead of 8-10. The final estimate is the full-data maximum likelihood either way.
    """
    share = outcome.mean()
    start = np.zeros(design.shape[1])
    start[0] = np.log(share / (1 - share))
    controls = np.flatnonzero(outcome == 0)
    if len(outcome) <= _WARM_START_ROWS or len(controls) <= _WARM_START_ROWS // 2:
        return start
    fraction = (_WARM_START_ROWS // 2) / len(controls)
    sampled = np.random.default_rng(0).choice(controls, _WARM_START_ROWS // 2, replace=False)
    rows = np.sort(np.concatenate([np.flatnonzero(outcome == 1), sampled]))
    sample_start = start.copy()
    sample_start[0] = np.log(outcome[rows].mean() / (1 - outcome[rows].mean()))
    try:
        with warnings.catch_warnings():
            # Trouble on the sample is met again, and reported, by the full fit.
            warnings.simplefilter("ignore")
            rough = _logit()(outcome[rows], design[rows], check_rank=False).fit(
                start_params=sample_start, method="newton", maxiter=50, disp=0
            )
    except Exception:
        return start
    params = np.asarray(rough.params, dtype=float)
    if not np.all(np.isfinite(params)):
        return start
    params[0] += np.log(fraction)
    return params


# Rows per block where a pass over every unit would otherwise copy the design (gigabytes for
# ten million units); a block's copy stays near 40 MB.
BLOCK_ROWS = 1 << 18


def weighted_gram(design: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_i w_i X_i X_i', a block of rows at a time (never a weighted copy of the design)."""
    gram = np.zeros((design.shape[1], design.shape[1]))
    for start in range(0, design.shape[0], BLOCK_ROWS):
        block = design[start : start + BLOCK_ROWS]
        gram += (block * weights[start : start + BLOCK_ROWS, None]).T @ block
    return gram


@cache
def _logit() -> Any:
    """statsmodels' Logit, imported when a model is first fitted: statsmodels takes about a
    second to import, which every CLI command and web worker would otherwise pay at start.
    Its Hessian is the same sum, taken a block of rows at a time: statsmodels' own makes a
    weighted copy of the whole design at every Newton step."""
    from statsmodels.discrete.discrete_model import Logit

    class BlockLogit(Logit):  # type: ignore[misc]
        def hessian(self, params: np.ndarray) -> np.ndarray:
            fitted = self.predict(params)
            return -weighted_gram(self.exog, fitted * (1 - fitted))

    return BlockLogit


def _attempt(
    design: np.ndarray, outcome: np.ndarray, start: np.ndarray | None, max_iterations: int
) -> tuple[Any, list[str]]:
    """One fit; ``start=None`` means BFGS first, then Newton from where BFGS stopped.
    Returns the result (None if it failed) and every warning or error it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # Rank was checked already, so statsmodels' own (slow, QR-based) check is skipped.
            model = _logit()(outcome, design, check_rank=False)
            if start is None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # only the final Newton fit must be clean
                    start = model.fit(method="bfgs", maxiter=1000, disp=0).params
            result = model.fit(start_params=start, method="newton", maxiter=max_iterations, disp=0)
        except Exception as error:  # statsmodels raises several types on singular Hessians
            return None, [str(error)]
    problems = [str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)]
    if not bool(result.mle_retvals.get("converged", False)):
        problems.append("Newton-Raphson did not converge")
    return result, problems


def fit_propensity(
    encoded: EncodedCovariates, treatment: np.ndarray, max_iterations: int = 100
) -> PropensityModel:
    """Maximum-likelihood logit of treatment on the encoded covariates (with intercept);
    reference-level columns of an all-levels encoding are left out of the model."""
    outcome = np.asarray(treatment, dtype=float)
    if not np.isin(outcome, (0.0, 1.0)).all():
        raise DataShapeError("data", "treatment indicator must be 0/1")
    design, centres, scales = _design(encoded)
    check_identifiable(encoded, outcome, design)
    # Newton-Raphson has no line search: from a poor start it can overshoot into a singular
    # Hessian although the maximum exists. Try the fast start, then zeros, then BFGS to get
    # near the optimum before Newton; report the last failure if none converges cleanly.
    starts = [_starting_values(design, outcome), np.zeros(design.shape[1]), None]
    failure = "Newton-Raphson did not converge"
    for start in starts:
        result, problems = _attempt(design, outcome, start, max_iterations)
        if result is not None and not problems:
            break
        failure = "; ".join(problems) or failure
    else:
        raise PropensityModelError(f"propensity model could not be fitted (separation?): {failure}")
    linear = design @ result.params
    if np.max(np.abs(linear)) > 30:
        raise PropensityModelError(
            "perfect separation: some units are predicted treated or untreated with certainty; "
            "covariates separate the groups, so no comparable controls exist for them"
        )
    coefficients, standard_errors = _original_scale(
        np.asarray(result.params), np.asarray(result.cov_params()), centres, scales
    )
    return PropensityModel(
        names=["(intercept)"] + [encoded.names[i] for i in encoded.model_columns],
        coefficients=coefficients,
        standard_errors=standard_errors,
        linear_predictor=linear,
        iterations=int(result.mle_retvals.get("iterations", 0)),
    )
