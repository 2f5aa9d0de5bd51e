"""The synthetic data set: determinism, shape, messiness and the planted confounding."""

from __future__ import annotations

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
