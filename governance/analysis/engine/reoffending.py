"""JDL re-offending measures, eligibility rules and the treated / comparison index events.

Administrative data (two tables, documented in docs/analysis.md):
* index events, one row per person and index event: ``person_id``, ``name``,
  ``date_of_birth``, ``sex``, ``index_date`` (release from custody or start of a community
  sentence), ``offence_category`` (of the index offence) and any covariate columns;
* proven offences, one row per offence: ``person_id``, ``offence_date``, ``proven_date``
  (conviction, caution, reprimand or warning).
Keeping offences long (rather than pre-computed outcome columns) lets one extract serve any
follow-up length and any index date, and the measures below are one hash join away.

Measures for an index event on day d (days counted as calendar-day differences):
* ``reoffended``: some offence with d <= offence_date < d + follow_up_days (365) that is proven
  with proven_date < d + follow_up_days + waiting_days (365 + 182);
* ``reoffences``: the number of such proven offences;
* ``days_to_first_reoffence``: offence_date - d for the first of them (missing if none).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import AnalysisParameterError, DataShapeError
from .normalise import age_in_years, parse_dates

OUTCOME_COLUMNS = ("reoffended", "reoffences", "days_to_first_reoffence")
INDEX_RULES = ("first_on_or_after_start", "latest_on_or_before_end")
OFFENCE_COLUMNS = ("person_id", "offence_date", "proven_date")


@dataclass(frozen=True)
class EligibilityRules:
    """The agreement's eligibility and follow-up settings (defaults: the JDL's).

    min_age: people younger than this at intervention start (treated) or index date
        (comparison pool) are excluded; the JDL cannot analyse under-14s.
    excluded_offence_categories: index offence categories outside the service's scope.
    min_cohort_size: fewer eligible treated people than this -> the request is refused.
    follow_up_days, waiting_days: one-year follow-up plus six months for offences to be proven.
    data_complete_until: last date the offence records are complete; index events whose
        follow-up plus waiting period would run past it are excluded (incomplete follow-up).
    index_event_rule, index_window_days: which index event belongs to a treated person: the
        first on or after intervention start within the window, or the latest on or before
        intervention end within the window.
    """

    min_age: int = 14
    excluded_offence_categories: tuple[str, ...] = ("terrorism", "sexual", "domestic_violence")
    min_cohort_size: int = 60
    follow_up_days: int = 365
    waiting_days: int = 182
    data_complete_until: str | None = None
    index_event_rule: str = "first_on_or_after_start"
    index_window_days: int = 365

    def __post_init__(self) -> None:
        for name in (
            "min_age",
            "min_cohort_size",
            "follow_up_days",
            "waiting_days",
            "index_window_days",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise AnalysisParameterError(name, "must be a non-negative integer")
        if self.index_event_rule not in INDEX_RULES:
            raise AnalysisParameterError(
                "index_event_rule", f"must be one of {', '.join(INDEX_RULES)}"
            )
        # Declared as a tuple, but built from agreement terms and forms at run time.
        if isinstance(self.excluded_offence_categories, str):  # type: ignore[unreachable]
            raise AnalysisParameterError(
                "excluded_offence_categories", "must be a list of categories"
            )
        if self.data_complete_until is not None and pd.isna(
            pd.to_datetime(self.data_complete_until, errors="coerce")
        ):
            raise AnalysisParameterError("data_complete_until", "must be an ISO date")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def derive_outcomes(
    events: pd.DataFrame, offences: pd.DataFrame, follow_up_days: int = 365, waiting_days: int = 182
) -> pd.DataFrame:
    """The three measures for each row of ``events`` (``person_id``, ``index_date``)."""
    missing = [c for c in OFFENCE_COLUMNS if c not in offences.columns]
    if missing:
        raise DataShapeError("offences", f"missing column(s): {', '.join(missing)}")
    left = pd.DataFrame(
        {
            "row": np.arange(len(events)),
            "person_id": events["person_id"].to_numpy(),
            "index_date": parse_dates(events["index_date"]).to_numpy(),
        }
    )
    wanted = offences["person_id"].isin(left["person_id"].unique())
    right = pd.DataFrame(
        {
            "person_id": offences.loc[wanted, "person_id"].to_numpy(),
            "offence_date": parse_dates(offences.loc[wanted, "offence_date"]).to_numpy(),
            "proven_date": parse_dates(offences.loc[wanted, "proven_date"]).to_numpy(),
        }
    )
    pairs = left.merge(right, on="person_id", how="inner")
    since = (pairs["offence_date"] - pairs["index_date"]).dt.days
    proven_after = (pairs["proven_date"] - pairs["index_date"]).dt.days
    counted = pairs[
        (since >= 0)
        & (since < follow_up_days)
        & (proven_after < follow_up_days + waiting_days)
        & (pairs["proven_date"] >= pairs["offence_date"])
    ]
    grouped = counted.assign(since=since[counted.index]).groupby("row")["since"]
    count = grouped.size().reindex(left["row"], fill_value=0).to_numpy()
    first = grouped.min().reindex(left["row"]).to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "reoffended": (count > 0).astype(int),
            "reoffences": count.astype(int),
            "days_to_first_reoffence": first,
        },
        index=events.index,
    )


def exclusion_reasons(
    events: pd.DataFrame, age_on: pd.Series, rules: EligibilityRules
) -> pd.Series:
    """Per row: the first eligibility rule it fails (or <NA> if eligible)."""
    reason = pd.Series(pd.NA, index=events.index, dtype="string")
    age = age_in_years(parse_dates(events["date_of_birth"], day_first=False), age_on)
    excluded = {str(c).casefold() for c in rules.excluded_offence_categories}
    # Case-folding the few distinct labels, not a million cells, keeps this cheap.
    labels = events["offence_category"]
    unwanted = [value for value in labels.dropna().unique() if str(value).casefold() in excluded]
    checks = [
        ("missing_age", age.isna()),
        ("under_min_age", age < rules.min_age),
        ("excluded_offence_category", labels.isin(unwanted)),
    ]
    if rules.data_complete_until is not None:
        last_needed = parse_dates(events["index_date"]) + pd.Timedelta(
            days=rules.follow_up_days + rules.waiting_days
        )
        checks.append(
            ("incomplete_follow_up", last_needed > pd.Timestamp(rules.data_complete_until))
        )
    for label, failing in checks:
        reason = reason.mask(reason.isna() & failing.to_numpy(dtype=bool), label)
    return reason


def treated_index_events(
    linked: pd.DataFrame, events: pd.DataFrame, rules: EligibilityRules
) -> tuple[pd.DataFrame, Counter[str]]:
    """The index event of each linked cohort person, and how many had none in the window.

    Returns the chosen event rows (events' columns plus ``cohort_row``, ``intervention_start``,
    ``intervention_end``) and a counter of people with ``no_index_event``.
    """
    window = pd.Timedelta(days=rules.index_window_days)
    # Only the key columns go through the join; whole rows are fetched once at the end.
    keys = pd.DataFrame(
        {
            "person_id": events["person_id"].to_numpy(),
            "_event": np.arange(len(events)),
            "_index_date": parse_dates(events["index_date"]).to_numpy(),
        }
    )
    keys = keys[keys["person_id"].isin(linked["person_id"])]
    candidates = linked[
        ["cohort_row", "person_id", "intervention_start", "intervention_end"]
    ].merge(keys, on="person_id", how="inner")
    if rules.index_event_rule == "first_on_or_after_start":
        inside = (candidates["_index_date"] >= candidates["intervention_start"]) & (
            candidates["_index_date"] <= candidates["intervention_start"] + window
        )
        chosen = candidates[inside].sort_values(["cohort_row", "_index_date", "_event"])
        chosen = chosen.groupby("cohort_row").head(1)
    else:
        inside = (candidates["_index_date"] <= candidates["intervention_end"]) & (
            candidates["_index_date"] >= candidates["intervention_end"] - window
        )
        chosen = candidates[inside].sort_values(["cohort_row", "_index_date", "_event"])
        chosen = chosen.groupby("cohort_row").tail(1)
    rows = events.iloc[chosen["_event"].to_numpy()].reset_index(drop=True)
    extra = chosen[["cohort_row", "intervention_start", "intervention_end"]].reset_index(drop=True)
    missing = len(linked) - len(chosen)
    return pd.concat([rows, extra], axis=1), Counter({"no_index_event": missing} if missing else {})


def comparison_pool(
    events: pd.DataFrame,
    cohort_people: Sequence[Any],
    first_date: pd.Timestamp,
    last_date: pd.Timestamp,
) -> pd.DataFrame:
    """Index events of people outside the cohort, one per person (their earliest) in the
    treated group's index-date range, so both groups are followed up over the same period."""
    dates = parse_dates(events["index_date"])
    keep = (~events["person_id"].isin(cohort_people)) & (dates >= first_date) & (dates <= last_date)
    keys = pd.DataFrame(
        {
            "person_id": events["person_id"].to_numpy()[keep.to_numpy()],
            "date": dates.to_numpy()[keep.to_numpy()],
            "row": np.flatnonzero(keep.to_numpy()),
        }
    )
    earliest = keys.sort_values(["person_id", "date", "row"]).drop_duplicates("person_id")
    return events.iloc[np.sort(earliest["row"].to_numpy())]
