"""Probabilistic linkage of a cohort file to the register with Splink (Fellegi-Sunter model).

The deterministic stages (linkage.py) find people whose name, date of birth and sex agree
after normalisation; a typed cohort file also holds misspelt names and mistyped dates, which
only a probabilistic model scores. This module runs the Ministry of Justice's Splink 4 on its
in-process DuckDB backend:

* the frames come from the caller (the data door's granted columns); nothing is read from a
  file. DuckDB runs in memory with a memory ceiling and **no temporary directory**, so it can
  never spill plaintext rows to disk: a link too big for the ceiling fails loudly instead;
* blocking rules (``BLOCKING_RULES``) limit the pairs scored to those that agree on the date
  of birth, on forename and surname, or on surname and year of birth;
* the model: term-frequency adjustments on forename and surname, u probabilities by random
  sampling, m probabilities by expectation maximisation on the pairs of two blocking rules;
  the prior is one cohort person per register person (``1 / register size``);
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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import AnalysisParameterError, DataShapeError
from .linkage import ADMIN_PERSON_COLUMNS, LinkageResult, prepare_cohort, resolve_repeats
from .normalise import name_tokens, normalise_sex, parse_dates

# Pairs below this probability are not even kept for the estimate of recall.
SCORE_FLOOR = 0.001
WEIGHT_BIN = 2.0
ProgressFn = Callable[[float, str], None]


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


@dataclass(frozen=True)
class DuckDBLimits:
    """What the in-memory DuckDB may use (no temporary directory, so nothing spills) and how
    many random pairs estimate the u probabilities (Splink's default, a million; fewer in
    tests, whose registers are small)."""

    memory_limit: str = "2GB"
    threads: int = 2
    u_sample_pairs: float = 1e6


@dataclass
class ProbabilisticLinkageResult(LinkageResult):
    """The deterministic result's shape plus the pairs for clerical review and the report."""

    review: pd.DataFrame = field(default_factory=pd.DataFrame)
    quality: dict[str, Any] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        return {**super().report(), **self.quality}


def _split_names(names: pd.Series) -> pd.DataFrame:
    """Forename (first token) and surname (last token) in the normalised spelling."""
    text = names.astype("string").fillna("")
    tokens = {value: name_tokens(str(value)) for value in pd.unique(text.to_numpy())}
    first = {value: (t[0] if t else None) for value, t in tokens.items()}
    last = {value: (t[-1] if len(t) > 1 else None) for value, t in tokens.items()}
    return pd.DataFrame(
        {"first_name": text.map(first), "surname": text.map(last)}, index=names.index
    )


def _model_frame(ids: pd.Series, names: pd.Series, dob: pd.Series, sex: pd.Series) -> pd.DataFrame:
    frame = _split_names(names).reset_index(drop=True)
    frame.insert(0, "unique_id", ids.astype(str).to_numpy())
    frame["date_of_birth"] = pd.to_datetime(dob).dt.date.to_numpy()
    frame["birth_year"] = pd.to_datetime(dob).dt.year.astype("Int64").to_numpy()
    frame["sex"] = sex.to_numpy()
    return frame


def _settings(register_size: int) -> Any:
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        probability_two_random_records_match=1 / max(register_size, 2),
        comparisons=[
            cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=False),
            cl.ExactMatch("sex"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("date_of_birth"),
            block_on("first_name", "surname"),
            block_on("surname", "birth_year"),
            block_on("first_name", "birth_year"),
        ],
        retain_intermediate_calculation_columns=False,
    )


BLOCKING_RULES = (
    "same date of birth",
    "same forename and surname",
    "same surname and year of birth",
    "same forename and year of birth",
)


def _score(
    cohort: pd.DataFrame,
    register: pd.DataFrame,
    limits: DuckDBLimits,
    seed: int,
    progress: ProgressFn,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Every blocked pair with probability above ``SCORE_FLOOR`` and the trained model."""
    # DuckDB and Splink with the first probabilistic linkage, not with the service.
    import duckdb
    from splink import DuckDBAPI, Linker, block_on

    connection = duckdb.connect(
        ":memory:",
        config={
            "memory_limit": limits.memory_limit,
            "threads": limits.threads,
            # No temporary directory: DuckDB cannot offload blocks, so no plaintext on disk.
            "temp_directory": "",
        },
    )
    try:
        linker = Linker(
            [cohort, register],
            _settings(len(register)),
            DuckDBAPI(connection),
            set_up_basic_logging=False,
            input_table_aliases=["cohort", "register"],
        )
        progress(0.1, "estimating u probabilities by random sampling")
        linker.training.estimate_u_using_random_sampling(max_pairs=limits.u_sample_pairs, seed=seed)
        progress(0.3, "estimating m probabilities by expectation maximisation")
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on("date_of_birth")
        )
        # Common names recur in a national register: pairs blocked on the name alone are
        # mostly different people, and EM would learn that "same name" is what a match is.
        # Adding the month of birth keeps day errors and year errors in, namesakes mostly out.
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on("first_name", "surname", "month(date_of_birth)")
        )
        progress(0.6, "scoring the blocked pairs")
        predictions = linker.inference.predict(threshold_match_probability=SCORE_FLOOR)
        pairs = predictions.as_pandas_dataframe()  # type: ignore[no-untyped-call]
        model = linker.misc.save_model_to_json()
    finally:
        connection.close()
    if pairs.empty:
        pairs = pd.DataFrame(
            columns=["cohort_row", "person_id", "match_weight", "match_probability"]
        )
        return pairs, model
    cohort_side = pairs["source_dataset_l"] == "cohort"
    pairs = pd.DataFrame(
        {
            "cohort_row": np.where(cohort_side, pairs["unique_id_l"], pairs["unique_id_r"]),
            "person_id": np.where(cohort_side, pairs["unique_id_r"], pairs["unique_id_l"]),
            "match_weight": pairs["match_weight"].astype(float),
            "match_probability": pairs["match_probability"].astype(float),
        }
    )
    pairs["cohort_row"] = pairs["cohort_row"].astype(int)
    return pairs, model


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
        "blocking_rules": list(BLOCKING_RULES),
        "estimation": [
            "term-frequency adjustments on forename and surname",
            "u probabilities by random sampling of pairs",
            "m probabilities by expectation maximisation on pairs blocked on the date of birth, "
            "then on forename, surname and month of birth",
            "prior: each cohort person appears at most once in the register",
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
) -> ProbabilisticLinkageResult:
    """Link cohort rows to ``person_id`` with a Splink model estimated on these data."""
    report = progress or (lambda fraction, message: None)
    missing = [c for c in ADMIN_PERSON_COLUMNS if c not in admin_persons.columns]
    if missing:
        raise DataShapeError("admin", f"missing column(s): {', '.join(missing)}")
    frame, reason = prepare_cohort(cohort, day_first)
    frame = pd.concat([frame, _split_names(cohort["name"]).reset_index(drop=True)], axis=1)
    reason = resolve_repeats(frame, ["full_key", "date_of_birth", "sex"], reason)
    valid = frame[reason.isna()]
    persons = admin_persons.drop_duplicates("person_id").reset_index(drop=True)
    register = _model_frame(
        persons["person_id"],
        persons["name"],
        parse_dates(persons["date_of_birth"].astype("string"), day_first=False)
        if not pd.api.types.is_datetime64_any_dtype(persons["date_of_birth"])
        else persons["date_of_birth"],
        normalise_sex(persons["sex"]),
    )
    cohort_model = _model_frame(
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
    else:
        pairs, model = _score(cohort_model, register, limits or DuckDBLimits(), seed, report)
    report(0.9, "deciding links and clerical review")
    linked_pairs, review, best = _decide(pairs, thresholds)
    id_type = admin_persons["person_id"].dtype
    by_text = dict(zip(persons["person_id"].astype(str), persons["person_id"], strict=True))
    person = pd.Series(pd.NA, index=frame.index, dtype="object")
    person.loc[linked_pairs["cohort_row"].to_numpy()] = (
        linked_pairs["person_id"].map(by_text).to_numpy()
    )
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
    review = review.assign(person_id=review["person_id"].map(by_text))
    quality = _quality(best, linked_pairs, review, len(valid))
    quality["thresholds"] = thresholds.to_dict()
    quality["dropped_explained"] = {
        name: DROP_REASONS.get(name, name) for name in sorted(Counter(dropped["reason"]))
    }
    quality["model"] = _model_summary(model)
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


def _model_summary(model: dict[str, Any]) -> dict[str, Any]:
    """Per comparison level, the trained m and u probabilities (no data values)."""
    summary: dict[str, Any] = {}
    for comparison in model.get("comparisons", []):
        levels = []
        for level in comparison.get("comparison_levels", []):
            if level.get("is_null_level"):
                continue
            levels.append(
                {
                    "level": level.get("label_for_charts"),
                    "m": level.get("m_probability"),
                    "u": level.get("u_probability"),
                }
            )
        summary[comparison.get("output_column_name", "?")] = levels
    return summary
