"""Two people changing the same agreement or output at the same moment.

On PostgreSQL (READ COMMITTED) both transactions used to read the same state and both pass
the lifecycle check. The second must wait for the first and then be refused (409).
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.kernel.errors import InvalidTransition
from governance.kernel.types import utcnow
from tests.access.test_request_races import _race
from tests.agreements.builders import Datasets, draft
from tests.conftest import fresh
from tests.support import People


def test_two_approvals_of_one_version_at_once_approve_it_once(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = draft(db, people, datasets)
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    db.commit()

    def approve(session: Session) -> object:
        return agreements.approve(
            session, agreement_id=agreement.id, by=people.privacy2, now=utcnow()
        )

    raised = _race(app, approve, approve)
    assert [type(e) for e in raised] == [InvalidTransition]
    approvals = fresh(db).scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.event_type == AuditType.AGREEMENT_APPROVE,
            AuditEvent.outcome == Outcome.SUCCESS,
        )
    )
    assert approvals == 1
