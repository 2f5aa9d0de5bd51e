"""Outcome counts of the people in a difference, against earlier releases.

A rate table over everyone, released now, and a rate table over everyone but a group of 30,
released later: the counts of people differ by 30 (at least min_cell_size), so the people check
passes, but subtracting the events gives how many of those 30 had the outcome. The ledger now
keeps each member's outcome (one bit per outcome the tables publish, sealed), and a release
whose difference from an earlier one, in a cell both publish an outcome's count, has 1 to
min_cell_size - 1 events (or non-events) is refused, records nothing and says what to change.
Rows from before migration 0047 keep no outcomes and are compared on people only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from cryptography.exceptions import InvalidTag
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.analysis import differencing
from governance.analysis.models import AnalysisRun, ReleasedPopulation, RunStatus
from governance.audit.models import AuditEvent, AuditType
from governance.datasets.models import Dataset
from tests.analysis.conftest import World, execute, grant_matched
from tests.analysis.conftest import submit as submit_in
from tests.analysis.test_cell_differencing import refused_for_cells, upload_frame
from tests.analysis.test_ledger_across_releases import (
    agreement_over,
    declare,
    run,
    submit,
    while_another_finishes,
)
from tests.conftest import Browser
from tests.support import PASSWORD, People

LEFT_OUT = 30  # the group the later table leaves out: at least min_cell_size people
MINIMUM = 10


def register(passed_left_out: int, seed: int = 11) -> pd.DataFrame:
    """270 people of sex F or M and 30 of sex X, of whom ``passed_left_out`` passed."""
    rng = np.random.default_rng(seed)
    size = 300
    sex = np.array(["F", "M"] * 135 + ["X"] * LEFT_OUT)
    passed = rng.integers(0, 2, size=size)
    passed[-LEFT_OUT:] = 0
    passed[size - LEFT_OUT : size - LEFT_OUT + passed_left_out] = 1
    return pd.DataFrame(
        {
            "person_id": np.arange(1, size + 1),
            "sex": sex,
            "aid": rng.integers(0, 2, size=size),
            "passed": passed,
            "score": rng.normal(50, 10, size=size).round(1),
        }
    )


EVERYONE = {"group_by": ["aid"], "rate_of": "passed"}
# The compared groups leave sex X out: a filter on a column.
WITHOUT_X = {"group_column": "sex", "group_a": "F", "group_b": "M", "outcome": "passed"}


def releases(
    app: Flask, db: Session, people: People, passed_left_out: int
) -> tuple[Agreement, Dataset, AnalysisRun]:
    """The survey register with ``passed_left_out`` of the 30 passing, and the rate table
    over everyone, released."""
    dataset = declare(db, people, register(passed_left_out))
    agreement = agreement_over(db, people, dataset, analyst=people.analyst)
    first = run(app, db, agreement, dataset, people.analyst, "descriptive", EVERYONE)
    assert first.status == RunStatus.SUCCEEDED, first.reason
    return agreement, dataset, first


def later(
    app: Flask, db: Session, agreement: Agreement, dataset: Dataset, user: Any
) -> AnalysisRun:
    return run(app, db, agreement, dataset, user, "rate_comparison", WITHOUT_X)


def total_events(run: AnalysisRun) -> int:
    assert run.result is not None
    rates = next(t for t in run.result["tables"] if t["name"] == "rates")
    total = next(c for c in rates["cells"] if set(c["labels"].values()) == {"Total"})
    assert not total["disclosure"]["suppressed"]
    return int(total["values"]["events"])


def test_an_outcome_count_of_a_few_of_the_people_left_out_is_refused(
    app: Flask, db: Session, people: People
) -> None:
    """The attack: 4 of the 30 left out passed. Both tables publish the total's events, so
    their difference would be 4; the later release is refused, audited, records nothing, and
    its reason names neither the earlier run nor the people, but says what to change."""
    agreement, dataset, first = releases(app, db, people, passed_left_out=4)
    second = later(app, db, agreement, dataset, people.analyst)
    refused_for_cells(first, second, db)
    assert "outcome's events" in second.reason
    assert "group them more coarsely, or analyse the same people" in second.reason
    conflicts = second.conflicts or []
    # 30 people apart: the people check alone passes; the outcome count does not.
    assert conflicts[0]["only_in_released"] == LEFT_OUT
    assert conflicts[0]["cells"] == conflicts[0]["outcome_cells"]
    event = db.scalars(select(AuditEvent).where(AuditEvent.target_id == str(second.id))).all()[-1]
    assert event.event_type == AuditType.ANALYSIS_REFUSE
    assert event.detail["conflicts"][0]["outcome_cells"] >= 1
    db.commit()
    # The privacy officer's page names the earlier release and says the outcome is why.
    officer = Browser(app.test_client())
    officer.login(people.privacy.email, PASSWORD)
    page = officer.get(f"/analyses/{second.id}").get_data(as_text=True)
    assert f'href="/analyses/{first.id}"' in page
    cells = conflicts[0]["cells"]
    assert f"({cells} of them by too few of an outcome's events)" in page


@pytest.mark.parametrize("passed_left_out", [12, 18])
def test_a_difference_with_enough_events_and_non_events_is_released(
    app: Flask, db: Session, people: People, passed_left_out: int
) -> None:
    """12 or 18 of the 30 passed: the difference has at least ten with the outcome and ten
    without, as a single rate table would need, so the later table is released. (None of the
    30 passing is refused under the default policy: zeros are disclosive.)"""
    agreement, dataset, first = releases(app, db, people, passed_left_out)
    second = later(app, db, agreement, dataset, people.analyst)
    assert second.status == RunStatus.SUCCEEDED, second.reason
    assert total_events(first) - total_events(second) == passed_left_out


def test_the_ledger_keeps_each_members_outcome_sealed_apart_from_the_cells(
    app: Flask, db: Session, people: People
) -> None:
    """One bit per member and published outcome, sealed under the ledger key and bound to its
    row as outcomes: put in the cells' place, or in another row's, it does not open, and
    neither do the cells in its place."""
    agreement, dataset, first = releases(app, db, people, passed_left_out=4)
    second = run(app, db, agreement, dataset, people.analyst, "descriptive", {"group_by": ["sex"]})
    assert second.status == RunStatus.SUCCEEDED, second.reason
    row = db.scalars(select(ReleasedPopulation).where(ReleasedPopulation.run_id == first.id)).one()
    other = db.scalars(
        select(ReleasedPopulation).where(ReleasedPopulation.run_id == second.id)
    ).one()
    # The counts alone publish no outcome: nothing about outcomes is kept for them.
    assert other.cell_events is None
    assert other.cell_codes
    assert row.cell_events
    assert row.cell_codes
    with app.app_context():
        key = differencing.ledger_key(db)
    opened = differencing.open_events(key, row.run_id, row.label, row.cell_events)
    header = int.from_bytes(opened[:4], "big")
    assert opened[4 : 4 + header] == b'["events:passed"]'
    bits = np.unpackbits(np.frombuffer(opened[4 + header :], dtype=np.uint8), count=row.size)
    assert int(bits.sum()) == total_events(first)
    with pytest.raises(InvalidTag):
        differencing.open_cells(key, row.run_id, row.label, row.cell_events)
    with pytest.raises(InvalidTag):
        differencing.open_events(key, row.run_id, row.label, row.cell_codes)
    with pytest.raises(InvalidTag):
        differencing.open_events(key, other.run_id, other.label, row.cell_events)


def test_outcomes_swapped_into_the_cells_place_stop_the_check(
    app: Flask, db: Session, people: People
) -> None:
    """Someone with the database swaps a row's sealed outcomes and cells: they no longer open,
    and the next release over these people is not made (rather than compared on nothing)."""
    agreement, dataset, first = releases(app, db, people, passed_left_out=4)
    row = db.scalars(select(ReleasedPopulation).where(ReleasedPopulation.run_id == first.id)).one()
    db.execute(
        update(ReleasedPopulation)
        .where(ReleasedPopulation.id == row.id)
        .values(cell_codes=row.cell_events, cell_events=row.cell_codes)
    )
    db.commit()
    second = run(app, db, agreement, dataset, people.analyst, "descriptive", {"group_by": ["aid"]})
    # It fails loudly (an operator's matter, as an altered row is), and nothing is released.
    assert second.status == RunStatus.FAILED
    assert second.result is None
    assert second.id not in {r.run_id for r in db.scalars(select(ReleasedPopulation))}


def test_a_row_from_before_outcomes_were_kept_is_compared_on_people_only(
    app: Flask, db: Session, people: People
) -> None:
    """A row recorded before migration 0047 has cells but no outcomes: the later table, 30
    people apart, is released (its outcome difference cannot be counted: the documented
    limit of such rows), as rows before 0044 are compared on populations only."""
    agreement, dataset, first = releases(app, db, people, passed_left_out=4)
    db.execute(
        update(ReleasedPopulation)
        .where(ReleasedPopulation.run_id == first.id)
        .values(cell_events=None)
    )
    db.commit()
    second = later(app, db, agreement, dataset, people.analyst)
    assert second.status == RunStatus.SUCCEEDED, second.reason
    assert total_events(first) - total_events(second) == 4


def test_a_release_that_finished_meanwhile_is_checked_on_outcomes_too(
    app: Flask, db: Session, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers: the table without X computes while the table over everyone is released.
    The check under the writer lock, before the slow run is recorded, counts outcomes too."""
    dataset = declare(db, people, register(passed_left_out=4))
    agreement = agreement_over(db, people, dataset, analyst=people.analyst)
    slow = submit(db, agreement, dataset, people.analyst, "rate_comparison", WITHOUT_X)

    def meanwhile() -> int:
        return submit(db, agreement, dataset, people.analyst, "descriptive", EVERYONE).id

    refused = while_another_finishes(app, db, monkeypatch, slow.id, meanwhile)
    assert refused.status == RunStatus.REFUSED
    assert refused.result is None
    assert (refused.conflicts or [{}])[0]["outcome_cells"] >= 1


# The matched comparison's outcome tables publish each group's re-offenders: the rate's
# events and the time to re-offence's people. Numeric covariates only, so that its matched
# groups' only cells are the two groups (and their total): a cohort file without ten people
# then differs from the first by ten people in the treatment group's cell, which the people
# check lets through, and by the few of them who re-offended.
MATCHED = {
    "eligibility": {"data_complete_until": "2022-12-31"},
    "covariates": ["age_at_index", "prior_offences", "employed"],
    "categorical": [],
}
NARROWER = slice(90, 102)  # twelve rows of the partner's file: ten people of its treatment group
HALF = 200  # the two parts of the file are each balanced enough for their outcomes to be shown


def reoffenders(run: AnalysisRun) -> dict[str, int]:
    """Each group's re-offenders as published: the time to re-offence's count of people."""
    assert run.result is not None
    table = next(t for t in run.result["tables"] if t["name"] == "time_to_reoffence")
    return {c["labels"]["group"]: int(c["values"]["count"]) for c in table["cells"]}


def matched_run(app: Flask, db: Session, people: People, world: World, cohort: Any) -> AnalysisRun:
    cohort_id = upload_frame(db, people, world, cohort)
    submitted = submit_in(db, people, world, "matched_comparison", MATCHED, cohort_id=cohort_id)
    return execute(app, db, submitted.id)


@pytest.mark.parametrize("narrower_first", [False, True])
def test_a_matched_comparison_a_few_reoffenders_apart_is_refused(
    app: Flask, db: Session, people: People, world: World, narrower_first: bool
) -> None:
    """The partner's file, then the same file without twelve rows (or the other way round):
    the treatment groups are ten people apart, enough for the people check, but four of the
    ten re-offended, which subtracting the two outputs' re-offenders would say (on main both
    were released). The matched groups now hand their re-offending to the ledger, so the
    second run is refused as the other kinds' are, with the same reason and hint."""
    grant_matched(db, people, world)
    full = world.data.cohort
    files = [full, full.drop(full.index[NARROWER])]
    first, later = (files[1], files[0]) if narrower_first else files
    earlier = matched_run(app, db, people, world, first)
    assert earlier.status == RunStatus.SUCCEEDED, earlier.reason
    second = matched_run(app, db, people, world, later)
    refused_for_cells(earlier, second, db)
    assert "outcome's events" in second.reason
    assert "group them more coarsely, or analyse the same people" in second.reason
    conflicts = second.conflicts or []
    assert conflicts[0]["label"] == "treatment and comparison groups"
    assert conflicts[0]["cells"] == conflicts[0]["outcome_cells"]
    row = db.scalars(
        select(ReleasedPopulation).where(
            ReleasedPopulation.run_id == earlier.id,
            ReleasedPopulation.label == "treatment and comparison groups",
        )
    ).one()
    assert row.cell_events  # one sealed bit per matched person: their re-offending


def test_matched_comparisons_over_disjoint_cohorts_are_released(
    app: Flask, db: Session, people: People, world: World
) -> None:
    """Two parts of the partner's file: the treatment groups share nobody, and each side of
    every difference counts at least ten re-offenders and ten who did not, so both are
    released (the outcome check compares them: both rows keep their outcomes)."""
    grant_matched(db, people, world)
    full = world.data.cohort
    first = matched_run(app, db, people, world, full.iloc[:HALF])
    second = matched_run(app, db, people, world, full.iloc[HALF:])
    assert first.status == RunStatus.SUCCEEDED, first.reason
    assert second.status == RunStatus.SUCCEEDED, second.reason
    assert min(reoffenders(first)["treatment"], reoffenders(second)["treatment"]) >= MINIMUM
    rows = db.scalars(
        select(ReleasedPopulation).where(
            ReleasedPopulation.label == "treatment and comparison groups"
        )
    ).all()
    assert len(rows) == 2
    assert all(row.cell_events for row in rows)
