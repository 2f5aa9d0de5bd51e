"""An incident freeze withdraws the published outputs it names from the public page, with a
notice instead of the figures and files, and lifting the freeze (or closing the incident)
restores them; each withdrawal and restoration is an audit event (issue 17)."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType
from governance.incidents import service as incidents
from governance.kernel.types import utcnow
from tests.agreements.builders import Datasets
from tests.conftest import fresh
from tests.outputs.builders import published
from tests.outputs.test_public import public_urls
from tests.support import People

NOTICE = "while a reported incident is investigated"


def output_events(db: Session, output_id: int) -> list[str]:
    return [
        str(e)
        for e in fresh(db).scalars(
            select(AuditEvent.event_type)
            .where(
                AuditEvent.target_type == "output",
                AuditEvent.target_id == str(output_id),
                AuditEvent.event_type.in_([AuditType.OUTPUT_WITHDRAW, AuditType.OUTPUT_RESTORE]),
            )
            .order_by(AuditEvent.seq)
        )
    ]


def test_a_freeze_withdraws_the_named_outputs_and_lifting_it_restores_them(
    db: Session, client: FlaskClient, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    named = published(db, people, agreement, title="Re-arrest after diversion")
    other = published(db, people, agreement, title="Arrests by age band", run_id=42)
    incident = incidents.report_incident(
        db,
        kind="disclosive_output",
        description="A cell in the published table may identify a person.",
        agreement_ids=[agreement.id],
        output_ids=[named.id],
        by=people.analyst,
        now=utcnow(),
    )
    db.commit()
    assert NOTICE not in client.get("/published/").get_data(as_text=True)

    incidents.freeze(db, incident_id=incident.id, by=people.privacy, now=utcnow())
    db.commit()
    index = client.get("/published/").get_data(as_text=True)
    assert index.count(NOTICE) == 1
    assert "Re-arrest after diversion" in index  # listed, with the notice
    page = client.get(f"/published/{named.id}")
    assert page.status_code == 200
    assert NOTICE in page.get_data(as_text=True)
    assert "Figures" not in page.get_data(as_text=True)
    for url in public_urls(named.id)[1:]:
        assert client.get(url).status_code == 410, url
    # An output the incident does not name stays as it was.
    assert NOTICE not in client.get(f"/published/{other.id}").get_data(as_text=True)
    assert client.get(public_urls(other.id)[3]).status_code == 200
    assert output_events(db, named.id) == [AuditType.OUTPUT_WITHDRAW]
    assert output_events(db, other.id) == []

    incidents.unfreeze(db, incident_id=incident.id, by=people.privacy, now=utcnow())
    db.commit()
    assert NOTICE not in client.get("/published/").get_data(as_text=True)
    assert "Figures" in client.get(f"/published/{named.id}").get_data(as_text=True)
    assert client.get(public_urls(named.id)[3]).status_code == 200
    assert output_events(db, named.id) == [AuditType.OUTPUT_WITHDRAW, AuditType.OUTPUT_RESTORE]


def test_closing_a_frozen_incident_restores_its_outputs(
    db: Session, client: FlaskClient, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    named = published(db, people, agreement)
    incident = incidents.report_incident(
        db,
        kind="disclosive_output",
        description="Suspected disclosive cell.",
        agreement_ids=[agreement.id],
        output_ids=[named.id],
        by=people.analyst,
        now=utcnow(),
    )
    incidents.freeze(db, incident_id=incident.id, by=people.privacy, now=utcnow())
    for clock in incident.clocks:
        incidents.record_notification(
            db, incident_id=incident.id, clock_id=clock.id, by=people.privacy, now=utcnow()
        )
    db.commit()
    assert NOTICE in client.get(f"/published/{named.id}").get_data(as_text=True)
    incidents.close(
        db,
        incident_id=incident.id,
        root_cause="The cell held 12 people; it was not disclosive.",
        actions_taken="Checked again by two checkers.",
        by=people.privacy,
        now=utcnow(),
    )
    db.commit()
    assert NOTICE not in client.get(f"/published/{named.id}").get_data(as_text=True)
    assert output_events(db, named.id) == [AuditType.OUTPUT_WITHDRAW, AuditType.OUTPUT_RESTORE]
