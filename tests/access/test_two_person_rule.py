"""Direct identifiers need two people, and a steward cannot reclassify their way round it.

The attack: a steward lowers a stored column from direct identifier to general, then approves
a request for it alone; the analyst reads real identifiers. Lowering a stored column's class
now waits for a privacy officer other than the person who asked, and requests and grants keep
the classification recorded when they were decided.
"""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import data_door as data_access
from governance.access import requests
from governance.access.models import AccessRequest, Grant, GrantColumn, RequestStatus
from governance.agreements.models import Agreement
from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType
from governance.datasets import reclassification
from governance.datasets.ingestion import ingest_frame
from governance.datasets.models import (
    Classification,
    ColumnReclassification,
    Dataset,
    ReclassificationStatus,
)
from governance.datasets.service import ColumnSpec, spec_of, update_schema
from governance.identity.actors import System
from governance.kernel.errors import InvalidTransition, PermissionDenied
from governance.kernel.types import utcnow
from tests.access.test_data_door import ROWS
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, SETUP, People

DI, GENERAL = Classification.DIRECT_IDENTIFIER, Classification.GENERAL


@pytest.fixture
def stored(db: Session, datasets: Datasets) -> Dataset:
    ingest_frame(
        db, dataset_id=datasets.arrests.id, frame=ROWS, source_filename="arrests.csv", by=SETUP
    )
    db.commit()
    return datasets.arrests


def lowered(dataset: Dataset, column: str, to: Classification) -> list[ColumnSpec]:
    return [
        ColumnSpec(s.name, s.type, to, s.required, s.description) if s.name == column else s
        for s in map(spec_of, dataset.columns)
    ]


def classification_of(db: Session, dataset: Dataset, column: str) -> Classification:
    found = fresh(db).get(Dataset, dataset.id)
    assert found is not None
    declared = found.column(column)
    assert declared is not None
    return Classification(declared.classification)


def steward_lowers_person_id(db: Session, people: People, dataset: Dataset) -> None:
    update_schema(
        db,
        dataset_id=dataset.id,
        description="",
        columns=lowered(dataset, "person_id", GENERAL),
        by=people.steward,
    )
    db.commit()


def test_a_steward_alone_cannot_lower_an_identifier_and_then_grant_it(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, stored: Dataset
) -> None:
    steward_lowers_person_id(db, people, stored)
    assert classification_of(db, stored, "person_id") == DI
    waiting = reclassification.pending(fresh(db), dataset_id=stored.id)
    assert [(r.column_name, r.from_classification, r.to_classification) for r in waiting] == [
        ("person_id", DI, GENERAL)
    ]
    asked = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.DATASET_RECLASSIFY_REQUEST)
    ).one()
    assert asked.detail == {
        "column": "person_id",
        "from": "direct_identifier",
        "to": "general",
        "reason": "",
    }
    assert (
        db.scalars(
            select(AuditEvent).where(AuditEvent.event_type == AuditType.DATASET_RECLASSIFY)
        ).all()
        == []
    )

    request = ask(db, people, agreement, datasets, columns=("person_id", "sex"))
    requests.steward_approve(
        db,
        request_id=request.id,
        columns=["person_id", "sex"],
        comment="",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    assert request.status == RequestStatus.AWAITING_PRIVACY_OFFICER
    assert request.grant_id is None
    assert fresh(db).scalars(select(Grant)).all() == []


def test_the_two_person_rule_uses_the_classification_recorded_with_the_request(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, stored: Dataset
) -> None:
    request = ask(db, people, agreement, datasets, columns=("person_id", "sex"))
    recorded = {c.column_name: c.classification for c in request.columns}
    assert recorded == {"person_id": DI, "sex": Classification.QUASI_IDENTIFIER}
    steward_lowers_person_id(db, people, stored)
    (waiting,) = reclassification.pending(fresh(db), dataset_id=stored.id)
    reclassification.approve(
        db, reclassification_id=waiting.id, comment="Pseudonymous.", by=people.privacy, now=utcnow()
    )
    db.commit()
    assert classification_of(db, stored, "person_id") == GENERAL

    # The request was made while person_id was a direct identifier: it still needs two.
    requests.steward_approve(
        db,
        request_id=request.id,
        columns=["person_id", "sex"],
        comment="",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.AWAITING_PRIVACY_OFFICER
    approval = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.ACCESS_REQUEST_APPROVE)
    ).one()
    assert approval.detail["direct_identifiers"] == ["person_id"]
    assert approval.detail["classification"]["person_id"] == "direct_identifier"

    requests.privacy_approve(
        db,
        request_id=request.id,
        comment="Linkage needs the identifiers; they never leave the environment.",
        by=people.privacy2,
        now=utcnow(),
    )
    db.commit()
    grant_columns = {
        c.column_name: c.classification for c in fresh(db).scalars(select(GrantColumn))
    }
    assert grant_columns["person_id"] == DI
    # A read of it is still recorded as a read of a direct identifier.
    data_access.read_rows(
        db,
        by=people.analyst,
        agreement_id=agreement.id,
        dataset_id=stored.id,
        columns=["person_id"],
        purpose="descriptive",
        now=utcnow(),
    )
    db.commit()
    read = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.DATASET_READ)
    ).one()
    assert read.detail["direct_identifier_columns"] == ["person_id"]


def test_a_request_made_after_an_approved_lowering_needs_one_approver(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, stored: Dataset
) -> None:
    steward_lowers_person_id(db, people, stored)
    (waiting,) = reclassification.pending(fresh(db), dataset_id=stored.id)
    reclassification.approve(
        db, reclassification_id=waiting.id, comment="", by=people.privacy, now=utcnow()
    )
    db.commit()
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.DATASET_RECLASSIFY)
    ).one()
    assert event.detail["requested_by"] == people.steward.email
    assert event.detail["approved_by"] == people.privacy.email
    assert event.detail["changes"] == [
        {"column": "person_id", "from": "direct_identifier", "to": "general"}
    ]
    request = ask(db, people, agreement, datasets, columns=("person_id",))
    requests.steward_approve(
        db,
        request_id=request.id,
        columns=["person_id"],
        comment="",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    assert request.status == RequestStatus.APPROVED


def refused(db: Session, action: object, by: object) -> AuditEvent:
    """Run a refused action as a handler would; the refusal is recorded."""
    with pytest.raises(PermissionDenied) as caught:
        action()  # type: ignore[operator]
    db.rollback()
    assert caught.value.audit is not None
    audit.record_refusal(db, caught.value.audit, by=by)  # type: ignore[arg-type]
    db.commit()
    event = db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert event is not None
    assert event.outcome == "denied"
    return event


def test_only_a_second_person_with_the_privacy_officers_permission_approves(
    db: Session, people: People, stored: Dataset
) -> None:
    steward_lowers_person_id(db, people, stored)
    (waiting,) = reclassification.pending(fresh(db), dataset_id=stored.id)
    for who in (people.steward, people.admin, people.analyst):
        event = refused(
            db,
            lambda who=who: reclassification.approve(
                db, reclassification_id=waiting.id, comment="", by=who, now=utcnow()
            ),
            who,
        )
        assert event.event_type == AuditType.DATASET_RECLASSIFY
    # Whoever asked cannot approve their own request, even holding every permission.
    operator = System("operator")
    update_schema(
        db,
        dataset_id=stored.id,
        description="",
        columns=lowered(stored, "name", GENERAL),
        by=operator,
    )
    db.commit()
    mine = next(r for r in reclassification.pending(fresh(db)) if r.column_name == "name")
    event = refused(
        db,
        lambda: reclassification.approve(
            db, reclassification_id=mine.id, comment="", by=operator, now=utcnow()
        ),
        operator,
    )
    assert event.event_type == AuditType.DATASET_RECLASSIFY
    assert classification_of(db, stored, "name") == DI
    reclassification.reject(
        db,
        reclassification_id=mine.id,
        comment="Names stay protected.",
        by=people.privacy,
        now=utcnow(),
    )
    db.commit()
    found = fresh(db).get(ColumnReclassification, mine.id)
    assert found is not None
    assert found.status == ReclassificationStatus.REJECTED
    with pytest.raises(InvalidTransition):
        reclassification.approve(
            db, reclassification_id=mine.id, comment="", by=people.privacy2, now=utcnow()
        )


def test_raising_protection_takes_effect_at_once(
    db: Session, people: People, stored: Dataset
) -> None:
    update_schema(
        db,
        dataset_id=stored.id,
        description="",
        columns=lowered(stored, "arrest_date", DI),
        by=people.steward,
    )
    db.commit()
    assert classification_of(db, stored, "arrest_date") == DI
    assert reclassification.pending(fresh(db)) == []


def test_the_pages_ask_then_let_a_privacy_officer_approve(
    app: Flask, db: Session, people: People, stored: Dataset
) -> None:
    steward = Browser(app.test_client())
    steward.login(people.steward.email, PASSWORD)
    form = steward.get(f"/datasets/{stored.id}/schema")
    assert form.status_code == 200
    data = {"description": "", "reason": "The ids are pseudonyms."}
    for i, column in enumerate(stored.columns):
        data.update(
            {
                f"columns-{i}-name": column.name,
                f"columns-{i}-type": column.type,
                f"columns-{i}-classification": "general"
                if column.name == "person_id"
                else column.classification,
                f"columns-{i}-required": "y" if column.required else "",
                f"columns-{i}-description": column.description,
            }
        )
    saved = steward.post(f"/datasets/{stored.id}/schema", data=data, follow_redirects=True)
    assert saved.status_code == 200
    assert "privacy officer" in saved.get_data(as_text=True)
    assert classification_of(db, stored, "person_id") == DI
    (waiting,) = reclassification.pending(fresh(db), dataset_id=stored.id)
    assert waiting.reason == "The ids are pseudonyms."
    page = steward.get(f"/datasets/{stored.id}").get_data(as_text=True)
    assert "Waiting for a privacy officer" in page
    assert f"/datasets/reclassifications/{waiting.id}/approve" not in page

    officer = Browser(app.test_client())
    officer.login(people.privacy.email, PASSWORD)
    page = officer.get(f"/datasets/{stored.id}").get_data(as_text=True)
    assert f"/datasets/reclassifications/{waiting.id}/approve" in page
    assert (
        steward.post(
            f"/datasets/reclassifications/{waiting.id}/approve", data={"comment": ""}
        ).status_code
        == 403
    )
    done = officer.post(
        f"/datasets/reclassifications/{waiting.id}/approve",
        data={"comment": "Agreed."},
        follow_redirects=True,
    )
    assert done.status_code == 200
    assert classification_of(db, stored, "person_id") == GENERAL
