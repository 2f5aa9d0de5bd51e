"""The synthetic data set: determinism, shape, messiness and the planted confounding."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from governance.analysis.engine.reoffending import derive_outcomes
from governance.analysis.engine.synthetic import generate_dataset

# Under xdist the module's tests stay on one worker: its generated dataset, made once.
pytestmark = pytest.mark.xdist_group("test_synthetic")


@pytest.fixture(scope="module")
def dataset():
    return generate_dataset(30_000, seed=5, programme_size=500)


def test_same_seed_same_data(dataset):
    again = generate_dataset(30_000, seed=5, programme_size=500)
    pd.testing.assert_frame_equal(dataset.index_events, again.index_events)
    pd.testing.assert_frame_equal(dataset.offences, again.offences)
    pd.testing.assert_frame_equal(dataset.cohort, again.cohort)
    other = generate_dataset(30_000, seed=6, programme_size=500)
    assert not dataset.index_events["name"].equals(other.index_events["name"])


def test_tables_have_documented_columns(dataset):
    assert {
        "person_id",
        "name",
        "date_of_birth",
        "sex",
        "index_date",
        "offence_category",
        "age_at_index",
        "prior_offences",
        "employed",
    } <= set(dataset.index_events.columns)
    assert list(dataset.offences.columns) == ["person_id", "offence_date", "proven_date"]
    assert list(dataset.cohort.columns) == [
        "name",
        "date_of_birth",
        "sex",
        "intervention_start",
        "intervention_end",
        "reference",
    ]
    assert "latent_risk" not in dataset.index_events.columns  # ground truth stays hidden


def test_cohort_is_messy(dataset):
    names = dataset.cohort["name"]
    assert (names.str.contains(",")).any()
    assert (names == names.str.upper()).any()
    assert dataset.cohort.duplicated().any()
    assert names.str.startswith("Unknown Person").sum() >= 3
    assert dataset.cohort["sex"].isin(["male", "1", "Female", "2"]).any()


def test_naive_comparison_is_biased_against_the_planted_effect(dataset):
    first = dataset.index_events.drop_duplicates("person_id")
    outcome = derive_outcomes(first, dataset.offences)["reoffended"].to_numpy()
    participant = first["person_id"].isin(dataset.truth["participant_person_ids"]).to_numpy()
    naive = outcome[participant].mean() - outcome[~participant].mean()
    # Participants are higher-risk people, so the naive difference hides most of the -10 points.
    assert naive > -dataset.truth["effect_pp"] / 100 + 0.05
    assert np.isclose(participant.sum(), 500, rtol=0.2)


def test_register_scale_history_adds_events_and_changes_no_result(dataset):
    """``events_per_person`` brings the tables to a register's ~10 events a person with
    earlier offence history only: the same people, events and outcomes, so the same
    matched comparison."""
    from governance.analysis.engine.disclosure import DisclosurePolicy
    from governance.analysis.engine.kinds import columns_needed, run_analysis
    from governance.analysis.engine.kinds_base import RunContext

    scaled = generate_dataset(30_000, seed=5, programme_size=500, events_per_person=10)
    events = len(scaled.index_events) + len(scaled.offences)
    assert events / 30_000 == pytest.approx(10, rel=0.001)
    assert (len(dataset.index_events) + len(dataset.offences)) / 30_000 < 3
    pd.testing.assert_frame_equal(dataset.index_events, scaled.index_events)
    pd.testing.assert_frame_equal(dataset.cohort, scaled.cohort)
    # Every added record precedes its person's first index date.
    first = dataset.index_events.groupby("person_id")["index_date"].min()
    added = scaled.offences.merge(
        dataset.offences, how="left", indicator=True, on=list(dataset.offences.columns)
    )
    added = added[added["_merge"] == "left_only"]
    assert len(added) == len(scaled.offences) - len(dataset.offences)
    assert (added["proven_date"].to_numpy() < first.loc[added["person_id"]].to_numpy()).all()
    params = {"eligibility": {"data_complete_until": "2022-12-31"}}
    read = columns_needed("matched_comparison", params)
    results = [
        run_analysis(
            "matched_comparison",
            {name: getattr(data, name)[columns] for name, columns in read.items()},
            params,
            RunContext(DisclosurePolicy()),
        )
        for data in (dataset, scaled)
    ]
    # Population digests are salted per run; everything else is the same.
    assert [(p.label, p.size) for p in results[0].populations] == [
        (p.label, p.size) for p in results[1].populations
    ]
    assert dataclasses.replace(results[0], populations=[]) == dataclasses.replace(
        results[1], populations=[]
    )
