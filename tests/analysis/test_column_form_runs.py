"""An analysis run under a grant of a coarsened column: the engine receives the column only in
its granted form (through the one door), so no table of the run carries a fine value."""

from __future__ import annotations

import datetime as dt
import re

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import requests
from governance.analysis.models import RunStatus
from governance.audit.models import AuditEvent, AuditType
from governance.kernel.types import utcnow
from tests.analysis.conftest import World, execute, submit
from tests.support import People

BAND = re.compile(r"^\d+-\d+$")


def test_a_run_groups_by_the_granted_bands_never_by_the_fine_ages(
    app: Flask, db: Session, people: People, world: World
) -> None:
    now = utcnow()
    request = requests.submit_request(
        db,
        agreement_id=world.agreement.id,
        dataset_id=world.events.id,
        columns=["person_id", "age_at_index"],
        purpose="descriptive",
        justification="Counts by age band.",
        end_date=now.date() + dt.timedelta(days=60),
        download=False,
        by=people.analyst,
        now=now,
    )
    db.commit()
    requests.steward_approve(
        db,
        request_id=request.id,
        columns=["person_id", "age_at_index"],
        comment="",
        forms={"age_at_index": "coarsened", "person_id": "pseudonymised"},
        by=people.steward,
        now=now,
    )
    db.commit()
    if request.grant_id is None:
        requests.privacy_approve(
            db, request_id=request.id, comment="Pseudonymised ids only.", by=people.privacy, now=now
        )
        db.commit()
    run = submit(db, people, world, "descriptive", {"group_by": ["age_at_index"]})
    run = execute(app, db, run.id)
    assert run.status == RunStatus.SUCCEEDED, run.reason
    labels = {
        cell["labels"]["age_at_index"]
        for table in run.result["tables"]
        for cell in table["cells"]
        if "age_at_index" in cell["labels"]
    } - {"Total"}
    assert labels
    assert all(BAND.match(str(label)) for label in labels), labels
    fine = {str(a) for a in world.data.index_events["age_at_index"].unique()}
    assert not labels & fine
    read = db.scalars(
        select(AuditEvent)
        .where(AuditEvent.event_type == AuditType.DATASET_READ)
        .order_by(AuditEvent.seq.desc())
    ).first()
    assert read is not None
    assert read.detail["forms"] == {"age_at_index": "coarsened", "person_id": "pseudonymised"}
