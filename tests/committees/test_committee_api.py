"""The committee's case through the API: votes decide it, a vote after the decision is 409
and an observer's vote is a recorded 403."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent
from governance.committees.models import Committee, CommitteeCase
from governance.identity import tokens
from governance.identity.models import User
from governance.kernel.types import utcnow
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets
from tests.conftest import fresh
from tests.support import SETUP, People


def bearer(db: Session, person: User) -> dict[str, str]:
    made = tokens.create_token(
        db, user_id=person.id, name="committee test", days=None, by=SETUP, now=utcnow()
    )
    db.commit()
    return {"Authorization": f"Bearer {made.secret}"}


def test_votes_decide_and_a_late_vote_is_refused_with_409(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    committee: Committee,
) -> None:
    request = ask(db, people, agreement, datasets)
    case = fresh(db).scalar(select(CommitteeCase).where(CommitteeCase.request_id == request.id))
    assert case is not None
    client = app.test_client()
    url = f"/api/v1/committee-cases/{case.id}"
    observer = client.post(
        f"{url}/votes", json={"vote": "approve"}, headers=bearer(db, people.partner)
    )
    assert observer.status_code == 403
    refusal = fresh(db).scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert refusal is not None
    assert (refusal.outcome, refusal.rule) == ("denied", "committee-voter")
    for member in (people.checker, people.privacy2):
        answer = client.post(f"{url}/votes", json={"vote": "reject"}, headers=bearer(db, member))
        assert answer.status_code == 200
    body = client.get(url, headers=bearer(db, people.compliance)).get_json()
    assert (body["decision"], body["open"], body["votes_cast"]) == ("rejected", False, 2)
    late = client.post(
        f"{url}/votes", json={"vote": "approve"}, headers=bearer(db, people.compliance)
    )
    assert late.status_code == 409
    standing = client.get(
        f"/api/v1/access-requests/{request.id}", headers=bearer(db, people.analyst)
    ).get_json()
    assert standing["status"] == "denied"
    assert standing["standing"] == "Decided by Data access committee: rejected."
