"""Generic propensity-score matching estimate of the average treatment effect on the treated.

``estimate_att`` is the dataset-agnostic entry point (LaLonde's NSW data, the JDL cohort, any
DataFrame with a 0/1 treatment column): fit the propensity model, match, measure balance, and
compare each outcome between matched treated units and their weighted matched controls.
The ATT is mean(treated) - weighted mean(controls); its standard error is Abadie and Imbens's
(2006) matching variance by default (matching_variance.py), or, with ``variance="welch"``, the
weighted Welch t-test (continuous outcomes) or weighted two-proportion z-test (binary outcomes)
from stats.py, which ignore the pairs and the reuse of controls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .balance import BalanceRow, balance_table
from .encoding import EncodedCovariates, encode_covariates
from .errors import AnalysisParameterError, DataShapeError
from .matching import MatchAssignment, MatchingOptions, match_scores
from .matching_variance import abadie_imbens
from .propensity import PropensityModel, fit_propensity
from .stats import weighted_proportion_test, weighted_summary, welch_t_test

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class OutcomeSpec:
    """An outcome to compare: "binary" (0/1) or "continuous"; ``among`` restricts the comparison
    to units whose 0/1 column ``among`` is 1 (e.g. days to re-offence among re-offenders)."""

    column: str
    kind: str = "continuous"
    label: str | None = None
    among: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("binary", "continuous"):
            raise AnalysisParameterError(
                "outcomes", f"{self.column}: kind must be binary or continuous"
            )


@dataclass(frozen=True)
class OutcomeEstimate:
    """Matched comparison of one outcome."""

    outcome: str
    kind: str
    treated_n: int
    control_n: int
    control_effective_n: float
    treated_mean: float | None
    control_mean: float | None
    att: float | None
    test: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ATTResult:
    """Everything ``estimate_att`` found; ``weights`` is indexed like the input data."""

    options: MatchingOptions
    model: PropensityModel
    assignment: MatchAssignment
    balance: list[BalanceRow]
    outcomes: list[OutcomeEstimate]
    weights: pd.Series
    encoded: EncodedCovariates
    n_treated: int
    n_control: int
    unmatched: dict[str, int] = field(default_factory=dict)
    # The matching score of every row (the logit or the propensity, as matched on).
    score: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def n_treated_matched(self) -> int:
        return int(self.assignment.treated_matched.sum())

    @property
    def n_controls_used(self) -> int:
        return int((self.assignment.control_weights > 0).sum())

    @property
    def max_abs_smd_after(self) -> float | None:
        values = [abs(row.smd_after) for row in self.balance if row.smd_after is not None]
        return max(values) if values else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "options": self.options.to_dict(),
            "propensity_model": self.model.coefficient_table(),
            "n_treated": self.n_treated,
            "n_control": self.n_control,
            "n_treated_matched": self.n_treated_matched,
            "unmatched": dict(self.unmatched),
            "n_controls_used": self.n_controls_used,
            "caliper_width": self.assignment.caliper_width,
            "balance": [row.to_dict() for row in self.balance],
            "outcomes": [outcome.to_dict() for outcome in self.outcomes],
        }


def estimate_att(
    data: pd.DataFrame,
    treatment_column: str,
    covariates: Sequence[str],
    outcomes: Sequence[OutcomeSpec],
    options: MatchingOptions | None = None,
    categorical: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> ATTResult:
    """Propensity-score matching ATT of ``treatment_column`` on each outcome."""
    options = options or MatchingOptions()
    report = progress or (lambda fraction, message: None)
    if treatment_column not in data.columns:
        raise DataShapeError("data", f"missing treatment column {treatment_column!r}")
    treatment = pd.to_numeric(data[treatment_column], errors="coerce")
    if treatment.isna().any() or not treatment.isin([0, 1]).all():
        raise DataShapeError("data", f"{treatment_column!r} must be 0/1 for every row")
    is_treated = treatment.to_numpy(dtype=int) == 1
    report(0.05, "fitting propensity model")
    encoded = encode_covariates(data, covariates, categorical, drop_reference=False)
    model = fit_propensity(encoded, is_treated.astype(int))
    score = model.linear_predictor if options.distance == "logit" else model.propensity
    report(0.5, "matching")
    assignment = match_scores(score[is_treated], score[~is_treated], options)
    weights = np.zeros(len(data))
    weights[is_treated] = assignment.treated_matched.astype(float)
    weights[~is_treated] = assignment.control_weights
    report(0.7, "measuring balance")
    balance = balance_table(
        encoded,
        is_treated.astype(int),
        weights[is_treated],
        weights[~is_treated],
        options.smd_denominator,
    )
    report(0.85, "comparing outcomes")
    structure = MatchStructure(score, assignment, options.variance)
    results = compare_outcomes(data, outcomes, is_treated, weights, structure)
    report(1.0, "done")
    return ATTResult(
        options=options,
        model=model,
        assignment=assignment,
        balance=balance,
        outcomes=results,
        encoded=encoded,
        weights=pd.Series(weights, index=data.index, name="weight"),
        n_treated=int(is_treated.sum()),
        n_control=int((~is_treated).sum()),
        unmatched=dict(Counter(r for r in assignment.unmatched_reason if r is not None)),
        score=np.asarray(score),
    )


@dataclass(frozen=True)
class MatchStructure:
    """What the Abadie-Imbens variance needs beyond the weights: the score matched on (one per
    row), the assignment, and which variance was asked for."""

    score: np.ndarray
    assignment: MatchAssignment
    variance: str = "abadie_imbens"


def compare_outcomes(
    data: pd.DataFrame,
    specs: Sequence[OutcomeSpec],
    is_treated: np.ndarray,
    weights: np.ndarray,
    structure: MatchStructure | None = None,
) -> list[OutcomeEstimate]:
    """Compare each outcome between treated (weight 1 if matched) and weighted controls;
    rows with weight 0 (unmatched treated, unused controls) are ignored. With ``structure``
    (rows as given to matching) the test uses the Abadie-Imbens variance unless it asks for
    Welch; outcome values may then be missing outside the matched people and their nearest
    same-group neighbours."""
    flags = np.asarray(is_treated, dtype=bool)
    return [
        _compare_outcome(data, spec, flags, np.asarray(weights, dtype=float), structure)
        for spec in specs
    ]


def _compare_outcome(
    data: pd.DataFrame,
    spec: OutcomeSpec,
    is_treated: np.ndarray,
    weights: np.ndarray,
    structure: MatchStructure | None = None,
) -> OutcomeEstimate:
    for column in (spec.column, spec.among):
        if column is not None and column not in data.columns:
            raise DataShapeError("data", f"missing outcome column {column!r}")
    values = pd.to_numeric(data[spec.column], errors="coerce").to_numpy(dtype=float)
    usable = (weights > 0) & np.isfinite(values)
    if spec.among is not None:
        usable &= pd.to_numeric(data[spec.among], errors="coerce").fillna(0).to_numpy() == 1
    treated = usable & is_treated
    control = usable & ~is_treated
    name = spec.label or spec.column
    if not treated.any() or not control.any():
        return OutcomeEstimate(
            name, spec.kind, int(treated.sum()), int(control.sum()), 0.0, None, None, None, None
        )
    control_summary = weighted_summary(values[control], weights[control])
    if structure is not None and structure.variance == "abadie_imbens":
        among = None
        if spec.among is not None:
            among = pd.to_numeric(data[spec.among], errors="coerce").fillna(0).to_numpy() == 1
        matched = abadie_imbens(
            values, is_treated, weights, structure.score, structure.assignment, among
        )
        if matched is not None:
            return OutcomeEstimate(
                outcome=name,
                kind=spec.kind,
                treated_n=int(treated.sum()),
                control_n=int(control.sum()),
                control_effective_n=control_summary.effective_n,
                treated_mean=matched.treated_mean,
                control_mean=matched.control_mean,
                att=matched.difference,
                test=matched.to_dict(),
            )
    if spec.kind == "binary":
        test: Any = weighted_proportion_test(values[treated], values[control], weights[control])
        treated_mean, control_mean = test.rate_1, test.rate_2
    else:
        test = welch_t_test(values[treated], values[control], weights_2=weights[control])
        treated_mean, control_mean = test.mean_1, test.mean_2
    return OutcomeEstimate(
        outcome=name,
        kind=spec.kind,
        treated_n=int(treated.sum()),
        control_n=int(control.sum()),
        control_effective_n=control_summary.effective_n,
        treated_mean=treated_mean,
        control_mean=control_mean,
        att=treated_mean - control_mean,
        test=test.to_dict(),
    )
