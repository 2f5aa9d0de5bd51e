"""The provider's countersignature (execution): an approved agreement becomes active only once
a privacy officer records who signed for the provider, when, and where the signed copy is;
refused with 403 without the permission (recorded), 409 in any other state, 422 when
incomplete, on both databases, through the service, the pages and the API."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.models import Agreement, AgreementStatus
from governance.agreements.schedule import activate_due
from governance.audit.models import AuditEvent, AuditType
from governance.identity import tokens
from governance.identity.actors import System
from governance.kernel.errors import InvalidTransition, ValidationFailed
from governance.kernel.types import utcnow
from tests.agreements import builders
from tests.agreements.builders import Datasets, signature
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, SETUP, People

PAGE_FORM = {
    "name": "Chief Dana Reyes",
    "title": "Chief of Police",
    "organisation": "Test Police",
    "signed_on": builders.today().isoformat(),
    "signed_copy_reference": "TPD-7",
}


def status(db: Session, agreement: Agreement) -> str:
    found = fresh(db).get(Agreement, agreement.id)
    assert found is not None
    return str(found.status)


def events(db: Session, agreement: Agreement, event_type: AuditType) -> list[AuditEvent]:
    return list(
        fresh(db).scalars(
            select(AuditEvent)
            .where(AuditEvent.agreement_id == agreement.id, AuditEvent.event_type == event_type)
            .order_by(AuditEvent.seq)
        )
    )


def test_an_approved_agreement_is_not_active_until_the_provider_countersigns(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.approved(db, people, datasets, countersigned=False)
    assert status(db, agreement) == AgreementStatus.APPROVED
    # The scheduler does not activate it, even though its effective date has come ...
    assert activate_due(db, System("test-scheduler"), utcnow() + dt.timedelta(days=1)) == 0
    db.commit()
    assert status(db, agreement) == AgreementStatus.APPROVED
    # ... and nothing else can: activation leaves only from `executed`.
    with pytest.raises(InvalidTransition):
        agreements.activate(
            db, agreement=fresh(db).get(Agreement, agreement.id), by=System("x"), now=utcnow()
        )
    db.rollback()

    now = utcnow()
    agreements.execute(
        db, agreement_id=agreement.id, signature=signature(now.date()), by=people.privacy, now=now
    )
    db.commit()
    assert status(db, agreement) == AgreementStatus.ACTIVE
    (executed,) = events(db, agreement, AuditType.AGREEMENT_EXECUTE)
    assert executed.actor_id == people.privacy.id
    assert executed.detail["signatory"] == "Chief Dana Reyes"
    assert executed.detail["signed_copy_reference"] == "RPD-LEGAL-2026-114"
    assert executed.detail["signed_on"] == now.date().isoformat()
    version = fresh(db).get(Agreement, agreement.id).current_version  # type: ignore[union-attr]
    assert version is not None
    assert version.provider_signatory_title == "Chief of Police"
    assert version.execution_recorded_by_label == people.privacy.email
    assert len(events(db, agreement, AuditType.AGREEMENT_ACTIVATE)) == 1


def test_an_executed_agreement_starting_later_is_activated_by_the_scheduler(
    db: Session, people: People, datasets: Datasets
) -> None:
    start = builders.today() + dt.timedelta(days=3)
    agreement = builders.approved(db, people, datasets, effective_date=start)
    assert status(db, agreement) == AgreementStatus.EXECUTED
    moment = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
    assert activate_due(db, System("test-scheduler"), moment) == 1
    db.commit()
    assert status(db, agreement) == AgreementStatus.ACTIVE


@pytest.mark.parametrize("who", ["analyst", "steward", "compliance", "admin", "partner"])
def test_only_a_privacy_officer_records_the_countersignature(
    app: Flask, db: Session, people: People, datasets: Datasets, who: str
) -> None:
    agreement = builders.approved(db, people, datasets, countersigned=False)
    browser = Browser(app.test_client())
    browser.login(getattr(people, who).email, PASSWORD)
    page = browser.get(f"/agreements/{agreement.id}")
    assert "Record the countersignature" not in page.get_data(as_text=True)
    answer = browser.post(f"/agreements/{agreement.id}/execute", PAGE_FORM)
    assert answer.status_code == 403
    assert status(db, agreement) == AgreementStatus.APPROVED
    (denied,) = events(db, agreement, AuditType.AGREEMENT_EXECUTE)
    assert denied.outcome == "denied"
    assert denied.actor_id == getattr(people, who).id


def test_the_form_starts_with_the_provider_and_the_signatory_the_terms_name(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.approved(db, people, datasets, countersigned=False)
    browser = Browser(app.test_client())
    browser.login(people.privacy.email, PASSWORD)
    page = browser.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert 'value="Chief Dana Reyes"' in page
    assert 'value="Chief of Police"' in page
    assert 'value="Test Police"' in page
    # Typed for another organisation: refused on the form, as typed, and nothing recorded.
    answer = browser.post(
        f"/agreements/{agreement.id}/execute", {**PAGE_FORM, "organisation": "Some Other Org"}
    )
    assert answer.status_code == 422
    text = answer.get_data(as_text=True)
    assert "The data provider is Test Police" in text
    assert 'value="Some Other Org"' in text
    assert status(db, agreement) == AgreementStatus.APPROVED
    assert events(db, agreement, AuditType.AGREEMENT_EXECUTE) == []


def test_executing_in_any_other_state_is_refused(
    db: Session, people: People, datasets: Datasets
) -> None:
    draft = builders.draft(db, people, datasets)
    active = builders.approved(db, people, datasets)
    for agreement in (draft, active):
        with pytest.raises(InvalidTransition):
            agreements.execute(
                db,
                agreement_id=agreement.id,
                signature=signature(builders.today()),
                by=people.privacy,
                now=utcnow(),
            )
        db.rollback()
    assert status(db, draft) == AgreementStatus.DRAFT
    assert status(db, active) == AgreementStatus.ACTIVE
    assert len(events(db, active, AuditType.AGREEMENT_EXECUTE)) == 1  # only the first one


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "  "}, "name"),
        ({"title": ""}, "title"),
        ({"organisation": "\x00"}, "organisation"),
        ({"signed_copy_reference": ""}, "signed_copy_reference"),
        ({"signed_on": None}, "signed_on"),
        ({"signed_on": builders.today() + dt.timedelta(days=1)}, "signed_on"),
        ({"signed_on": builders.today() - dt.timedelta(days=2)}, "signed_on"),  # before approval
        # Not the provider's: another organisation, or someone the terms do not name to sign.
        ({"organisation": "Some Other Org"}, "organisation"),
        ({"name": "Deputy Sam Ortiz"}, "name"),
        ({"name": "Dr Lee Park"}, "name"),  # the recipient's signatory
    ],
)
def test_an_incomplete_countersignature_records_nothing(
    db: Session, people: People, datasets: Datasets, change: dict[str, object], field: str
) -> None:
    agreement = builders.approved(db, people, datasets, countersigned=False)
    with pytest.raises(ValidationFailed) as refusal:
        agreements.execute(
            db,
            agreement_id=agreement.id,
            signature=signature(builders.today(), **change),
            by=people.privacy,
            now=utcnow(),
        )
    assert field in refusal.value.fields
    db.rollback()
    assert status(db, agreement) == AgreementStatus.APPROVED
    assert events(db, agreement, AuditType.AGREEMENT_EXECUTE) == []


def test_an_executed_agreement_can_still_be_terminated(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.approved(
        db, people, datasets, effective_date=builders.today() + dt.timedelta(days=5)
    )
    agreements.terminate(
        db, agreement_id=agreement.id, reason="The board withdrew.", by=people.privacy, now=utcnow()
    )
    db.commit()
    assert status(db, agreement) == AgreementStatus.TERMINATED


def test_the_api_records_the_countersignature(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.approved(db, people, datasets, countersigned=False)
    secrets = {
        key: tokens.create_token(
            db, user_id=getattr(people, key).id, name=key, days=None, by=SETUP, now=utcnow()
        ).secret
        for key in ("privacy", "analyst")
    }
    db.commit()
    client = app.test_client()
    url = f"/api/v1/agreements/{agreement.id}/execute"
    body = dict(PAGE_FORM)

    def post(key: str, data: dict[str, object]) -> int:
        headers = {"Authorization": f"Bearer {secrets[key]}"}
        return client.post(url, json=data, headers=headers).status_code

    assert post("analyst", body) == 403
    assert post("privacy", {**body, "signed_on": "not a date"}) in (400, 422)
    assert post("privacy", {k: v for k, v in body.items() if k != "name"}) in (400, 422)
    assert post("privacy", {**body, "organisation": "Some Other Org"}) == 422
    assert post("privacy", {**body, "name": "Someone Unnamed"}) == 422
    assert status(db, agreement) == AgreementStatus.APPROVED
    answer = client.post(url, json=body, headers={"Authorization": f"Bearer {secrets['privacy']}"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["status"] == "active"
    execution = answer.get_json()["versions"][0]["execution"]
    assert execution["signed_copy_reference"] == "TPD-7"
    assert execution["recorded_by"] == people.privacy.email
    assert post("privacy", body) == 409
