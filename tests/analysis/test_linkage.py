"""Cohort linkage: normalisation, stages, ambiguity, duplicates and the drop report."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.analysis.engine.errors import DataShapeError
from governance.analysis.engine.linkage import link_cohort, linkable_pairs
from governance.analysis.engine.normalise import (
    age_in_years,
    name_keys,
    normalise_sex,
    parse_dates,
    swap_day_month,
)
from governance.analysis.engine.synthetic import generate_dataset

ADMIN = pd.DataFrame(
    {
        "person_id": [1, 2, 3, 4, 5, 6, 7],
        "name": [
            "John Paul Smith",
            "Zoë O'Brien",
            "Ann Lee",
            "Ann Lee",
            "Mark Jones",
            "Amy Wu",
            "Tom Hart",
        ],
        "date_of_birth": pd.to_datetime(
            [
                "1990-03-02",
                "1985-07-15",
                "1970-01-01",
                "1970-01-01",
                "1992-11-05",
                "1999-04-08",
                "1980-01-01",
            ]
        ),
        "sex": ["M", "F", "F", "F", "M", "F", "M"],
    }
)


def cohort(rows):
    return pd.DataFrame(
        rows,
        columns=[
            "name",
            "date_of_birth",
            "sex",
            "intervention_start",
            "intervention_end",
            "reference",
        ],
    )


def test_name_keys_ignore_case_accents_punctuation_and_order():
    keys = name_keys(
        pd.Series(["SMITH, John", "  john   smith", "Zoe OBrien", "zoë o'brien", "Søren Ærø", None])
    )
    assert keys.loc[0, "full_key"] == keys.loc[1, "full_key"] == "john smith"
    assert keys.loc[2, "full_key"] == keys.loc[3, "full_key"]
    assert keys.loc[4, "full_key"] == "aero soren"
    assert keys.loc[5, "full_key"] == ""


def test_dates_are_strict_and_day_first_by_default():
    parsed = parse_dates(
        pd.Series(
            [
                "02/03/1990",
                "1990-03-02",
                "2 March 1990",
                "02/03/90",
                "31/02/1990",
                "yesterday",
                None,
            ]
        )
    )
    assert parsed[:3].tolist() == [pd.Timestamp("1990-03-02")] * 3
    assert parsed[3:].isna().all()
    assert parse_dates(pd.Series(["02/03/1990"]), day_first=False)[0] == pd.Timestamp("1990-02-03")
    assert swap_day_month(parsed[:1])[0] == pd.Timestamp("1990-02-03")
    assert pd.isna(swap_day_month(pd.Series(pd.to_datetime(["1990-03-13"])))[0])


def test_sex_codes():
    codes = normalise_sex(pd.Series(["m", "FEMALE", " 1 ", "2", "x", None], dtype=object))
    assert codes.tolist()[:4] == ["M", "F", "M", "F"]
    assert codes[4:].isna().all()


def test_age_counts_completed_years():
    born = pd.Series(pd.to_datetime(["2000-03-02", "2000-03-02"]))
    on = pd.Series(pd.to_datetime(["2014-03-01", "2014-03-02"]))
    assert age_in_years(born, on).tolist() == [13, 14]


def test_linkage_stages_and_reasons():
    rows = [
        ["SMITH, John Paul", "02/03/1990", "male", "01/01/2010", "01/02/2010", "ref a"],  # exact
        ["zoe obrien", "15/07/1985", "2", "01/01/2010", None, "free text"],  # exact, accents
        ["John Smith", "02/03/1990", "M", "01/01/2010", "01/02/2010", ""],  # duplicate of row 0
        ["Mark Jones", "11/05/1992", "M", "01/01/2010", "", ""],  # swapped day/month
        ["Ann Lee", "01/01/1970", "F", "01/01/2010", "", ""],  # two admin people
        ["Nobody Here", "01/01/1971", "F", "01/01/2010", "", ""],  # not found
        ["", "01/01/1971", "F", "01/01/2010", "", ""],  # invalid name
        ["Amy Wu", "31/02/1999", "F", "01/01/2010", "", ""],  # invalid dob
        ["Amy Wu", "08/04/1999", "unknown", "01/01/2010", "", ""],  # invalid sex
        ["Amy Wu", "08/04/1999", "F", "01/02/2010", "01/01/2010", ""],  # end before start
        ["Tom Hart", "01/01/1980", "M", "01/01/2010", "", ""],  # two interventions
        ["Tom Hart", "01/01/1980", "M", "01/06/2011", "", ""],
    ]
    result = link_cohort(cohort(rows), ADMIN)
    linked = dict(zip(result.linked["cohort_row"], result.linked["person_id"], strict=True))
    stages = dict(zip(result.linked["cohort_row"], result.linked["stage"], strict=True))
    assert linked == {0: 1, 1: 2, 3: 5}
    assert stages[3] == "swapped_day_month"
    reasons = dict(zip(result.dropped["cohort_row"], result.dropped["reason"], strict=True))
    assert reasons == {
        2: "duplicate_in_cohort",
        4: "ambiguous",
        5: "not_found",
        6: "invalid_name",
        7: "invalid_date_of_birth",
        8: "invalid_sex",
        9: "invalid_intervention_dates",
        10: "multiple_interventions",
        11: "multiple_interventions",
    }
    report = result.report()
    assert report["submitted"] == 12
    assert report["linked_and_kept"] == 3
    assert sum(report["dropped"].values()) + report["linked_and_kept"] == 12
    assert "reference" not in result.linked.columns


def test_middle_name_fallback_and_rows_linking_to_same_person():
    rows = [
        ["John Smith", "02/03/1990", "M", "01/01/2010", "", ""],  # short-name stage
        ["J-P Smith", "02/03/1990", "M", "01/05/2012", "", ""],  # not found (different name)
        ["John P. Smith", "02/03/1990", "M", "01/05/2012", "", ""],  # also short-name -> person 1
    ]
    result = link_cohort(cohort(rows), ADMIN)
    reasons = dict(zip(result.dropped["cohort_row"], result.dropped["reason"], strict=True))
    # Rows 0 and 2 reach the same person with different interventions: both refused.
    assert reasons == {0: "multiple_interventions", 1: "not_found", 2: "multiple_interventions"}


def test_missing_columns_are_reported():
    with pytest.raises(DataShapeError):
        link_cohort(pd.DataFrame({"name": ["a"]}), ADMIN)


name_parts = st.lists(
    st.sampled_from(["Zoë", "O'Brien", "José", "Smith-Jones", "ann", "LEE", "Søren", "Núñez"]),
    min_size=1,
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(name_parts, st.permutations(range(4)), st.booleans(), st.integers(1, 3))
def test_full_key_ignores_order_case_and_spacing(parts, order, upper, spaces):
    reordered = [parts[i] for i in order if i < len(parts)]
    variant = (" " * spaces).join(reordered)
    variant = variant.upper() if upper else variant.lower()
    keys = name_keys(pd.Series([" ".join(parts), "  " + variant + " "]))
    assert keys.loc[0, "full_key"] == keys.loc[1, "full_key"]
    comma = name_keys(pd.Series([f"{parts[-1]}, {' '.join(parts[:-1])}"]))
    if len(parts) > 1:
        assert comma.loc[0, "full_key"] == keys.loc[0, "full_key"]


def _same_links(rows: pd.DataFrame, admin: pd.DataFrame) -> int:
    """Link ``rows`` against every record and against the linkable pairs only: the same
    result. Returns how many records the pairs kept."""
    pairs = linkable_pairs(rows, admin["name"], day_first=True)
    wanted = pd.MultiIndex.from_frame(pairs)
    kept = admin[pd.MultiIndex.from_frame(admin[["name", "date_of_birth"]]).isin(wanted)]
    everyone, narrowed = link_cohort(rows, admin), link_cohort(rows, kept)
    pd.testing.assert_frame_equal(everyone.linked, narrowed.linked)
    pd.testing.assert_frame_equal(everyone.dropped, narrowed.dropped)
    assert everyone.reached_person_ids == narrowed.reached_person_ids
    return len(kept)


def test_the_linkable_pairs_leave_every_link_as_it_was():
    """What a SQL engine returns for linkage (records whose name could meet a cohort row on
    its date of birth, as written or swapped, by full or short key) links as the whole
    register does: the module's cases, and generated data (messy names, swapped dates,
    namesakes born on the same day)."""
    rows = cohort(
        [
            ["SMITH, John Paul", "02/03/1990", "male", "01/01/2010", "", ""],
            ["John Smith", "02/03/1990", "M", "01/01/2010", "", ""],
            ["Mark Jones", "11/05/1992", "M", "01/01/2010", "", ""],
            ["Ann Lee", "01/01/1970", "F", "01/01/2010", "", ""],
            ["", "01/01/1970", "F", "01/01/2010", "", ""],
        ]
    )
    assert _same_links(rows, ADMIN) == 4  # the two Ann Lees (ambiguous), Smith and Jones
    data = generate_dataset(20_000, seed=3, programme_size=1_500)
    admin = data.index_events.drop_duplicates("person_id")[
        ["person_id", "name", "date_of_birth", "sex"]
    ]
    assert _same_links(data.cohort, admin) < len(admin) / 5
