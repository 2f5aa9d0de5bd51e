"""Nobody records their own training.

The attack: a compliance manager (who records training) also works as an analyst under an
agreement that requires CJIS training. Their training lapsed overnight and the read is refused;
they record a renewal for themselves, and the same grant reads again. Training is a condition
of the holder's access: someone else must vouch for it.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType
from governance.authz import Role
from governance.authz.decision import decide
from governance.identity.models import TrainingRecord, User, UserRole
from governance.kernel.errors import PermissionDenied
from tests.access.test_conditions_at_every_read import (
    lapsing,  # noqa: F401  (the fixture)
    morning_after,
    reading,
    renew_cjis,
    today,
)
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.identity.test_admin_pages import record_training
from tests.support import PASSWORD, People


def test_an_analyst_who_records_training_cannot_renew_their_own(
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    lapsing: int,  # noqa: F811  (the fixture imported above)
) -> None:
    people.analyst.roles.append(UserRole(role=Role.COMPLIANCE_MANAGER))
    db.commit()
    morning = morning_after(today() + dt.timedelta(days=1))
    assert not decide(db, reading(people, agreement, datasets, morning)).allowed
    db.rollback()
    analyst = db.get(User, people.analyst.id)
    assert analyst is not None
    with pytest.raises(PermissionDenied) as caught:
        renew_cjis(db, people, by=analyst, now=morning)
    db.rollback()
    assert caught.value.audit is not None
    assert caught.value.audit["rule"] == "no-self-training-record"
    assert not decide(db, reading(people, agreement, datasets, morning)).allowed
    db.rollback()
    # Another person records it: the same grant reads again.
    renew_cjis(db, people, by=people.compliance, now=morning)
    db.commit()
    assert decide(db, reading(people, agreement, datasets, morning)).allowed


def test_the_training_form_refuses_ones_own_and_records_the_refusal(
    browser: Browser, db: Session, people: People
) -> None:
    before = len(fresh(db).scalars(select(TrainingRecord)).all())
    browser.login(people.compliance.email, PASSWORD)
    refused = record_training(
        browser, people.compliance.id, "cjis_security_awareness", "2026-01-10", "2027-01-10"
    )
    assert refused.status_code == 403
    assert len(fresh(db).scalars(select(TrainingRecord)).all()) == before
    event = fresh(db).scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert event is not None
    assert event.event_type == AuditType.TRAINING_RECORD
    assert event.outcome == "denied"
    assert event.rule == "no-self-training-record"
    assert event.actor_id == people.compliance.id
