"""Probabilistic linkage of a cohort file to the register with Splink (Fellegi-Sunter model).

The deterministic stages (linkage.py) find people whose name, date of birth and sex agree
after normalisation; a typed cohort file also holds misspelt names and mistyped dates, which
only a probabilistic model scores. This module runs the Ministry of Justice's Splink 4 on its
in-process DuckDB backend (the model and the scoring: splink_model.py):

* the frames come from the caller (the data door's granted columns); nothing is read from a
  file. DuckDB runs in memory with a memory ceiling and **no temporary directory**, so it can
  never spill plaintext rows to disk: a link too big for the ceiling fails loudly instead;
* blocking rules pair cohort rows with register people only (``link_only``): four tight
  rules always (``TIGHT_RULES``), whose pairs grow with the cohort and not with the register,
  and the broad ones (``BROAD_RULES``) while their pairs fit a fixed budget;
* the model: term-frequency adjustments on forename and surname, u probabilities by random
  sampling of a fixed number of pairs, m probabilities by expectation maximisation on pairs of
  a cohort row and a register person (``TRAINING_RULES``), then refined on the scored pairs
  weighted by their one-to-one probability (``_refine_m``); the prior is one cohort person per
  register person (``1 / register size``), and a pair's probability is that of being its
  row's one register record given every candidate of the row (``_one_to_one``);
* each valid cohort row's best pair decides: at or above ``accept`` (and no second pair
  there) the row is linked; between ``review`` and ``accept``, or two pairs above ``accept``,
  the pair goes to clerical review; below ``review`` the row is ``not_found``;
* the report: match rates, the distribution of the best match weights, an estimate of
  precision and recall from the model's own match probabilities, and the rows dropped by
  reason. It holds counts and weights only, never a name or a date.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .engines import DUCKDB, ENGINE_LABELS, SPARK
from .errors import AnalysisParameterError, DataShapeError
from .linkage import ADMIN_PERSON_COLUMNS, LinkageResult, prepare_cohort, resolve_repeats
from .normalise import normalise_sex, parse_dates
from .splink_model import (
    DuckDBLimits,
    ProgressFn,
    model_frame,
    model_summary,
    score_pairs,
    split_names,
)

# The chance that a cohort person present in the register has no pair among those scored (the
# blocking rules missed them, or two errors sank the pair below SCORE_FLOOR). The labelled sets
# show 0.2 to 0.3%; 5% keeps a lone candidate with weak evidence (the names agree, the date of
# birth is years out) from passing for certain: measured on the generator's truth at 1 million,
# 1% linked such pairs and 5% did not, for 0.5% of recall.
UNSEEN = 0.05
WEIGHT_BIN = 2.0


@dataclass(frozen=True)
class LinkageThresholds:
    """Match probabilities: ``accept`` links a pair, ``review`` sends it to clerical review."""

    accept: float = 0.95
    review: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.accept < 1:
            raise AnalysisParameterError("linkage.accept_probability", "must be between 0 and 1")
        if not 0 < self.review <= self.accept:
            raise AnalysisParameterError(
                "linkage.review_probability",
                "must be above 0 and at most the acceptance probability",
            )

    def to_dict(self) -> dict[str, float]:
        return {"accept_probability": self.accept, "review_probability": self.review}


METHODS = ("deterministic", "probabilistic")


@dataclass(frozen=True)
class LinkageOptions:
    """How an analysis links its cohort: the deterministic stages, or Splink with thresholds
    (the agreement's ``analysis.linkage.min_match_probability`` bounds ``accept_probability``)."""

    method: str = "deterministic"
    accept_probability: float = 0.95
    review_probability: float = 0.5

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise AnalysisParameterError("linkage.method", f"choose one of {', '.join(METHODS)}")
        for name in ("accept_probability", "review_probability"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise AnalysisParameterError(f"linkage.{name}", "must be a number")
        self.thresholds()

    def thresholds(self) -> LinkageThresholds:
        return LinkageThresholds(float(self.accept_probability), float(self.review_probability))

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "accept_probability": self.accept_probability,
            "review_probability": self.review_probability,
        }


@dataclass
class ProbabilisticLinkageResult(LinkageResult):
    """The deterministic result's shape plus the pairs for clerical review and the report."""

    review: pd.DataFrame = field(default_factory=pd.DataFrame)
    quality: dict[str, Any] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        return {**super().report(), **self.quality}


def _one_to_one(pairs: pd.DataFrame, register_size: int, valid_rows: int) -> pd.DataFrame:
    """Each pair's probability of being *the* register record of its cohort row.

    Splink scores a pair on its own, with a prior of one chance in the register's size, so in a
    national register a pair agreeing on everything still scores below 0.95 although nobody
    else comes close. A cohort row is one person, in the register once or not at all: given
    every candidate of the row, pair j is the match with probability
    ``q B_j / ((1 - share) + share * UNSEEN + q * sum(B))``, where ``B`` is each pair's Bayes
    factor, ``share`` the share of cohort people present in the register (estimated here, by
    fixed point, from the rows' own candidates), ``q = share / register size``, and
    ``UNSEEN`` the chance that a present person's record is not among the pairs scored. Two
    candidates agreeing equally split the probability, so neither is linked."""
    if pairs.empty:
        return pairs
    prior_odds = 1 / max(register_size - 1, 1)
    bayes = np.exp2(pairs["match_weight"].to_numpy(dtype=float)) / prior_odds
    rows = pairs["cohort_row"].to_numpy()
    total = pd.Series(bayes).groupby(rows).transform("sum").to_numpy()
    per_row = pd.Series(bayes).groupby(rows).sum().to_numpy()
    share = 0.5
    for _ in range(200):
        weight = share / register_size
        present = weight * per_row / ((1 - share) + share * UNSEEN + weight * per_row)
        update = min(float(present.sum()) / max(valid_rows, 1), 1.0)
        converged = abs(update - share) < 1e-9
        share = update
        if converged:
            break
    weight = share / register_size
    probability = weight * bayes / ((1 - share) + share * UNSEEN + weight * total)
    return pairs.assign(match_probability=probability)


# Iterations of the m refinement (``_refine_m``); it settles in fewer (changes below 1e-4).
REFINE_ITERATIONS = 30
# Pseudo-pairs that hold a refined m near Splink's estimate where few pairs speak (a small
# cohort, a level no scored pair reaches); and the least m a level may take, so that no
# single disagreement can veto a pair outright.
REFINE_PRIOR_PAIRS = 20.0
M_FLOOR = 1e-4


def _levels(model: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Each comparison's gamma column and its non-null levels, indexed by gamma value
    (Splink lists them from the highest value, the closest agreement, down to 0)."""
    found = []
    for comparison in model.get("comparisons", []):
        levels = [
            level for level in comparison["comparison_levels"] if not level.get("is_null_level")
        ]
        found.append((f"gamma_{comparison['output_column_name']}", levels[::-1]))
    return found


def _refine_m(
    pairs: pd.DataFrame, model: dict[str, Any], register_size: int, valid_rows: int
) -> pd.DataFrame:
    """Re-estimate every comparison's m on the scored pairs, weighted by their one-to-one
    probability, and re-score (expectation maximisation on the one-to-one model, u kept).

    Splink's EM sees pairs one at a time: among namesakes (the date of birth's training block)
    it cannot tell the row's one match from its rivals, so the date's levels "within ten
    years" and "further" kept 42% of the matches' m (measured at 1 million; the generator's
    truth is under 1%) and at 10 million the namesakes born years apart, hundreds per row,
    together outweighed the person. Here each row's candidates share one match, so the
    weights follow the pairs the model itself believes, and the model's m is updated in place
    for the report."""
    # A comparison Splink left untrained (a tiny register) keeps its default weights, which
    # its saved model does not state.
    comparisons = [
        (column, levels)
        for column, levels in _levels(model)
        if column in pairs.columns and all("m_probability" in level for level in levels)
    ]
    if pairs.empty or not comparisons:
        return _one_to_one(pairs, register_size, valid_rows)
    splink_weight = pairs["match_weight"].to_numpy(dtype=float)
    gammas = {column: pairs[column].to_numpy() for column, _ in comparisons}
    start = {
        column: np.array([level["m_probability"] for level in levels])
        for column, levels in comparisons
    }
    current = dict(start)
    scored = _one_to_one(pairs, register_size, valid_rows)
    for _ in range(REFINE_ITERATIONS):
        probability = scored["match_probability"].to_numpy()
        change = 0.0
        for column in start:
            gamma = gammas[column]
            present = gamma >= 0
            mass = np.bincount(
                gamma[present], weights=probability[present], minlength=len(start[column])
            )
            m = (mass + REFINE_PRIOR_PAIRS * start[column]) / (mass.sum() + REFINE_PRIOR_PAIRS)
            m = np.maximum(m, M_FLOOR)
            m /= m.sum()
            change = max(change, float(np.abs(m - current[column]).max()))
            current[column] = m
        shift = np.zeros(len(pairs))
        for column in start:
            gamma = gammas[column]
            ratio = np.log2(current[column] / start[column])
            shift += np.where(gamma >= 0, ratio[np.maximum(gamma, 0)], 0.0)
        scored = _one_to_one(
            pairs.assign(match_weight=splink_weight + shift), register_size, valid_rows
        )
        if change < 1e-4:
            break
    for column, levels in comparisons:
        for level, m in zip(levels, current[column], strict=True):
            level["m_probability"] = float(m)
    return scored


def _decide(
    pairs: pd.DataFrame, thresholds: LinkageThresholds
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Best pair per cohort row; linked, review (with why) and every row's best pair."""
    ranked = pairs.sort_values(["cohort_row", "match_probability"], ascending=[True, False])
    best = ranked.drop_duplicates("cohort_row")
    above = ranked[ranked["match_probability"] >= thresholds.accept].groupby("cohort_row").size()
    ambiguous = best["cohort_row"].map(above).fillna(0).to_numpy() > 1
    accepted = (best["match_probability"] >= thresholds.accept).to_numpy() & ~ambiguous
    reviewed = (best["match_probability"] >= thresholds.review).to_numpy() & ~accepted
    review = best[reviewed].assign(
        why=np.where(ambiguous[reviewed], "several pairs above the acceptance threshold", "")
    )
    review["why"] = review["why"].where(review["why"] != "", "between the thresholds")
    return best[accepted], review.reset_index(drop=True), best


def _weight_histogram(weights: pd.Series) -> list[dict[str, float | int]]:
    if weights.empty:
        return []
    low = math.floor(weights.min() / WEIGHT_BIN) * WEIGHT_BIN
    high = math.floor(weights.max() / WEIGHT_BIN) * WEIGHT_BIN + WEIGHT_BIN
    edges = np.arange(low, high + WEIGHT_BIN / 2, WEIGHT_BIN)
    counts, _ = np.histogram(weights.to_numpy(), bins=edges)
    return [
        {"from": float(a), "to": float(b), "rows": int(c)}
        for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)
    ]


def _quality(
    best: pd.DataFrame, linked: pd.DataFrame, review: pd.DataFrame, valid_rows: int
) -> dict[str, Any]:
    """Precision and recall as the model itself expects them (no truth needed): a linked pair
    is right with its match probability; every valid row's best pair is its true match with its
    probability (a person appears at most once in the register)."""
    expected_true = float(best["match_probability"].sum())
    expected_linked_true = float(linked["match_probability"].sum())
    return {
        "valid_rows": valid_rows,
        "match_rate": round(len(linked) / valid_rows, 4) if valid_rows else 0.0,
        "review_rate": round(len(review) / valid_rows, 4) if valid_rows else 0.0,
        "estimated_precision": round(expected_linked_true / len(linked), 4)
        if len(linked)
        else None,
        "estimated_recall": round(expected_linked_true / expected_true, 4)
        if expected_true
        else None,
        "weight_distribution": _weight_histogram(best["match_weight"]),
        "estimation": [
            "term-frequency adjustments on forename and surname",
            "u probabilities by random sampling of pairs",
            "m probabilities by expectation maximisation on pairs of a cohort row and a "
            "register person sharing the date of birth, then forename and surname",
            "m probabilities refined on every scored pair, weighted by its one-to-one probability",
            "prior: each cohort person appears at most once in the register",
            "a pair's probability is that of being its cohort row's one register record, "
            "given every candidate of the row",
        ],
    }


def link_cohort_probabilistic(
    cohort: pd.DataFrame,
    admin_persons: pd.DataFrame,
    thresholds: LinkageThresholds,
    day_first: bool = True,
    limits: DuckDBLimits | None = None,
    seed: int = 1,
    progress: ProgressFn | None = None,
    spark_session: Any = None,
) -> ProbabilisticLinkageResult:
    """Link cohort rows to ``person_id`` with a Splink model estimated on these data, on
    ``spark_session`` when the run is on Spark, else on an in-memory DuckDB."""
    report = progress or (lambda fraction, message: None)
    missing = [c for c in ADMIN_PERSON_COLUMNS if c not in admin_persons.columns]
    if missing:
        raise DataShapeError("admin", f"missing column(s): {', '.join(missing)}")
    frame, reason = prepare_cohort(cohort, day_first)
    frame = pd.concat([frame, split_names(cohort["name"]).reset_index(drop=True)], axis=1)
    reason = resolve_repeats(frame, ["full_key", "date_of_birth", "sex"], reason)
    valid = frame[reason.isna()]
    persons = admin_persons.drop_duplicates("person_id").reset_index(drop=True)
    register = model_frame(
        np.arange(len(persons)),
        persons["name"],
        parse_dates(persons["date_of_birth"].astype("string"), day_first=False)
        if not pd.api.types.is_datetime64_any_dtype(persons["date_of_birth"])
        else persons["date_of_birth"],
        normalise_sex(persons["sex"]),
    )
    cohort_model = model_frame(
        valid["cohort_row"],
        cohort.loc[valid["cohort_row"], "name"],
        valid["date_of_birth"],
        valid["sex"],
    )
    if valid.empty or register.empty:
        pairs = pd.DataFrame(
            columns=["cohort_row", "person_id", "match_weight", "match_probability"]
        )
        model: dict[str, Any] = {}
        rules: list[str] = []
    else:
        pairs, model, rules = score_pairs(
            cohort_model, register, limits or DuckDBLimits(), seed, report, spark_session
        )
    report(0.9, "deciding links and clerical review")
    pairs = _refine_m(pairs, model, len(register), len(valid))
    linked_pairs, review, best = _decide(pairs, thresholds)
    id_type = admin_persons["person_id"].dtype
    person_ids = persons["person_id"].to_numpy()  # the model's register key is the position
    person = pd.Series(pd.NA, index=frame.index, dtype="object")
    person.loc[linked_pairs["cohort_row"].to_numpy()] = person_ids[
        linked_pairs["person_id"].to_numpy()
    ]
    in_review = frame["cohort_row"].isin(review["cohort_row"])
    reason = reason.mask(reason.isna() & in_review, "clerical_review")
    reason = reason.mask(reason.isna() & person.isna(), "not_found")
    frame["person_id"] = person
    reason = resolve_repeats(frame, ["person_id"], reason)
    kept = reason.isna()
    linked = frame.loc[kept, ["cohort_row", "person_id", "intervention_start", "intervention_end"]]
    linked = linked.assign(stage="probabilistic").reset_index(drop=True)
    linked["person_id"] = linked["person_id"].astype(id_type)
    dropped = pd.DataFrame(
        {"cohort_row": frame.loc[~kept, "cohort_row"], "reason": reason[~kept].astype(str)}
    ).reset_index(drop=True)
    review = review.assign(person_id=person_ids[review["person_id"].to_numpy(dtype=np.int64)])
    quality = _quality(best, linked_pairs, review, len(valid))
    quality["blocking_rules"] = rules
    quality["splink_backend"] = ENGINE_LABELS[SPARK if spark_session is not None else DUCKDB]
    quality["thresholds"] = thresholds.to_dict()
    quality["dropped_explained"] = {
        name: DROP_REASONS.get(name, name) for name in sorted(Counter(dropped["reason"]))
    }
    quality["model"] = model_summary(model)
    return ProbabilisticLinkageResult(
        linked=linked,
        dropped=dropped,
        submitted=len(cohort),
        reached_person_ids=person.dropna().unique().tolist(),
        review=review[["cohort_row", "person_id", "match_weight", "match_probability", "why"]],
        quality=quality,
    )


DROP_REASONS = {
    "invalid_name": "the name is missing or empty",
    "invalid_date_of_birth": "the date of birth is missing or unreadable",
    "invalid_sex": "the sex is missing or not a known code",
    "invalid_intervention_dates": "the intervention dates are missing, unreadable or reversed",
    "duplicate_in_cohort": "the same person with the same dates appears earlier in the file",
    "multiple_interventions": "the same person appears with different interventions",
    "clerical_review": "the best pair scored between the review and acceptance thresholds, or "
    "several pairs scored above acceptance: a person with the identifiers grant decides",
    "not_found": "no pair scored at or above the review threshold",
}
