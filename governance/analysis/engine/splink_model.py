"""The Splink model of probabilistic_linkage.py: what is compared, which pairs are scored, how
the model is estimated, and the scoring itself, on an in-memory DuckDB that cannot spill or on
the run's Spark session (splink_stores.py).

The register side is prepared once: names split per distinct value, the frames copied into
the engine's tables keyed by integers, the blocking keys derived in SQL. Nothing here decides a
link; the caller turns the scored pairs into links, clerical review and the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from .normalise import name_tokens
from .splink_stores import SplinkStore, store_for

ProgressFn = Callable[[float, str], None]

# Pairs below this probability (Splink's, pair by pair) are not even kept for the estimate of
# recall.
SCORE_FLOOR = 0.001


@dataclass(frozen=True)
class DuckDBLimits:
    """What the in-memory DuckDB may use (no temporary directory, so nothing spills), how
    many random pairs estimate the u probabilities (Splink's default, a million, whatever the
    register's size; fewer in tests, whose registers are small) and how many blocked pairs
    the broader blocking rules may bring (``BROAD_RULES``)."""

    memory_limit: str = "2GB"
    threads: int = 2
    u_sample_pairs: float = 1e6
    pair_budget: float = 1e7


def split_names(names: pd.Series) -> pd.DataFrame:
    """Forename (first token), middle names (the tokens between, or none) and surname (last
    token) in the normalised spelling, worked out once per distinct name: a national register
    repeats its names, and no copy of ten million strings is made on the way."""
    codes, distinct = pd.factorize(names.astype(object).where(names.notna(), ""))
    tokens = [name_tokens(str(value)) for value in distinct]
    parts = {
        "first_name": [t[0] if t else None for t in tokens],
        "middle_names": [" ".join(t[1:-1]) or None for t in tokens],
        "surname": [t[-1] if len(t) > 1 else None for t in tokens],
    }
    return pd.DataFrame(
        {column: np.asarray(values, dtype=object)[codes] for column, values in parts.items()},
        index=names.index,
    )


def model_frame(ids: Any, names: pd.Series, dob: pd.Series, sex: pd.Series) -> pd.DataFrame:
    """The columns the model compares, keyed by an integer (the cohort row or the register
    position): millions of keys never become Python strings, and the dates stay a typed column
    that DuckDB casts (``_load``)."""
    frame = split_names(names).reset_index(drop=True)
    frame.insert(0, "unique_id", np.asarray(ids, dtype=np.int64))
    frame["date_of_birth"] = pd.to_datetime(dob).to_numpy()
    frame["sex"] = np.asarray(sex, dtype=object)
    return frame


def _name_comparison(column: str) -> Any:
    """Exact (with term frequencies), one edit apart, then Jaro-Winkler 0.88 and 0.7. Splink's
    NameComparison has no edit-distance level: a mistyped letter in a short surname ("Hfll"
    for "Hall") fell to Jaro-Winkler 0.7, a level random namesakes reach as often as matches,
    so the typo gave no evidence; one edit apart is about twenty times rarer at random."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        output_column_name=column,
        comparison_levels=[
            cll.NullLevel(column),
            cll.ExactMatchLevel(column, term_frequency_adjustments=True),
            cll.DamerauLevenshteinLevel(column, 1),
            cll.JaroWinklerLevel(column, 0.88),
            cll.JaroWinklerLevel(column, 0.7),
            cll.ElseLevel(),
        ],
        comparison_description=f"{column}: exact, one edit, Jaro-Winkler 0.88 and 0.7",
    )


def _date_of_birth_comparison() -> Any:
    """Splink's date of birth levels with day and month exchanged added after the exact one:
    the commonest error of a date typed in the other convention, which otherwise scored as a
    date months out (within a year), as random people born the same year do."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import ColumnExpression

    def within(threshold: int, metric: Literal["month", "year"]) -> Any:
        return cll.AbsoluteDateDifferenceLevel(
            "date_of_birth", input_is_string=False, threshold=threshold, metric=metric
        )

    levels: list[Any] = [
        cll.NullLevel("date_of_birth"),
        cll.ExactMatchLevel("date_of_birth"),
        cll.CustomLevel(
            "year(date_of_birth_l) = year(date_of_birth_r)"
            " and month(date_of_birth_l) = day(date_of_birth_r)"
            " and day(date_of_birth_l) = month(date_of_birth_r)",
            label_for_charts="Day and month exchanged",
        ),
        cll.DamerauLevenshteinLevel(ColumnExpression("date_of_birth").cast_to_string(), 1),
        within(1, "month"),
        within(1, "year"),
        within(10, "year"),
        cll.ElseLevel(),
    ]
    return cl.CustomComparison(
        output_column_name="date_of_birth",
        comparison_levels=levels,
        comparison_description="date of birth: exact, day and month exchanged, one edit, "
        "within a month, a year, ten years",
    )


def _settings(register_size: int, blocking_keys: list[tuple[str, ...]]) -> Any:
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        probability_two_random_records_match=1 / max(register_size, 2),
        comparisons=[
            _name_comparison("first_name"),
            _name_comparison("surname"),
            # Missing on either side (a partner file often drops them) says nothing.
            cl.ExactMatch("middle_names"),
            _date_of_birth_comparison(),
            cl.ExactMatch("sex"),
        ],
        blocking_rules_to_generate_predictions=[block_on(*keys) for keys in blocking_keys],
        # The comparison levels of each scored pair (``gamma_*``) come back with it: the m
        # probabilities are refined on the one-to-one posterior (probabilistic_linkage.py).
        retain_intermediate_calculation_columns=True,
        # EM iterates on counts of agreement patterns (a few hundred rows), so iterations are
        # cheap; the namesake pass moves slowly from the default m towards its fixed point.
        max_iterations=200,
    )


# Always used: each pairs a cohort row only with the few register people sharing two or three
# keys, so the pairs grow with the cohort, not with the register. OR-ed, they still find a
# surname typo (first rule), a forename written differently (second), and a date a day out or
# with day and month exchanged (third and fourth, which keep the year and an initial).
TIGHT_RULES = (
    (("date_of_birth", "first_name"), "same date of birth and forename"),
    (("date_of_birth", "surname"), "same date of birth and surname"),
    (("first_name", "birth_year", "surname_initial"), "same forename, year of birth and initial"),
    (("surname", "birth_year", "forename_initial"), "same surname, year of birth and initial"),
)
# Broader rules find people whose two names both differ, or whose date is wrong and a name
# too; each is added, in this order, only while the pairs of all the rules used stay within
# ``DuckDBLimits.pair_budget``: a small register gets them all, a national one (where the same
# date of birth alone pairs each cohort row with over a thousand people) only what fits.
BROAD_RULES = (
    (("date_of_birth",), "same date of birth"),
    (("first_name", "surname"), "same forename and surname"),
    (("surname", "birth_year"), "same surname and year of birth"),
    (("first_name", "birth_year"), "same forename and year of birth"),
)


def _pairs_of_rule(store: SplinkStore, keys: tuple[str, ...]) -> int:
    """How many cohort-register pairs share these keys (counted per key value, not paired)."""
    columns = ", ".join(keys)
    present = " and ".join(f"{key} is not null" for key in keys)
    cohort, register = (
        # Column and table names are this module's constants; no value enters the text.
        f"(select {columns}, count(*) as n from {store.table(table)} where {present} group by all)"  # noqa: S608
        for table in ("cohort", "register")
    )
    return store.scalar(
        f"select coalesce(sum(c.n * r.n), 0) from {cohort} c join {register} r using ({columns})"  # noqa: S608
    )


def _blocking_rules(store: SplinkStore, budget: float) -> list[tuple[tuple[str, ...], str]]:
    rules = list(TIGHT_RULES)
    pairs = sum(_pairs_of_rule(store, keys) for keys, _ in rules)
    for keys, description in BROAD_RULES:
        extra = _pairs_of_rule(store, keys)
        if pairs + extra <= budget:
            rules.append((keys, description))
            pairs += extra
    return rules


# Expectation maximisation runs on pairs of one cohort row and one register person only. Splink
# blocks training pairs on its concatenated input, so a rule on shared columns alone would pair
# register people with each other (billions at 10 million) before dropping them; naming the
# sides lets DuckDB filter each side before the join.
_COHORT_PAIRS = " and l.source_dataset = 'cohort' and r.source_dataset = 'register'"
# The first pass estimates the names and sex among people sharing the date of birth (two free
# comparisons that agree together on a match let EM tell matches from the rest). The second
# estimates the date of birth among namesakes: with the names fixed by the block, only the
# date is left to separate people, so the share of matches among the pairs is held at the
# prior adjusted by the names' trained weights rather than estimated (EM would otherwise take
# every namesake for a match).
TRAINING_RULES = (
    ("l.date_of_birth = r.date_of_birth", False),
    ("l.first_name = r.first_name and l.surname = r.surname", True),
)


def score_pairs(
    cohort: pd.DataFrame,
    register: pd.DataFrame,
    limits: DuckDBLimits,
    seed: int,
    progress: ProgressFn,
    spark_session: Any = None,
) -> tuple[pd.DataFrame, dict[str, Any], list[str]]:
    """Every blocked pair with probability above ``SCORE_FLOOR``, the trained model and the
    blocking rules used; on ``spark_session`` when given (a run on Spark), else on an
    in-memory DuckDB within ``limits``."""
    from splink import Linker

    store = store_for(spark_session, limits)
    try:
        store.load("cohort", cohort)
        store.load("register", register)
        rules = _blocking_rules(store, limits.pair_budget)
        linker = Linker(
            [store.table("cohort"), store.table("register")],
            _settings(len(register), [keys for keys, _ in rules]),
            store.api(),
            set_up_basic_logging=False,
            input_table_aliases=["cohort", "register"],
        )
        progress(0.1, "estimating u probabilities by random sampling")
        linker.training.estimate_u_using_random_sampling(max_pairs=limits.u_sample_pairs, seed=seed)
        progress(0.3, "estimating m probabilities by expectation maximisation")
        for rule, fix_share in TRAINING_RULES:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule + _COHORT_PAIRS,
                estimate_without_term_frequencies=True,
                fix_probability_two_random_records_match=fix_share,
            )
        progress(0.6, "scoring the blocked pairs")
        predictions = linker.inference.predict(threshold_match_probability=SCORE_FLOOR)
        # Only the keys, scores and comparison levels leave the engine: the compared names and
        # dates that Splink keeps beside the levels are never copied out.
        pairs = store.pairs(predictions)
        model = linker.misc.save_model_to_json()
        used = [description for _, description in rules]
    finally:
        store.close()
    if pairs.empty:
        pairs = pd.DataFrame(
            columns=["cohort_row", "person_id", "match_weight", "match_probability"]
        )
        return pairs, model, used
    # Two-table link_only: the left side is always the first input, the cohort.
    pairs = pd.DataFrame(
        {
            "cohort_row": pairs["unique_id_l"].astype(np.int64),
            "person_id": pairs["unique_id_r"].astype(np.int64),
            "match_weight": pairs["match_weight"].astype(float),
            "match_probability": pairs["match_probability"].astype(float),
            **{c: pairs[c].astype(np.int8) for c in pairs.columns if c.startswith("gamma_")},
        }
    )
    return pairs, model, used


def model_summary(model: dict[str, Any]) -> dict[str, Any]:
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
