"""Re-offending measures, eligibility rules and index-event selection."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.analysis.engine.errors import AnalysisParameterError
from governance.analysis.engine.reoffending import (
    EligibilityRules,
    comparison_pool,
    derive_outcomes,
    exclusion_reasons,
    treated_index_events,
)

D = pd.Timestamp
RELAXED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_follow_up_and_waiting_period_boundaries():
    events = pd.DataFrame({"person_id": [1, 2, 3, 4], "index_date": [D("2015-01-01")] * 4})
    day = pd.Timedelta(days=1)
    base = D("2015-01-01")
    offences = pd.DataFrame(
        {
            "person_id": [1, 1, 2, 2, 3, 3, 4],
            "offence_date": [
                base + 364 * day,
                base + 365 * day,  # last day counts, next does not
                base + 10 * day,
                base + 20 * day,  # proven on day 546 vs 547
                base - day,
                base + 5 * day,  # before the index date; proven before
                base,
            ],  # committed on the index date itself
            "proven_date": [
                base + 400 * day,
                base + 400 * day,
                base + 546 * day,
                base + 547 * day,
                base + 10 * day,
                base + 4 * day,
                base + 30 * day,
            ],
        }
    )
    outcomes = derive_outcomes(events, offences)
    assert outcomes["reoffences"].tolist() == [1, 1, 0, 1]
    assert outcomes["reoffended"].tolist() == [1, 1, 0, 1]
    assert outcomes["days_to_first_reoffence"].tolist()[:2] == [364, 10]
    assert pd.isna(outcomes["days_to_first_reoffence"][2])


def test_frequency_counts_every_proven_offence_in_the_window():
    events = pd.DataFrame({"person_id": [7], "index_date": [D("2016-03-01")]})
    offences = pd.DataFrame(
        {
            "person_id": [7] * 3,
            "offence_date": [D("2016-03-05"), D("2016-04-01"), D("2016-09-01")],
            "proven_date": [D("2016-06-01"), D("2016-05-01"), D("2017-01-01")],
        }
    )
    outcomes = derive_outcomes(events, offences)
    assert outcomes.loc[0, "reoffences"] == 3
    assert outcomes.loc[0, "days_to_first_reoffence"] == 4


def test_exclusion_reasons_in_rule_order():
    events = pd.DataFrame(
        {
            "date_of_birth": [
                D("2002-06-01"),
                D("1990-01-01"),
                D("1990-01-01"),
                D("1990-01-01"),
                pd.NaT,
            ],
            "offence_category": ["violence", "Sexual", "violence", "violence", "violence"],
            "index_date": [
                D("2015-01-01"),
                D("2015-01-01"),
                D("2015-01-01"),
                D("2022-01-01"),
                D("2015-01-01"),
            ],
        }
    )
    rules = EligibilityRules(data_complete_until="2022-12-31")
    reasons = exclusion_reasons(events, events["index_date"], rules)
    assert reasons[0] == "under_min_age"  # 12 at the index date
    assert reasons[1] == "excluded_offence_category"  # matched without regard to case
    assert pd.isna(reasons[2])
    assert reasons[3] == "incomplete_follow_up"  # 2022-01-01 + 547 days is after 2022-12-31
    assert reasons[4] == "missing_age"


def test_treated_index_event_rules():
    events = pd.DataFrame(
        {
            "person_id": [1, 1, 1, 2],
            "index_date": [D("2015-01-01"), D("2015-06-01"), D("2016-01-01"), D("2014-01-01")],
            "offence_category": ["a", "b", "c", "d"],
        }
    )
    linked = pd.DataFrame(
        {
            "cohort_row": [0, 1],
            "person_id": [1, 2],
            "intervention_start": [D("2015-02-01"), D("2015-02-01")],
            "intervention_end": [D("2015-12-01"), D("2015-03-01")],
        }
    )
    first, missing = treated_index_events(linked, events, EligibilityRules())
    assert first["offence_category"].tolist() == ["b"]
    assert missing["no_index_event"] == 1
    latest, _ = treated_index_events(
        linked, events, EligibilityRules(index_event_rule="latest_on_or_before_end")
    )
    assert latest["offence_category"].tolist() == ["b"]
    wide, _ = treated_index_events(
        linked,
        events,
        EligibilityRules(index_event_rule="latest_on_or_before_end", index_window_days=800),
    )
    assert wide["offence_category"].tolist() == ["b", "d"]


def test_comparison_pool_excludes_cohort_and_keeps_earliest_event_in_range():
    events = pd.DataFrame(
        {
            "person_id": [1, 2, 2, 3, 4],
            "index_date": [
                D("2015-05-01"),
                D("2016-01-01"),
                D("2015-03-01"),
                D("2015-04-01"),
                D("2018-01-01"),
            ],
        }
    )
    pool = comparison_pool(events, [1], D("2015-01-01"), D("2016-12-31"))
    assert sorted(zip(pool["person_id"], pool["index_date"], strict=True)) == [
        (2, D("2015-03-01")),
        (3, D("2015-04-01")),
    ]


def test_rules_validation_names_field():
    with pytest.raises(AnalysisParameterError) as error:
        EligibilityRules(index_event_rule="whenever")
    assert error.value.field == "index_event_rule"
    with pytest.raises(AnalysisParameterError) as size:
        EligibilityRules(min_cohort_size=-1)
    assert size.value.field == "min_cohort_size"
    with pytest.raises(AnalysisParameterError):
        EligibilityRules(excluded_offence_categories="sexual")  # type: ignore[arg-type]


@RELAXED
@given(st.data())
def test_measures_match_a_brute_force_count(data):
    people = data.draw(st.integers(1, 6))
    days = st.integers(0, 900)
    events = pd.DataFrame(
        {
            "person_id": list(range(people)),
            "index_date": [
                D("2015-01-01") + pd.Timedelta(days=data.draw(days)) for _ in range(people)
            ],
        }
    )
    rows = data.draw(
        st.lists(
            st.tuples(st.integers(0, people - 1), st.integers(-100, 1500), st.integers(0, 700)),
            max_size=25,
        )
    )
    base = D("2015-01-01")
    offences = pd.DataFrame(
        {
            "person_id": [r[0] for r in rows],
            "offence_date": [base + pd.Timedelta(days=r[1]) for r in rows],
            "proven_date": [base + pd.Timedelta(days=r[1] + r[2]) for r in rows],
        }
    )
    outcomes = derive_outcomes(events, offences)
    for person, index_date in zip(events["person_id"], events["index_date"], strict=True):
        counted = [
            (offence - index_date).days
            for who, offence, proven in zip(
                offences["person_id"],
                offences["offence_date"],
                offences["proven_date"],
                strict=True,
            )
            if who == person
            and 0 <= (offence - index_date).days < 365
            and (proven - index_date).days < 547
        ]
        assert outcomes.loc[person, "reoffences"] == len(counted)
        assert outcomes.loc[person, "reoffended"] == int(bool(counted))
        if counted:
            assert outcomes.loc[person, "days_to_first_reoffence"] == min(counted)
