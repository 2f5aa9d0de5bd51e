"""Disclosure control surfaced in stored results, the differencing ledger, cohort-size and
balance refusals, the queue hand-off after commit, and reads only through the data door."""

from __future__ import annotations

import inspect

import pandas as pd
import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.analysis.models import AnalysisRun, ReleasedPopulation, RunStatus
from governance.audit.models import AuditEvent, AuditType
from governance.datasets import lowest_values
from governance.datasets.datastore import crypto, pme, store
from governance.datasets.ingestion import ingest_frame
from governance.kernel import jobs
from tests.analysis.conftest import (
    MATCHED_PARAMS,
    World,
    execute,
    grant_matched,
    grant_records,
    make_agreement,
    submit,
    upload,
)
from tests.support import SETUP, People


def rules_fired(run: AnalysisRun) -> set[str]:
    assert run.result is not None
    return {
        rule
        for table in run.result["tables"]
        for cell in table["cells"]
        for rule in cell["disclosure"]["rules"]
    }


def test_threshold_and_secondary_suppression_are_stored_per_cell(
    app: Flask, db: Session, people: People, world: World
) -> None:
    grant_records(db, people, world, "descriptive")
    run = submit(db, people, world, "descriptive", {"group_by": ["region", "offence_category"]})
    run = execute(app, db, run.id)
    assert run.status == RunStatus.SUCCEEDED, run.reason
    assert {"threshold", "secondary"} <= rules_fired(run)
    for table in run.result["tables"]:
        for cell in table["cells"]:
            if cell["disclosure"]["suppressed"]:
                assert all(v is None for v in cell["values"].values())
    assert b",,true,threshold" in (run.report_csv or b"")


def test_dominance_and_rounding_follow_the_agreement(
    app: Flask, db: Session, people: People, world: World
) -> None:
    world.agreement = make_agreement(
        db, people, [world.events.id, world.offences.id], dominance_threshold=0.05, rounding_base=5
    )
    # Under rounding a mean is taken from the column's declared lowest value.
    lowest_values.declare_lowest_values(
        db, dataset_id=world.events.id, values={"prior_offences": 0}, by=people.steward
    )
    db.commit()
    grant_records(db, people, world, "descriptive")
    run = submit(
        db,
        people,
        world,
        "descriptive",
        {"group_by": ["offence_category"], "mean_of": "prior_offences"},
    )
    run = execute(app, db, run.id)
    assert run.status == RunStatus.SUCCEEDED, run.reason
    assert {"dominance", "rounding"} <= rules_fired(run)
    counts = next(t for t in run.result["tables"] if t["name"] == "counts")
    assert all(
        c["values"]["count"] % 5 == 0 for c in counts["cells"] if not c["disclosure"]["suppressed"]
    )
    assert counts["policy"]["dominance_k"] == 0.05


def test_the_protection_interval_follows_the_agreement(
    app: Flask, db: Session, people: People, world: World
) -> None:
    """The agreement's protection width (publication.protection_width) reaches the engine:
    a suppressed count must not be recoverable to within 37 people, not the engine's default
    of the minimum cell size."""
    world.agreement = make_agreement(
        db, people, [world.events.id, world.offences.id], min_cell_size=13, protection_width=37
    )
    grant_records(db, people, world, "descriptive")
    run = submit(db, people, world, "descriptive", {"group_by": ["region", "offence_category"]})
    run = execute(app, db, run.id)
    assert run.status == RunStatus.SUCCEEDED, run.reason
    assert run.provenance is not None
    policy = run.provenance["agreement"]["policy"]
    assert (policy["min_cell_size"], policy["protection_width"]) == (13, 37)


def test_a_second_output_differing_by_a_few_people_is_refused_by_the_ledger(
    app: Flask, db: Session, people: People, world: World
) -> None:
    grant_records(db, people, world, "descriptive")
    first = execute(app, db, submit(db, people, world, "descriptive", {"group_by": ["sex"]}).id)
    assert first.status == RunStatus.SUCCEEDED
    ledger = db.scalars(select(ReleasedPopulation)).all()
    assert [(p.label, p.run_id) for p in ledger] == [("records", first.id)]
    # Three new people arrive in a new version of the register: the same table again would
    # describe them by subtraction.
    events = world.data.index_events
    extra = events.head(3).assign(
        person_id=[900001, 900002, 900003], index_id=[900001, 900002, 900003]
    )
    ingest_frame(
        db,
        dataset_id=world.events.id,
        source_filename="events-v2.csv",
        by=SETUP,
        frame=pd.concat([events, extra])[world.events.column_names],
    )
    db.commit()
    second = execute(app, db, submit(db, people, world, "descriptive", {"group_by": ["sex"]}).id)
    assert second.status == RunStatus.REFUSED
    assert second.clause == "publication.min_cell_size"
    # The analyst's reason says what to change, never which release it was.
    assert f"run {first.id}" not in second.reason
    assert "at least 10 people" in second.reason
    assert [c["run_id"] for c in second.conflicts or []] == [first.id]
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.ANALYSIS_REFUSE)
    ).one()
    assert event.detail["reason"] == "differencing"
    assert event.detail["conflicts"][0]["run_id"] == first.id
    # The refused run never entered the ledger.
    assert [p.run_id for p in db.scalars(select(ReleasedPopulation))] == [first.id]


def test_a_cohort_below_the_agreements_minimum_is_refused_and_recorded(
    app: Flask, db: Session, people: People, world: World
) -> None:
    world.agreement = make_agreement(
        db, people, [world.events.id, world.offences.id], min_cohort_size=5000
    )
    grant_matched(db, people, world)
    cohort_id = upload(db, people, world)
    run = execute(
        app,
        db,
        submit(db, people, world, "matched_comparison", MATCHED_PARAMS, cohort_id=cohort_id).id,
    )
    assert run.status == RunStatus.REFUSED
    assert run.clause == "publication.min_cohort_size"
    assert run.result is None
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.ANALYSIS_REFUSE)
    ).one()
    assert event.detail["reason"] == "cohort_too_small"


def test_unbalanced_matching_withholds_outcomes_but_succeeds(
    app: Flask, db: Session, people: People, world: World
) -> None:
    grant_matched(db, people, world)
    cohort_id = upload(db, people, world)
    params = {**MATCHED_PARAMS, "max_abs_smd": 0.0001}
    run = execute(
        app, db, submit(db, people, world, "matched_comparison", params, cohort_id=cohort_id).id
    )
    assert run.status == RunStatus.SUCCEEDED, run.reason
    assert "outcomes" in run.result["withheld"]
    assert "did not balance" in run.result["summary"]
    assert run.result["figures"].get("outcomes") in (None, {})
    assert run.result["figures"]["balance"]
    assert run.report_pdf is not None


def test_a_rolled_back_submission_leaves_no_message(
    app: Flask, db: Session, people: People, world: World
) -> None:
    from governance.analysis import runs as analyses
    from governance.kernel.extensions import database
    from governance.kernel.types import utcnow

    grant_records(db, people, world, "descriptive")
    queue = jobs.queue_for(app.config["QUEUE_URL"])
    assert jobs.pending_run_ids(queue) == set()
    with database(app).session() as session:
        run = analyses.submit_run(
            session,
            agreement_id=world.agreement.id,
            kind="descriptive",
            parameters={"group_by": ["sex"]},
            datasets={"records": world.events.id},
            by=people.analyst,
            now=utcnow(),
        )
        assert run.id is not None
        assert jobs.pending_run_ids(queue) == set(), "no message before the commit"
        session.rollback()
    assert jobs.pending_run_ids(queue) == set()
    assert db.scalars(select(AnalysisRun)).all() == []
    committed = submit(db, people, world, "descriptive", {"group_by": ["sex"]})
    assert jobs.pending_run_ids(queue) == {committed.id}


def test_the_analysis_path_decrypts_only_through_the_door(
    app: Flask, db: Session, people: People, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    grant_matched(db, people, world)
    cohort_id = upload(db, people, world)
    callers: dict[str, list[list[str]]] = {"cohort file": [], "dataset": []}
    reader = crypto.DecryptingReader.__init__
    decryption = pme.VersionKeys.decryption

    def spy_reader(self: object, *args: object, **kwargs: object) -> None:
        callers["cohort file"].append([frame.filename for frame in inspect.stack()])
        reader(self, *args, **kwargs)  # type: ignore[arg-type]

    def spy_decryption(self: pme.VersionKeys) -> object:
        stack = [frame.filename for frame in inspect.stack()]
        # Cohort files and dataset versions are both modular-encrypted Parquet now (files of
        # the older chunked format still go through the chunked reader): which file is being
        # opened shows in who asks for the keys.
        cohort = any(name.endswith("datastore/cohorts.py") for name in stack)
        callers["cohort file" if cohort else "dataset"].append(stack)
        return decryption(self)

    # Start cold: a request's re-identification figures may already have read (through the
    # door) the columns the run asks for, and the cache would then answer without a file.
    store._cache.clear()
    monkeypatch.setattr(crypto.DecryptingReader, "__init__", spy_reader)
    monkeypatch.setattr(pme.VersionKeys, "decryption", spy_decryption)
    run = execute(
        app,
        db,
        submit(db, people, world, "matched_comparison", MATCHED_PARAMS, cohort_id=cohort_id).id,
    )
    assert run.status == RunStatus.SUCCEEDED, run.reason
    assert len(callers["cohort file"]) == 1  # the cohort file, once
    # The two datasets, each loaded once: its encrypted footer opened to see which granted
    # columns it holds, then those columns read.
    assert len(callers["dataset"]) == 4
    for stack in callers["cohort file"] + callers["dataset"]:
        assert any(name.endswith("governance/access/data_door.py") for name in stack)
