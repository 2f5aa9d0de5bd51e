"""An audit alert opens an incident (issue 17): a verification that finds the trail edited is
recorded as a failure, and the `incidents.audit_alerts` job opens one incident for it, naming
the agreement of the faulty event, telling the privacy officers; running again opens no other."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType
from governance.audit.verify import run_verification
from governance.incidents.alerts import open_from_audit_alerts
from governance.incidents.models import Incident, IncidentKind
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from governance.periodic import SCHEDULER
from tests.agreements.builders import approved, make_datasets
from tests.conftest import fresh
from tests.support import People


def test_a_failed_verification_opens_one_incident_on_the_agreement_it_names(
    app: Any, db: Session, people: People, intruder: Callable[..., None]
) -> None:
    agreement = approved(db, people, make_datasets(db, people))
    db.commit()
    assert open_from_audit_alerts(db, SCHEDULER, utcnow()) == 0  # an intact trail: no alert
    created = (
        fresh(db)
        .scalars(
            select(AuditEvent.seq).where(
                AuditEvent.agreement_id == agreement.id,
                AuditEvent.event_type == AuditType.AGREEMENT_CREATE,
            )
        )
        .one()
    )
    intruder("UPDATE audit_event SET detail = '{}' WHERE seq = :seq", seq=created)
    result = run_verification(fresh(db), database(app).read_engine(), by=people.compliance)
    db.commit()
    assert result.fault is not None
    assert result.fault.seq == created

    assert open_from_audit_alerts(db, SCHEDULER, utcnow()) == 1
    db.commit()
    incident = fresh(db).scalars(select(Incident)).one()
    assert incident.kind == IncidentKind.AUDIT_ALERT
    assert incident.agreement_ids == [agreement.id]
    assert f"event {created}" in incident.description
    assert incident.reported_by_id is None
    followed = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.INCIDENT_FROM_ALERT))
        .one()
    )
    assert followed.detail["incident_id"] == incident.id
    # The same alert never opens a second incident.
    assert open_from_audit_alerts(db, SCHEDULER, utcnow()) == 0
