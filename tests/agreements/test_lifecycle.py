"""The whole lifecycle through the pages, as two privacy officers work it, on both databases:
draft, submit, return with comments, revise, approve, record the provider's countersignature
(active at once), amend, approve the amendment, expire on schedule, certify destruction; and
termination."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement, AgreementStatus, VersionStatus
from governance.agreements.queries import in_force_version
from governance.audit.models import AuditEvent, AuditType
from tests.agreements import builders
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People, days_since


def agreement_events(db: Session, agreement_id: int) -> list[tuple[str, int | None, str]]:
    fresh(db)
    return [
        (e.event_type, e.agreement_version, e.outcome)
        for e in db.scalars(
            select(AuditEvent)
            .where(AuditEvent.agreement_id == agreement_id)
            .order_by(AuditEvent.seq)
        )
    ]


def login(app: Flask, email: str) -> Browser:
    browser = Browser(app.test_client())
    browser.login(email, PASSWORD)
    return browser


def test_the_whole_lifecycle_through_the_pages(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    drafter = login(app, people.privacy.email)
    reviewer = login(app, people.privacy2.email)

    before = builders.today()
    created = drafter.post("/agreements/new", builders.form(people, datasets))
    assert created.status_code == 302
    agreement = fresh(db).scalars(select(Agreement)).one()
    # Numbered in the year it was created: either side of a New Year's midnight crossed.
    assert agreement.reference in {f"DUA-{day.year}-001" for day in days_since(before)}
    assert agreement.status == AgreementStatus.DRAFT
    url = f"/agreements/{agreement.id}"

    assert drafter.post(f"{url}/submit").status_code == 302
    returned = reviewer.post(f"{url}/return", {"comment": "Drop age_at_arrest: not needed."})
    assert returned.status_code == 302
    page = drafter.get(url).get_data(as_text=True)
    assert "Drop age_at_arrest: not needed." in page
    assert fresh(db).get(Agreement, agreement.id).status == AgreementStatus.DRAFT  # type: ignore[union-attr]

    revised = drafter.post(
        f"{url}/edit",
        builders.form(
            people,
            datasets,
            columns=[f"{datasets.arrests.id}:person_id", f"{datasets.arrests.id}:sex"],
        ),
    )
    assert revised.status_code == 302
    assert drafter.post(f"{url}/submit").status_code == 302
    approved = reviewer.post(f"{url}/approve", {"comment": "Minimum necessary now."})
    assert approved.status_code == 302

    agreement = fresh(db).get(Agreement, agreement.id)  # type: ignore[assignment]
    # Approved internally, but not in force until the provider has countersigned.
    assert agreement.status == AgreementStatus.APPROVED
    assert in_force_version(db, agreement.id) is None
    assert "Record the countersignature" in reviewer.get(url).get_data(as_text=True)
    countersignature = {
        "name": "Chief Dana Reyes",
        "title": "Chief of Police",
        "organisation": "Test Police",
        "signed_on": builders.today().isoformat(),
        "signed_copy_reference": "TPD-LEGAL-114",
    }
    incomplete = reviewer.post(f"{url}/execute", {**countersignature, "signed_copy_reference": ""})
    assert incomplete.status_code == 422
    refused_page = incomplete.get_data(as_text=True)
    assert "The countersignature was not recorded" in refused_page
    assert 'value="Chief Dana Reyes"' in refused_page  # what was typed is kept
    assert fresh(db).get(Agreement, agreement.id).status == AgreementStatus.APPROVED  # type: ignore[union-attr]
    assert reviewer.post(f"{url}/execute", countersignature).status_code == 302
    # Executing twice is refused: the state no longer allows it.
    assert reviewer.post(f"{url}/execute", countersignature).status_code == 409

    agreement = fresh(db).get(Agreement, agreement.id)  # type: ignore[assignment]
    assert agreement.status == AgreementStatus.ACTIVE  # effective today: active at execution
    assert agreement.current_version.signed_copy_reference == "TPD-LEGAL-114"  # type: ignore[union-attr]
    assert "countersigned for the provider on" in reviewer.get(url).get_data(as_text=True)
    version_1 = in_force_version(db, agreement.id)
    assert version_1 is not None
    assert version_1.number == 1
    assert version_1.covered_columns(datasets.arrests.id) == {"person_id", "sex"}

    assert drafter.post(f"{url}/amend", {"reason": "Add the district."}).status_code == 302
    amended = drafter.post(
        f"{url}/edit",
        builders.form(
            people,
            datasets,
            columns=[
                f"{datasets.arrests.id}:person_id",
                f"{datasets.arrests.id}:sex",
                f"{datasets.arrests.id}:district",
            ],
        ),
    )
    assert amended.status_code == 302
    assert drafter.post(f"{url}/submit").status_code == 302
    in_force = in_force_version(fresh(db), agreement.id)
    assert in_force is not None
    assert in_force.number == 1
    assert reviewer.post(f"{url}/approve").status_code == 302
    # Approved, the amendment waits for the provider: version 1 stays in force until then.
    in_force = in_force_version(fresh(db), agreement.id)
    assert in_force is not None
    assert in_force.number == 1
    waiting = reviewer.get(url).get_data(as_text=True)
    assert "awaiting the provider's countersignature" in waiting
    # The form carries the amendment's impact as shown, which the officer confirms.
    confirmed = {**countersignature, "impact_digest": builders.shown_impact_digest(waiting)}
    assert reviewer.post(f"{url}/execute", confirmed).status_code == 302
    in_force = in_force_version(fresh(db), agreement.id)
    assert in_force is not None
    assert in_force.number == 2
    assert "district" in in_force.covered_columns(datasets.arrests.id)

    history = drafter.get(url).get_data(as_text=True)
    assert "Version 2: approved" in history
    assert "Version 1: superseded" in history

    expiry = in_force.expiry_date
    from governance.agreements.schedule import expire_due
    from governance.identity.actors import System

    moment = dt.datetime.combine(expiry + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    assert expire_due(fresh(db), System("test-scheduler"), moment) == 1
    db.commit()
    assert (
        reviewer.post(
            f"{url}/certify-destruction",
            {"statement": "All extracts wiped (NIST 800-88), certificate DC-17."},
        ).status_code
        == 302
    )
    agreement = fresh(db).get(Agreement, agreement.id)  # type: ignore[assignment]
    # Certifying destroys the data; the agreement closes only once its close-out holds.
    assert agreement.status == AgreementStatus.EXPIRED
    assert agreement.destruction_certified_by_id == people.privacy2.id
    refused = reviewer.post(f"{url}/close", {})
    assert refused.status_code == 409
    assert "Final report accepted" in refused.get_data(as_text=True)
    assert fresh(db).get(Agreement, agreement.id).status == AgreementStatus.EXPIRED  # type: ignore[union-attr]
    assert [v.status for v in agreement.versions] == [
        VersionStatus.SUPERSEDED,
        VersionStatus.APPROVED,
    ]

    events = agreement_events(db, agreement.id)
    assert [e[0] for e in events] == [
        AuditType.AGREEMENT_CREATE,
        AuditType.AGREEMENT_SUBMIT,
        AuditType.AGREEMENT_RETURN,
        AuditType.AGREEMENT_UPDATE,
        AuditType.AGREEMENT_SUBMIT,
        AuditType.AGREEMENT_APPROVE,
        AuditType.AGREEMENT_EXECUTE,
        AuditType.AGREEMENT_ACTIVATE,
        AuditType.AGREEMENT_AMEND,
        AuditType.AGREEMENT_UPDATE,
        AuditType.AGREEMENT_SUBMIT,
        AuditType.AGREEMENT_APPROVE,
        AuditType.AGREEMENT_EXECUTE,
        AuditType.AGREEMENT_EXPIRE,
        # Certifying destroys the data no other active agreement covers, with its certificate.
        AuditType.AGREEMENT_CERTIFY_DESTRUCTION,
        AuditType.DATASET_CERTIFY_DESTRUCTION,
    ]
    assert [e[1] for e in events] == [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, None]
    assert {e[2] for e in events} == {"success"}


def test_terminating_an_active_agreement_needs_a_reason(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.approved(db, people, datasets)
    officer = login(app, people.privacy.email)
    url = f"/agreements/{agreement.id}"
    refused = officer.post(f"{url}/terminate", {"reason": "   "})
    assert refused.status_code == 422
    assert fresh(db).get(Agreement, agreement.id).status == AgreementStatus.ACTIVE  # type: ignore[union-attr]
    assert (
        officer.post(
            f"{url}/terminate", {"reason": "The department withdrew its consent."}
        ).status_code
        == 302
    )
    ended = fresh(db).get(Agreement, agreement.id)
    assert ended is not None
    assert ended.status == AgreementStatus.TERMINATED
    assert ended.termination_reason == "The department withdrew its consent."
    assert in_force_version(db, agreement.id) is None
    assert "The department withdrew its consent." in officer.get(url).get_data(as_text=True)
    assert agreement_events(db, agreement.id)[-1][0] == AuditType.AGREEMENT_TERMINATE


def test_an_approved_agreement_waits_for_its_effective_date(
    db: Session, people: People, datasets: Datasets
) -> None:
    start = builders.today() + dt.timedelta(days=10)
    agreement = builders.approved(db, people, datasets, effective_date=start)
    assert fresh(db).get(Agreement, agreement.id).status == AgreementStatus.EXECUTED  # type: ignore[union-attr]
    assert in_force_version(db, agreement.id) is None
