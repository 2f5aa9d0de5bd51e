"""An agreement's lifecycle action through the API is refused for who and when before what
was sent: a caller without the permission gets 403 (recorded) and a state that forbids the
action 409, whatever the body, never 422 for a body that the action would not have read."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.models import Agreement
from governance.audit.models import AuditType
from governance.identity.models import User
from governance.kernel.types import utcnow
from tests.agreements import builders
from tests.agreements.builders import Datasets
from tests.compliance.test_api import token_of
from tests.outputs.builders import denied
from tests.support import People

# Each action (its address after /agreements/<id>, its method) and the event a refusal records.
ACTIONS = {
    "edit": ("", "PATCH", AuditType.AGREEMENT_UPDATE),
    "submit": ("/submit", "POST", AuditType.AGREEMENT_SUBMIT),
    "approve": ("/approve", "POST", AuditType.AGREEMENT_APPROVE),
    "return": ("/return", "POST", AuditType.AGREEMENT_RETURN),
    "execute": ("/execute", "POST", AuditType.AGREEMENT_EXECUTE),
    "amend": ("/amend", "POST", AuditType.AGREEMENT_AMEND),
    "discard amendment": ("/discard-amendment", "POST", AuditType.AGREEMENT_DISCARD_AMENDMENT),
    "terminate": ("/terminate", "POST", AuditType.AGREEMENT_TERMINATE),
    "certify destruction": (
        "/certify-destruction",
        "POST",
        AuditType.AGREEMENT_CERTIFY_DESTRUCTION,
    ),
}
# No action takes this (an unknown field; the actions without a body take none).
INVALID = {"not_a_field": ["?"]}


@pytest.fixture
def closed(db: Session, people: People, datasets: Datasets) -> Agreement:
    """Ended and its data destroyed: no lifecycle action is left."""
    agreement = builders.approved(db, people, datasets)
    agreements.terminate(
        db, agreement_id=agreement.id, reason="Ended.", by=people.privacy, now=utcnow()
    )
    agreements.certify_destruction(
        db, agreement_id=agreement.id, statement="Destroyed.", by=people.privacy, now=utcnow()
    )
    db.commit()
    return agreement


def send_invalid(app: Flask, db: Session, person: User, agreement: Agreement, name: str) -> Any:
    path, method, _ = ACTIONS[name]
    return app.test_client().open(
        f"/api/v1/agreements/{agreement.id}{path}",
        method=method,
        json=INVALID,
        headers=token_of(db, person),
    )


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_an_invalid_body_from_who_may_not_act_is_403_and_recorded(
    app: Flask, db: Session, people: People, closed: Agreement, name: str
) -> None:
    answer = send_invalid(app, db, people.analyst, closed, name)
    assert answer.status_code == 403, answer.get_data(as_text=True)
    [refused] = denied(db, ACTIONS[name][2])
    assert (refused.actor_email, refused.target_id) == (people.analyst.email, str(closed.id))


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_an_invalid_body_in_a_state_that_forbids_the_action_is_409(
    app: Flask, db: Session, people: People, closed: Agreement, name: str
) -> None:
    answer = send_invalid(app, db, people.privacy2, closed, name)
    assert answer.status_code == 409, answer.get_data(as_text=True)


def test_an_invalid_approval_from_its_own_drafter_is_403(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    """Separation of duties is who, too: refused before the body."""
    agreement = builders.draft(db, people, datasets)
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    db.commit()
    answer = app.test_client().post(
        f"/api/v1/agreements/{agreement.id}/approve",
        json={"comment": 5},
        headers=token_of(db, people.privacy),
    )
    assert answer.status_code == 403, answer.get_data(as_text=True)
    assert [e.actor_email for e in denied(db, AuditType.AGREEMENT_APPROVE)] == [
        people.privacy.email
    ]
