"""Linking a partner organisation's cohort file to the administrative person records (JDL step 1).

Cohort file columns: ``name``, ``date_of_birth``, ``sex``, ``intervention_start``,
``intervention_end`` (optional; defaults to the start). Any other column (a partner's free-text
reference, notes) is ignored and never reaches an output. Administrative persons: ``person_id``,
``name``, ``date_of_birth``, ``sex`` (one row per person, or several identical rows).

Rules, in order; each cohort row ends either linked to one person or dropped with one reason:
1. validation -> ``invalid_name`` / ``invalid_date_of_birth`` / ``invalid_sex`` /
   ``invalid_intervention_dates`` (missing or unparseable start, end before start);
2. the same normalised (name, date of birth, sex) twice -> ``duplicate_in_cohort`` for the
   copies when the intervention dates agree, ``multiple_interventions`` for every row of that
   person when they differ (a request covers one intervention per person);
3. linkage stages, each only for rows still unlinked: ``exact`` (full name key, dob, sex),
   ``short_name`` (first + last name tokens, dob, sex), ``swapped_day_month`` (full name key,
   dob with day and month exchanged, sex). A key matching several administrative persons at a
   stage -> ``ambiguous`` (the row is not tried at later stages); never found -> ``not_found``;
4. two cohort rows linked to the same person are treated as in rule 2.
Every stage keys on the date of birth, so administrative records are first cut down to those
with a candidate date of birth: linkage costs a few hash joins whatever the register's size.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .errors import DataShapeError
from .normalise import name_keys, normalise_sex, parse_dates, swap_day_month

COHORT_COLUMNS = ("name", "date_of_birth", "sex", "intervention_start")
ADMIN_PERSON_COLUMNS = ("person_id", "name", "date_of_birth", "sex")
STAGES = ("exact", "short_name", "swapped_day_month")


@dataclass
class LinkageResult:
    """Linked cohort rows (private to the engine) and the counts for the report."""

    linked: pd.DataFrame  # cohort_row, person_id, intervention_start, intervention_end, stage
    dropped: pd.DataFrame  # cohort_row, reason
    submitted: int
    reached_person_ids: list[Any]  # everyone some row linked to, kept or later dropped

    def report(self) -> dict[str, Any]:
        return {
            "submitted": self.submitted,
            "linked_and_kept": len(self.linked),
            "dropped": dict(Counter(self.dropped["reason"])),
            "linked_by_stage": dict(Counter(self.linked["stage"])),
        }


def prepare_cohort(cohort: pd.DataFrame, day_first: bool) -> tuple[pd.DataFrame, pd.Series]:
    missing = [column for column in COHORT_COLUMNS if column not in cohort.columns]
    if missing:
        raise DataShapeError("cohort", f"missing column(s): {', '.join(missing)}")
    frame = name_keys(cohort["name"]).reset_index(drop=True)
    frame["cohort_row"] = range(len(cohort))
    frame["date_of_birth"] = parse_dates(cohort["date_of_birth"], day_first).to_numpy()
    frame["sex"] = normalise_sex(cohort["sex"]).to_numpy()
    start = parse_dates(cohort["intervention_start"], day_first).to_numpy()
    end_raw = cohort["intervention_end"] if "intervention_end" in cohort.columns else None
    frame["intervention_start"] = start
    frame["intervention_end"] = (
        parse_dates(end_raw, day_first).to_numpy() if end_raw is not None else start
    )
    if end_raw is not None:
        # An intervention without an end date is taken to be a single day.
        text = end_raw.astype("string").str.strip()
        given = (text.notna() & (text != "")).fillna(False).to_numpy(dtype=bool)
        frame["intervention_end"] = frame["intervention_end"].where(
            given, frame["intervention_start"]
        )
    reason = pd.Series(pd.NA, index=frame.index, dtype="string")
    checks = [
        ("invalid_name", frame["full_key"] == ""),
        ("invalid_date_of_birth", frame["date_of_birth"].isna()),
        ("invalid_sex", frame["sex"].isna()),
        (
            "invalid_intervention_dates",
            frame["intervention_start"].isna()
            | frame["intervention_end"].isna()
            | (frame["intervention_end"] < frame["intervention_start"]),
        ),
    ]
    for label, failing in checks:
        reason = reason.mask(reason.isna() & failing, label)
    return frame, reason


def resolve_repeats(frame: pd.DataFrame, key: list[str], reason: pd.Series) -> pd.Series:
    """Rule 2/4: repeated people are duplicates (same dates) or several interventions."""
    live = frame[reason.isna()]
    grouped = live.groupby(key, sort=False, dropna=False)
    size = grouped["cohort_row"].transform("size")
    distinct = grouped["intervention_start"].transform("nunique")
    distinct_end = grouped["intervention_end"].transform("nunique")
    several = (size > 1) & ((distinct > 1) | (distinct_end > 1))
    copy = (size > 1) & ~several & grouped.cumcount().gt(0)
    reason = reason.copy()
    reason.loc[several[several].index] = "multiple_interventions"
    reason.loc[copy[copy].index] = "duplicate_in_cohort"
    return reason


def linkable_pairs(cohort: pd.DataFrame, names: pd.Series, day_first: bool) -> pd.DataFrame:
    """Of ``names`` (administrative names), the (name, date_of_birth) pairs some cohort row
    could link to at some stage: the name's full key and the row's date of birth, as written
    or with day and month swapped, or the name's short key and the date as written. A person
    whose record is not one of these pairs takes part in no stage's join (sex only narrows
    further), so leaving them out changes no link, ambiguity or count of ``link_cohort``."""
    frame, _ = prepare_cohort(cohort, day_first)
    swapped = swap_day_month(frame["date_of_birth"])
    wanted = pd.concat(
        [
            pd.DataFrame({"key": "full " + frame["full_key"], "date_of_birth": dates})
            for dates in (frame["date_of_birth"], swapped)
        ]
        + [
            pd.DataFrame(
                {"key": "short " + frame["short_key"], "date_of_birth": frame["date_of_birth"]}
            )
        ],
        ignore_index=True,
    ).dropna()
    names = names.dropna().drop_duplicates().reset_index(drop=True)
    keys = name_keys(names)
    known = pd.concat(
        [
            pd.DataFrame({"name": names, "key": "full " + keys["full_key"]}),
            pd.DataFrame({"name": names, "key": "short " + keys["short_key"]}),
        ],
        ignore_index=True,
    )
    pairs = known.merge(wanted.drop_duplicates(), on="key", how="inner")
    return pairs[["name", "date_of_birth"]].drop_duplicates().reset_index(drop=True)


def link_cohort(
    cohort: pd.DataFrame, admin_persons: pd.DataFrame, day_first: bool = True
) -> LinkageResult:
    """Link cohort rows to ``person_id`` following the module's rules."""
    missing = [c for c in ADMIN_PERSON_COLUMNS if c not in admin_persons.columns]
    if missing:
        raise DataShapeError("admin", f"missing column(s): {', '.join(missing)}")
    frame, reason = prepare_cohort(cohort, day_first)
    reason = resolve_repeats(frame, ["full_key", "date_of_birth", "sex"], reason)
    frame["swapped_dob"] = swap_day_month(frame["date_of_birth"])
    candidates_dob = pd.concat([frame["date_of_birth"], frame["swapped_dob"]]).dropna().unique()
    admin_dob = parse_dates(admin_persons["date_of_birth"], day_first=False)
    admin = admin_persons.loc[
        admin_dob.isin(candidates_dob).to_numpy(), ["person_id", "name"]
    ].copy()
    admin["date_of_birth"] = admin_dob[admin_dob.isin(candidates_dob)].to_numpy()
    admin["sex"] = normalise_sex(admin_persons.loc[admin.index, "sex"]).to_numpy()
    admin = pd.concat([admin, name_keys(admin["name"])], axis=1).drop_duplicates("person_id")
    person = pd.Series(pd.NA, index=frame.index, dtype="object")
    stage = pd.Series(pd.NA, index=frame.index, dtype="string")
    plans = {
        "exact": (["full_key", "date_of_birth", "sex"], ["full_key", "date_of_birth", "sex"]),
        "short_name": (
            ["short_key", "date_of_birth", "sex"],
            ["short_key", "date_of_birth", "sex"],
        ),
        "swapped_day_month": (
            ["full_key", "swapped_dob", "sex"],
            ["full_key", "date_of_birth", "sex"],
        ),
    }
    for name in STAGES:
        left_keys, right_keys = plans[name]
        todo = frame[reason.isna() & person.isna()]
        todo = todo[todo[left_keys].notna().all(axis=1)]
        if todo.empty:
            continue
        merged = todo[["cohort_row", *left_keys]].merge(
            admin[["person_id", *right_keys]], left_on=left_keys, right_on=right_keys, how="inner"
        )
        found = merged.groupby("cohort_row")["person_id"].agg(["nunique", "first"])
        unique = found[found["nunique"] == 1]
        person.loc[unique.index] = unique["first"].to_numpy()
        stage.loc[unique.index] = name
        reason.loc[found.index[found["nunique"] > 1]] = "ambiguous"
    reason = reason.mask(reason.isna() & person.isna(), "not_found")
    frame["person_id"] = person
    reason = resolve_repeats(frame, ["person_id"], reason)
    kept = reason.isna()
    linked = frame.loc[kept, ["cohort_row", "person_id", "intervention_start", "intervention_end"]]
    linked = linked.assign(stage=stage[kept].astype(str)).reset_index(drop=True)
    linked["person_id"] = linked["person_id"].astype(admin_persons["person_id"].dtype)
    dropped = pd.DataFrame(
        {"cohort_row": frame.loc[~kept, "cohort_row"], "reason": reason[~kept].astype(str)}
    )
    reached = person.dropna().unique().tolist()
    return LinkageResult(
        linked=linked,
        dropped=dropped.reset_index(drop=True),
        submitted=len(cohort),
        reached_person_ids=reached,
    )
