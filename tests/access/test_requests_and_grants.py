"""Requests, steward review and grants: each rule with its negative case, on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import grants, requests
from governance.access.models import AccessRequest, Grant, GrantStatus, RequestStatus
from governance.agreements import service as agreements
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType
from governance.identity.models import TrainingRecord
from governance.kernel.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from governance.kernel.types import utcnow
from tests.agreements.builders import Datasets
from tests.support import People


def ask(
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    columns: tuple[str, ...] = ("sex", "age_at_arrest"),
    **changes: object,
) -> AccessRequest:
    values: dict[str, object] = {
        "agreement_id": agreement.id,
        "dataset_id": datasets.arrests.id,
        "columns": columns,
        "purpose": "descriptive",
        "justification": "Describe the cohort by sex and age.",
        "end_date": utcnow().date() + dt.timedelta(days=60),
        "download": False,
        "by": people.analyst,
        "now": utcnow(),
    }
    values.update(changes)
    request = requests.submit_request(db, **values)  # type: ignore[arg-type]
    db.commit()
    return request


def ask_and_grant(
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    columns: tuple[str, ...] = ("sex", "age_at_arrest"),
    **changes: object,
) -> AccessRequest:
    """A request as `ask` makes it, approved by the steward for the columns it asked for."""
    request = ask(db, people, agreement, datasets, columns, **changes)
    requests.steward_approve(
        db,
        request_id=request.id,
        columns=list(columns),
        comment="",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    return request


def last_event(db: Session) -> AuditEvent:
    db.rollback()
    event = db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert event is not None
    return event


def test_steward_grants_fewer_columns_than_asked(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    request = ask(
        db, people, agreement, datasets, columns=("sex", "age_at_arrest", "offence_category")
    )
    requests.steward_approve(
        db,
        request_id=request.id,
        columns=["sex", "age_at_arrest"],
        comment="Offence category is not needed for this purpose.",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    grant = db.get(Grant, request.grant_id)
    assert grant is not None
    assert grant.column_names == ["age_at_arrest", "sex"]
    assert grant.status == GrantStatus.ACTIVE
    assert grant.valid_until.date() == request.end_date + dt.timedelta(days=1)
    approval = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.ACCESS_REQUEST_APPROVE)
    ).one()
    assert approval.detail["left_out"] == ["offence_category"]


def test_nobody_reviews_their_own_request(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    from governance.authz import Role
    from governance.datasets.models import DatasetSteward
    from governance.identity import users
    from tests.support import SETUP

    users.update_user(
        db,
        user_id=people.analyst.id,
        name=people.analyst.name,
        organization_id=people.lab.id,
        roles=["analyst", "data_steward"],
        by=SETUP,
    )
    db.add(DatasetSteward(dataset_id=datasets.arrests.id, user_id=people.analyst.id))
    db.commit()
    assert Role.DATA_STEWARD in people.analyst.role_set
    request = ask(db, people, agreement, datasets)
    with pytest.raises(PermissionDenied, match="own request") as refused:
        requests.steward_approve(
            db, request_id=request.id, columns=["sex"], comment="", by=people.analyst, now=utcnow()
        )
    assert refused.value.audit is not None
    assert refused.value.audit["event_type"] == AuditType.ACCESS_REQUEST_APPROVE


def test_only_a_steward_of_the_dataset_reviews(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    request = ask(db, people, agreement, datasets)
    with pytest.raises(PermissionDenied):
        requests.steward_approve(
            db, request_id=request.id, columns=["sex"], comment="", by=people.privacy, now=utcnow()
        )


def steward_approves_an_identifier(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> AccessRequest:
    """A request for `person_id` and `sex`, approved by the steward: it awaits the second."""
    request = ask(db, people, agreement, datasets, columns=("person_id", "sex"))
    requests.steward_approve(
        db,
        request_id=request.id,
        columns=["person_id", "sex"],
        comment="Linkage needs the identifier.",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    return request


def test_direct_identifiers_need_a_privacy_officer_too(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    request = steward_approves_an_identifier(db, people, agreement, datasets)
    assert request.status == RequestStatus.AWAITING_PRIVACY_OFFICER
    assert request.grant_id is None
    assert db.scalars(select(Grant)).first() is None
    with pytest.raises(PermissionDenied):  # the steward cannot give the second approval
        requests.privacy_approve(
            db, request_id=request.id, comment="", by=people.steward, now=utcnow()
        )
    db.rollback()
    requests.privacy_approve(
        db, request_id=request.id, comment="Approved for linkage.", by=people.privacy, now=utcnow()
    )
    db.commit()
    assert request.status == RequestStatus.APPROVED
    grant = db.get(Grant, request.grant_id)
    assert grant is not None
    assert grant.column_names == ["person_id", "sex"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"columns": ("district",)}, "columns"),  # not covered by the agreement
        ({"columns": ("no_such_column",)}, "columns"),
        ({"purpose": "record_linkage"}, "purpose"),  # not a permitted use
        ({"end_date": utcnow().date() + dt.timedelta(days=5000)}, "end_date"),
        ({"download": True}, "download"),  # the agreement forbids row-level data
        ({"justification": "   "}, "justification"),
    ],
)
def test_submission_checks_the_agreement_terms(
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    changes: dict[str, object],
    field: str,
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        ask(db, people, agreement, datasets, **changes)
    assert field in refused.value.fields
    db.rollback()
    assert db.scalars(select(AccessRequest)).first() is None


def test_only_personnel_may_ask(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    from governance.authz import Role
    from tests.support import add_person

    outsider = add_person(
        db, app, email="x@test.example", name="Outsider", org=people.lab, roles=(Role.ANALYST,)
    )
    db.commit()
    with pytest.raises(PermissionDenied, match="not authorised personnel"):
        ask(db, people, agreement, datasets, by=outsider)


def test_training_must_be_current_including_cjis(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    for record in db.scalars(
        select(TrainingRecord).where(
            TrainingRecord.user_id == people.analyst.id,
            TrainingRecord.course == "cjis_security_awareness",
        )
    ):
        db.delete(record)
    db.commit()
    db.expire_all()
    with pytest.raises(PermissionDenied, match="CJIS"):
        ask(db, people, agreement, datasets)


def test_training_lapsing_between_submission_and_approval_blocks_approval(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    request = ask(db, people, agreement, datasets)
    later = utcnow() + dt.timedelta(days=400)  # every course has expired by then
    with pytest.raises((PermissionDenied, InvalidTransition)):
        requests.steward_approve(
            db, request_id=request.id, columns=["sex"], comment="", by=people.steward, now=later
        )


def test_deny_return_resubmit_and_409s(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    request = ask(db, people, agreement, datasets)
    requests.return_request(
        db, request_id=request.id, comment="Say why age is needed.", by=people.steward, now=utcnow()
    )
    db.commit()
    with pytest.raises(InvalidTransition) as blocked:
        requests.steward_approve(
            db, request_id=request.id, columns=["sex"], comment="", by=people.steward, now=utcnow()
        )
    assert blocked.value.allowed == ["resubmit", "withdraw"]
    db.rollback()
    requests.resubmit_request(
        db,
        request_id=request.id,
        columns=["sex"],
        purpose="descriptive",
        justification="Only sex is needed.",
        end_date=request.end_date,
        download=False,
        by=people.analyst,
        now=utcnow(),
    )
    requests.deny_request(
        db,
        request_id=request.id,
        reason="Use the published tables.",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    assert request.status == RequestStatus.DENIED
    assert last_event(db).event_type == AuditType.ACCESS_REQUEST_DENY


def test_revocation_ends_a_grant_and_is_audited(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    request = ask(db, people, agreement, datasets)
    requests.steward_approve(
        db, request_id=request.id, columns=["sex"], comment="", by=people.steward, now=utcnow()
    )
    db.commit()
    assert request.grant_id is not None
    # Its holder sees it but may not revoke it; someone who may not see it is told there is
    # no such grant (tests/access/test_unseen_actions.py).
    with pytest.raises(PermissionDenied):
        grants.revoke_grant(
            db, grant_id=request.grant_id, reason="x", by=people.analyst, now=utcnow()
        )
    db.rollback()
    with pytest.raises(NotFound):
        grants.revoke_grant(
            db, grant_id=request.grant_id, reason="x", by=people.analyst2, now=utcnow()
        )
    db.rollback()
    grants.revoke_grant(
        db,
        grant_id=request.grant_id,
        reason="Project role changed.",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    grant = db.get(Grant, request.grant_id)
    assert grant is not None
    assert grant.status == GrantStatus.REVOKED
    assert last_event(db).event_type == AuditType.GRANT_REVOKE


def test_terminating_the_agreement_revokes_its_grants(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    request = ask(db, people, agreement, datasets)
    requests.steward_approve(
        db, request_id=request.id, columns=["sex"], comment="", by=people.steward, now=utcnow()
    )
    db.commit()
    agreements.terminate(
        db, agreement_id=agreement.id, reason="Partner withdrew.", by=people.privacy2, now=utcnow()
    )
    db.commit()
    grant = db.get(Grant, request.grant_id)
    assert grant is not None
    assert grant.status == GrantStatus.REVOKED
    assert grant.end_reason == "the agreement was terminated"
