"""An administrator manages people, roles, organisations and training through the pages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType
from governance.identity.models import TrainingRecord, User
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People


def record_training(
    browser: Browser, user_id: int, course: str, completed_on: str, expires_on: str
) -> Any:
    """Post the person page's training form."""
    return browser.post(
        f"/admin/users/{user_id}/training",
        {
            "training-course": course,
            "training-completed_on": completed_on,
            "training-expires_on": expires_on,
        },
    )


def test_admin_creates_a_person_with_several_roles(
    browser: Browser, people: People, db: Session
) -> None:
    browser.login(people.admin.email, PASSWORD)
    response = browser.post(
        "/admin/users/new",
        {
            "email": "New.Person@Test.example",
            "name": "  New   Person ",
            "organization_id": people.lab.id,
            "roles": ["analyst", "data_steward"],
            "password": "a long enough password",
        },
    )
    assert response.status_code == 302
    user = db.scalars(select(User).where(User.email == "new.person@test.example")).one()
    assert user.name == "New Person"
    # The steward's powers wait for a second administrator (tests/identity/test_roles.py).
    assert {r.value for r in user.role_set} == {"analyst"}
    event = db.scalars(
        select(AuditEvent)
        .where(AuditEvent.event_type == AuditType.USER_CREATE)
        .order_by(AuditEvent.seq.desc())
    ).first()
    assert event is not None
    assert event.actor_id == people.admin.id
    assert event.detail["requested_roles"] == ["data_steward"]


def test_short_password_is_refused_and_nothing_saved(
    browser: Browser, people: People, db: Session
) -> None:
    browser.login(people.admin.email, PASSWORD)
    response = browser.post(
        "/admin/users/new",
        {
            "email": "short@test.example",
            "name": "Short",
            "organization_id": people.lab.id,
            "roles": ["analyst"],
            "password": "too short",
        },
    )
    assert response.status_code == 422
    assert "at least 12 characters" in response.get_data(as_text=True)
    assert db.scalars(select(User).where(User.email == "short@test.example")).first() is None


def test_partner_reviewer_must_belong_to_a_provider(
    browser: Browser, people: People, db: Session
) -> None:
    browser.login(people.admin.email, PASSWORD)
    response = browser.post(
        "/admin/users/new",
        {
            "email": "pr@test.example",
            "name": "Reviewer",
            "organization_id": people.lab.id,
            "roles": ["partner_reviewer"],
            "password": "a long enough password",
        },
    )
    assert response.status_code == 422
    assert db.scalars(select(User).where(User.email == "pr@test.example")).first() is None


def test_duplicate_email_is_a_conflict(browser: Browser, people: People) -> None:
    browser.login(people.admin.email, PASSWORD)
    response = browser.post(
        "/admin/users/new",
        {
            "email": people.analyst.email.upper(),
            "name": "Again",
            "organization_id": people.lab.id,
            "roles": ["analyst"],
            "password": "a long enough password",
        },
    )
    assert response.status_code == 409


def test_admin_changes_roles_and_it_is_audited(
    browser: Browser, people: People, db: Session
) -> None:
    browser.login(people.admin.email, PASSWORD)
    response = browser.post(
        f"/admin/users/{people.checker.id}",
        {
            "edit-name": "Checker Renamed",
            "edit-organization_id": people.lab.id,
            "edit-roles": ["analyst"],
        },
    )
    assert response.status_code == 302
    fresh(db)
    user = db.get(User, people.checker.id)
    assert user is not None
    assert {r.value for r in user.role_set} == {"analyst"}
    event = db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert event is not None
    assert event.event_type == AuditType.USER_ROLES_CHANGE
    assert event.detail["before"]["roles"] == ["output_checker"]
    assert event.detail["after"]["roles"] == ["analyst"]


def test_compliance_manager_records_training_but_cannot_edit_roles(
    browser: Browser, people: People, db: Session
) -> None:
    browser.login(people.compliance.email, PASSWORD)
    response = record_training(
        browser, people.analyst.id, "hipaa_privacy", "2026-01-10", "2027-01-10"
    )
    assert response.status_code == 302
    assert db.scalars(
        select(TrainingRecord).where(
            TrainingRecord.user_id == people.analyst.id, TrainingRecord.course == "hipaa_privacy"
        )
    ).one()
    denied = browser.post(
        f"/admin/users/{people.analyst.id}",
        {"edit-name": "x", "edit-organization_id": people.lab.id, "edit-roles": ["admin"]},
    )
    assert denied.status_code == 403
    refusal = fresh(db).scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert refusal is not None
    assert refusal.outcome == "denied"
    assert refusal.actor_id == people.compliance.id


def test_training_that_expires_before_completion_is_refused(
    browser: Browser, people: People
) -> None:
    browser.login(people.admin.email, PASSWORD)
    response = record_training(browser, people.analyst.id, "ferpa", "2026-05-10", "2026-05-01")
    assert response.status_code == 422


def test_admin_deactivates_and_reactivates(browser: Browser, people: People, db: Session) -> None:
    browser.login(people.admin.email, PASSWORD)
    assert browser.post(f"/admin/users/{people.analyst.id}/active").status_code == 302
    fresh(db)
    user = db.get(User, people.analyst.id)
    assert user is not None
    assert not user.active
    browser.post(f"/admin/users/{people.analyst.id}/active")
    fresh(db)
    assert db.get(User, people.analyst.id).active  # type: ignore[union-attr]


def test_typed_markup_is_shown_escaped(browser: Browser, people: People) -> None:
    browser.login(people.admin.email, PASSWORD)
    browser.post(
        "/admin/users/new",
        {
            "email": "x@test.example",
            "name": "<script>alert(1)</script>",
            "organization_id": people.lab.id,
            "roles": ["analyst"],
            "password": "a long enough password",
        },
    )
    page = browser.get("/admin/users").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_nul_characters_in_form_text_are_refused_before_any_view(
    browser: Browser, people: People, db: Session
) -> None:
    browser.login(people.admin.email, PASSWORD)
    response = browser.post(
        "/admin/users/new",
        {
            "email": "nul@test.example",
            "name": "Null\x00Byte",
            "organization_id": people.lab.id,
            "roles": ["analyst"],
            "password": "a long enough password",
        },
    )
    assert response.status_code == 422
    assert "NUL" in response.get_data(as_text=True)
    assert fresh(db).scalars(select(User).where(User.email == "nul@test.example")).first() is None
    assert browser.get("/access/requests?status=%00").status_code == 422
    assert browser.get("/access/requests?status=nonsense").status_code == 422
