"""Closing an agreement destroys the partner's cohort files; the evidence pack lists runs."""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.audit.evidence import providers
from governance.datasets.cohort_model import CohortFile
from governance.kernel.types import utcnow
from tests.analysis.conftest import World, execute, grant_records, submit, upload
from tests.conftest import fresh
from tests.support import People


def test_closing_the_agreement_destroys_its_cohort_files(
    db: Session, people: People, world: World
) -> None:
    cohort_id = upload(db, people, world)
    now = utcnow()
    agreements.terminate(
        db, agreement_id=world.agreement.id, reason="Funding ended.", by=people.privacy2, now=now
    )
    agreements.certify_destruction(
        db,
        agreement_id=world.agreement.id,
        by=people.privacy,
        now=now,
        statement="All copies deleted.",
    )
    db.commit()
    cohort = fresh(db).get(CohortFile, cohort_id)
    assert cohort is not None
    assert cohort.destroyed_at is not None


def test_the_evidence_pack_lists_the_agreements_runs_and_outputs(
    app: Flask, db: Session, people: People, world: World
) -> None:
    grant_records(db, people, world, "descriptive")
    run = execute(app, db, submit(db, people, world, "descriptive", {"group_by": ["sex"]}).id)
    sections = {s.title: s for s in providers.sections(db, world.agreement.id)}
    runs = sections["Analyses run under the agreement"]
    assert [row[0] for row in runs.rows] == [f"#{run.id}"]
    assert "v1" in runs.rows[0][5]
    outputs = sections["Outputs: checks, partner preview and publication"]
    assert [row[1] for row in outputs.rows] == [f"run #{run.id}"]
