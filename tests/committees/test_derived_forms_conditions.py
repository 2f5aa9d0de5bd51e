"""A committee member's conditions cannot grant a column in a form the agreement does not
allow (`access.derived_forms`): the vote is refused with the clause, nothing is written, and
the refusal is recorded."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from governance.access.models import AccessRequest, Grant, RequestStatus
from governance.agreements.models import Agreement
from governance.audit.models import AuditType
from governance.committees.models import Committee
from governance.kernel.errors import ValidationFailed
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets, approved
from tests.committees.test_committee_cases import case_of, events, vote
from tests.compliance.test_api import token_of
from tests.conftest import fresh
from tests.support import People

CLAUSE = "access.derived_forms"


@pytest.fixture
def agreement(db: Session, people: People, datasets: Datasets) -> Agreement:
    return approved(db, people, datasets, derived_forms="coarsened")


def test_a_condition_naming_a_form_the_agreement_does_not_allow_is_refused(
    client: FlaskClient,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    committee: Committee,
) -> None:
    request = ask(db, people, agreement, datasets, columns=("sex", "age_at_arrest"))
    with pytest.raises(ValidationFailed, match=CLAUSE) as refused:
        vote(
            db,
            case_of(db, request),
            people.checker,
            "approve_with_conditions",
            conditions={"forms": {"age_at_arrest": "pseudonymised"}},
        )
    assert refused.value.audit is not None
    assert refused.value.audit["clause"] == CLAUSE
    assert refused.value.audit["event_type"] == AuditType.COMMITTEE_VOTE
    db.rollback()
    assert not case_of(db, request).current_votes
    # Through the API the refusal is a 422 naming the clause, and recorded.
    case = case_of(db, request)
    answer = client.post(
        f"/api/v1/committee-cases/{case.id}/votes",
        json={
            "vote": "approve_with_conditions",
            "conditions": {"forms": {"age_at_arrest": "pseudonymised"}},
        },
        headers=token_of(db, people.checker),
    )
    assert answer.status_code == 422, answer.get_json()
    assert CLAUSE in str(answer.get_json())
    assert not case_of(db, request).current_votes
    [denied] = events(db, AuditType.COMMITTEE_VOTE)
    assert denied.outcome == "denied"
    assert denied.clause == CLAUSE
    # The form it allows is granted.
    for member in (people.checker, people.privacy2):
        vote(
            db,
            case_of(db, request),
            member,
            "approve_with_conditions",
            conditions={"forms": {"age_at_arrest": "coarsened"}},
        )
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.APPROVED
    grant = db.get(Grant, found.grant_id)
    assert grant is not None
    assert grant.forms == {"age_at_arrest": "coarsened"}
