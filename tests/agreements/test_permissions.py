"""Who may do what: separation of duties, 403 for people without the permission (recorded),
409 naming the allowed actions when the state forbids an action."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.models import Agreement, AgreementStatus
from governance.audit.models import AuditEvent, AuditType
from governance.identity.actors import System
from governance.kernel.errors import PermissionDenied
from governance.kernel.types import utcnow
from tests.agreements import builders
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People


def last_event(db: Session) -> AuditEvent:
    event = fresh(db).scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert event is not None
    return event


def as_user(app: Flask, email: str) -> Browser:
    browser = Browser(app.test_client())
    browser.login(email, PASSWORD)
    return browser


def submitted(db: Session, people: People, datasets: Datasets) -> Agreement:
    agreement = builders.draft(db, people, datasets)
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    db.commit()
    return agreement


def test_the_drafter_cannot_approve_and_the_refusal_is_recorded(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = submitted(db, people, datasets)
    drafter = as_user(app, people.privacy.email)
    page = drafter.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "Approve version" not in page
    assert "another privacy officer must approve it" in page
    response = drafter.post(f"/agreements/{agreement.id}/approve")
    assert response.status_code == 403
    assert "separation of duties" in response.get_data(as_text=True)
    refusal = last_event(db)
    assert (refusal.event_type, refusal.outcome, refusal.rule) == (
        AuditType.AGREEMENT_APPROVE,
        "denied",
        "separation-of-duties",
    )
    assert (refusal.actor_id, refusal.agreement_id, refusal.agreement_version) == (
        people.privacy.id,
        agreement.id,
        1,
    )
    assert fresh(db).get(Agreement, agreement.id).status == AgreementStatus.SUBMITTED  # type: ignore[union-attr]


def test_anyone_who_edited_the_version_cannot_approve_it(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.draft(db, people, datasets)
    agreements.update_draft(
        db,
        agreement_id=agreement.id,
        by=people.privacy2,
        now=utcnow(),
        terms=builders.terms(people, datasets, title="Edited title"),
    )
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    with pytest.raises(PermissionDenied, match="separation of duties"):
        agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=utcnow())


def test_the_author_of_an_amendment_cannot_approve_it(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.approved(db, people, datasets)
    # privacy2 approved version 1; now privacy2 writes the amendment, so privacy must approve.
    agreements.start_amendment(
        db, agreement_id=agreement.id, reason="Extend", by=people.privacy2, now=utcnow()
    )
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy2, now=utcnow())
    db.commit()
    with pytest.raises(PermissionDenied):
        agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=utcnow())
    db.rollback()
    agreements.approve(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    assert agreement.working_version_number == 2  # approved, awaiting the provider's signature
    builders.countersign(db, people, agreement)
    assert agreement.current_version_number == 2


@pytest.mark.parametrize("role", ["analyst", "partner", "steward", "compliance", "admin"])
@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("approve", {}),
        ("return", {"comment": "x"}),
        ("submit", {}),
        ("terminate", {"reason": "x"}),
        ("amend", {"reason": "x"}),
    ],
)
def test_people_without_the_permission_get_403_and_it_is_recorded(
    app: Flask,
    db: Session,
    people: People,
    datasets: Datasets,
    role: str,
    action: str,
    data: dict[str, str],
) -> None:
    agreement = submitted(db, people, datasets)
    browser = as_user(app, getattr(people, role).email)
    response = browser.post(f"/agreements/{agreement.id}/{action}", data)
    assert response.status_code == 403
    refusal = last_event(db)
    assert refusal.outcome == "denied"
    assert refusal.actor_id == getattr(people, role).id
    assert refusal.agreement_id == agreement.id
    assert fresh(db).get(Agreement, agreement.id).status == AgreementStatus.SUBMITTED  # type: ignore[union-attr]


@pytest.mark.parametrize("role", ["analyst", "partner", "compliance"])
def test_others_cannot_open_the_draft_form(app: Flask, people: People, role: str) -> None:
    browser = as_user(app, getattr(people, role).email)
    assert browser.get("/agreements/new").status_code == 403


@pytest.mark.parametrize(
    ("setup", "action", "data", "allowed"),
    [
        ("draft", "approve", {}, ["edit", "submit"]),
        ("draft", "certify-destruction", {"statement": "x"}, ["edit", "submit"]),
        ("active", "submit", {}, ["amend", "terminate"]),
        ("active", "approve", {}, ["amend", "terminate"]),
        ("terminated", "terminate", {"reason": "again"}, ["certify_destruction", "close"]),
        ("terminated", "amend", {"reason": "x"}, ["certify_destruction", "close"]),
    ],
)
def test_an_action_the_state_forbids_is_409_naming_the_allowed_ones(
    app: Flask,
    db: Session,
    people: People,
    datasets: Datasets,
    setup: str,
    action: str,
    data: dict[str, str],
    allowed: list[str],
) -> None:
    if setup == "draft":
        agreement = builders.draft(db, people, datasets)
    else:
        agreement = builders.approved(db, people, datasets)
        if setup == "terminated":
            agreements.terminate(
                db, agreement_id=agreement.id, reason="Ended", by=people.privacy, now=utcnow()
            )
            db.commit()
    browser = as_user(app, people.privacy2.email)
    response = browser.post(
        f"/agreements/{agreement.id}/{action}", data, headers={"Accept": "application/json"}
    )
    assert response.status_code == 409
    body = response.get_json()
    assert body["allowed"] == allowed
    assert "Allowed from this state: " + ", ".join(allowed) in body["message"]
    html = browser.post(f"/agreements/{agreement.id}/{action}", data)
    assert html.status_code == 409
    assert "Possible now: " + ", ".join(allowed) in html.get_data(as_text=True)


def test_editing_an_agreement_with_nothing_in_draft_is_409(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.approved(db, people, datasets)
    browser = as_user(app, people.privacy.email)
    assert browser.get(f"/agreements/{agreement.id}/edit").status_code == 409


def test_only_the_scheduler_expires_or_activates(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.approved(db, people, datasets)
    with pytest.raises(PermissionDenied):
        agreements.expire(db, agreement=agreement, by=people.privacy, now=utcnow())
    db.rollback()
    agreements.terminate(db, agreement_id=agreement.id, reason="x", by=System("cli"), now=utcnow())


def test_every_agreement_post_route_refuses_and_records_a_person_without_permission(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    """A new POST route without an authorisation check fails this test."""
    agreement = builders.approved(db, people, datasets)
    rules = [
        r
        for r in app.url_map.iter_rules()
        if r.endpoint.startswith("agreements.") and "POST" in (r.methods or set())
    ]
    assert len(rules) >= 10
    browser = as_user(app, people.analyst.email)
    payload = {
        **builders.form(people, datasets),
        "comment": "x",
        "reason": "x",
        "statement": "x",
        "name": "Some State Act",
        "requirements": "x",
    }
    for rule in rules:
        url = rule.rule.replace("<int:agreement_id>", str(agreement.id))
        response = browser.post(url, payload)
        assert response.status_code == 403, url
        refusal = last_event(db)
        assert (refusal.outcome, refusal.actor_id) == ("denied", people.analyst.id), url
