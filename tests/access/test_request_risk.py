"""A request for quasi-identifiers carries its re-identification figures, counted through the
one door without showing a row, audited, and shown to the steward as counts and shares only."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import requests
from governance.access.models import AccessRequest, RequestStatus
from governance.agreements.models import Agreement, AgreementVersion
from governance.audit.models import AuditEvent, AuditType
from governance.authz.decision import decide_risk_assessment
from governance.datasets.ingestion import ingest_frame
from governance.kernel.types import utcnow
from tests.access.test_data_door import ROWS
from tests.access.test_requests_and_grants import ask, ask_and_grant
from tests.agreements.builders import Datasets
from tests.compliance.test_api import token_of
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, SETUP, People

# Values of the stored rows that must never reach the page, the JSON or the audit trail.
ROW_VALUES = ("theft", "assault", "P0001", "Person 1", "north", "1990-01-01")


@pytest.fixture
def stored(db: Session, datasets: Datasets) -> Datasets:
    ingest_frame(
        db, dataset_id=datasets.arrests.id, frame=ROWS, source_filename="arrests.csv", by=SETUP
    )
    db.commit()
    return datasets


def events(db: Session, event_type: AuditType) -> list[AuditEvent]:
    db.rollback()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.event_type == event_type)))


def test_figures_are_stored_with_the_request_and_hand_checked(
    db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    request = ask(db, people, agreement, stored, columns=("sex", "age_at_arrest"))
    figures = fresh(db).get(AccessRequest, request.id).risk_figures  # type: ignore[union-attr]
    assert figures is not None
    requested = figures["requested"]
    # 30 records, every age distinct: each record is alone in its class.
    assert requested["records"] == 30
    assert requested["unique_records"] == 30
    assert requested["unique_share"] == 1.0
    assert requested["k_anonymity"] == 1
    assert requested["threshold"] == 10  # the agreement's minimum cell size
    assert requested["l_diversity"] == {"offence_category": 1}
    without_age = next(a for a in figures["alternatives"] if a["change"] == "drop age_at_arrest")
    # Sex alone: 10 women, 20 men; every woman's offence is theft, so l = 1.
    assert without_age["unique_records"] == 0
    assert without_age["k_anonymity"] == 10
    assert without_age["small_class_records"] == 0
    assert without_age["l_diversity"] == {"offence_category": 1}
    text = json.dumps(figures)
    assert not [v for v in ROW_VALUES if v in text]


def test_the_assessment_is_audited_as_a_read_that_shows_no_row(
    db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    request = ask(db, people, agreement, stored, columns=("sex", "age_at_arrest"))
    [assessed] = events(db, AuditType.ACCESS_REQUEST_RISK_ASSESSED)
    assert assessed.target_id == str(request.id)
    assert assessed.detail["quasi_identifiers"] == ["sex", "age_at_arrest"]
    assert assessed.detail["unique_share"] == 1.0
    [read] = events(db, AuditType.DATASET_ASSESS_RISK)
    assert read.actor_id is None  # the service read, not the requester: no use of a grant
    assert read.detail["asked_by"] == people.analyst.id
    assert read.detail["rows_shown"] is False
    assert read.detail["purpose"] == "risk assessment"
    assert read.detail["columns"] == ["sex", "age_at_arrest", "offence_category"]
    assert not [v for v in ROW_VALUES if v in json.dumps([assessed.detail, read.detail])]


def test_a_request_without_quasi_identifiers_computes_nothing(
    db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    request = ask(db, people, agreement, stored, columns=("offence_category",))
    assert fresh(db).get(AccessRequest, request.id).risk_figures is None  # type: ignore[union-attr]
    assert events(db, AuditType.ACCESS_REQUEST_RISK_ASSESSED) == []


def test_a_dataset_without_stored_data_computes_nothing(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    request = ask(db, people, agreement, datasets, columns=("sex", "age_at_arrest"))
    assert fresh(db).get(AccessRequest, request.id).risk_figures is None  # type: ignore[union-attr]


def test_the_risk_purpose_reads_only_quasi_identifiers_and_sensitive_columns() -> None:
    assessable = {"sex", "age_at_arrest", "offence_category"}
    assert decide_risk_assessment(["sex", "offence_category"], assessable=assessable).allowed
    refused = decide_risk_assessment(["sex", "person_id"], assessable=assessable)
    assert not refused.allowed
    assert refused.denied_columns == ("person_id",)
    assert not decide_risk_assessment([], assessable=assessable).allowed


def test_the_steward_sees_the_figures_and_the_requester_does_not(
    app: Flask, db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    request = ask(db, people, agreement, stored, columns=("sex", "age_at_arrest"))
    steward = Browser(app.test_client())
    steward.login(people.steward.email, PASSWORD)
    page = steward.get(f"/access/requests/{request.id}").get_data(as_text=True)
    assert "Re-identification figures" in page
    assert "100.0% (30)" in page  # everyone unique as requested
    assert "Without <code>age_at_arrest</code>" in page
    assert "drop age_at_arrest" not in page  # a label, not the code
    assert "<code>age_at_arrest</code> coarsened in bands of 5" in page  # ages stored as text
    assert not [v for v in ROW_VALUES if v in page]
    requester = Browser(app.test_client())
    requester.login(people.analyst.email, PASSWORD)
    page = requester.get(f"/access/requests/{request.id}").get_data(as_text=True)
    assert "Re-identification figures" not in page


def limit_unique_share(db: Session, agreement: Agreement, share: float | None) -> None:
    for version in db.scalars(
        select(AgreementVersion).where(AgreementVersion.agreement_id == agreement.id)
    ):
        version.max_unique_share = share
    db.commit()


def test_above_the_agreements_unique_share_a_steward_alone_cannot_grant(
    client: FlaskClient, db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    """The attack: a steward approves a combination that singles out everyone straight
    through the API. The request waits for a privacy officer, with the figure named."""
    limit_unique_share(db, agreement, 0.05)
    request = ask(db, people, agreement, stored, columns=("sex", "age_at_arrest"))
    url = f"/api/v1/access-requests/{request.id}"
    steward, officer = token_of(db, people.steward), token_of(db, people.privacy)
    answer = client.post(
        f"{url}/approve", json={"columns": ["sex", "age_at_arrest"]}, headers=steward
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == RequestStatus.AWAITING_PRIVACY_OFFICER
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.grant_id is None
    [approval] = events(db, AuditType.ACCESS_REQUEST_APPROVE)
    assert "100.0% of the records are unique" in approval.detail["awaits_privacy_officer"]
    assert "5.0%" in approval.detail["awaits_privacy_officer"]
    # The steward cannot give the second approval themselves.
    refused = client.post(f"{url}/approve-identifiers", json={"comment": "ok"}, headers=steward)
    assert refused.status_code == 403
    answer = client.post(
        f"{url}/approve-identifiers",
        json={"comment": "Everyone is unique on sex and age: accepted for this project."},
        headers=officer,
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == RequestStatus.APPROVED
    [refusal, second] = events(db, AuditType.ACCESS_REQUEST_APPROVE_IDENTIFIERS)
    assert refusal.actor_id == people.steward.id
    assert second.actor_id == people.privacy.id
    assert second.detail["unique_share"] == 1.0


def test_below_the_limit_or_without_one_the_steward_grants_alone(
    db: Session, people: People, agreement: Agreement, stored: Datasets
) -> None:
    limit_unique_share(db, agreement, None)
    request = ask_and_grant(db, people, agreement, stored, columns=("sex", "age_at_arrest"))
    assert fresh(db).get(AccessRequest, request.id).status == RequestStatus.APPROVED  # type: ignore[union-attr]
    limit_unique_share(db, agreement, 0.05)
    request = ask(db, people, agreement, stored, columns=("sex",))  # nobody unique on sex
    requests.steward_approve(
        db, request_id=request.id, columns=["sex"], comment="", by=people.steward, now=utcnow()
    )
    db.commit()
    assert fresh(db).get(AccessRequest, request.id).status == RequestStatus.APPROVED  # type: ignore[union-attr]
