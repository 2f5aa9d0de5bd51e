"""Every obligation a grant depends on holds at each read (issue 17): the personnel list,
acceptance of the current version's individual terms, an ethics approval in force, an
attestation that is not overdue, and no incident freeze. Each lapse refuses the next read with
its clause, before any job runs; the job then pauses the grant and tells holder and stewards;
the remedy resumes it at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from governance.access import conditions as grant_conditions
from governance.access import obligations
from governance.access.models import Grant, GrantStatus
from governance.agreements import service as agreements
from governance.agreements.models import Agreement
from governance.agreements.obligations import add_months, individual_terms_sha256
from governance.agreements.parts_model import Personnel
from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType
from governance.authz.decision import decide
from governance.datasets.ingestion import ingest_frame
from governance.incidents import service as incidents
from governance.kernel import notify
from governance.kernel.errors import InvalidTransition, PermissionDenied, ValidationFailed
from governance.kernel.types import utcnow
from governance.periodic import SCHEDULER
from tests.access.test_conditions_at_every_read import morning_after, reading
from tests.access.test_data_door import ROWS
from tests.access.test_requests_and_grants import ask_and_grant
from tests.agreements.builders import Datasets, approved, countersign, terms
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, SETUP, People


def today() -> dt.date:
    return utcnow().date()


def with_grant(db: Session, people: People, datasets: Datasets, **overrides: Any) -> Agreement:
    """Stored arrests, an agreement with the given terms, and a grant of sex and age."""
    agreement = approved(db, people, datasets, **overrides)
    ingest_frame(
        db, dataset_id=datasets.arrests.id, frame=ROWS, source_filename="arrests.csv", by=SETUP
    )
    db.commit()
    ask_and_grant(db, people, agreement, datasets, columns=("sex", "age_at_arrest"))
    return agreement


def the_grant(db: Session, agreement: Agreement) -> Grant:
    grant = fresh(db).scalars(select(Grant).where(Grant.agreement_id == agreement.id)).one()
    return grant


def last_of(db: Session, event_type: AuditType) -> AuditEvent:
    event = (
        fresh(db)
        .scalars(
            select(AuditEvent)
            .where(AuditEvent.event_type == event_type)
            .order_by(AuditEvent.seq.desc())
        )
        .first()
    )
    assert event is not None
    return event


# --- acceptance of each version ------------------------------------------------------------


def test_an_unaccepted_version_refuses_reads_until_the_person_accepts_with_their_password(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = with_grant(db, people, datasets, acceptance_required=True)
    now = utcnow()
    refused = decide(db, reading(people, agreement, datasets, now))
    assert not refused.allowed
    assert refused.clause == "personnel.acceptance"
    assert "accept" in refused.reason
    db.rollback()

    # Someone at the analyst's unlocked screen cannot accept for them.
    with pytest.raises(PermissionDenied) as wrong:
        obligations.accept_terms(
            db,
            agreement_id=agreement.id,
            version_number=1,
            password="not-the-password",
            by=people.analyst,
            now=now,
        )
    db.rollback()
    assert wrong.value.audit is not None
    audit.record_refusal(db, wrong.value.audit, by=people.analyst)
    db.commit()
    assert last_of(db, AuditType.AGREEMENT_ACCEPT).outcome == "denied"
    assert not decide(db, reading(people, agreement, datasets, now)).allowed
    db.rollback()

    acceptance = obligations.accept_terms(
        db,
        agreement_id=agreement.id,
        version_number=1,
        password=PASSWORD,
        by=people.analyst,
        now=now,
    )
    db.commit()
    version = fresh(db).get(Agreement, agreement.id).current_version  # type: ignore[union-attr]
    assert version is not None
    assert acceptance.terms_sha256 == individual_terms_sha256(version)
    event = last_of(db, AuditType.AGREEMENT_ACCEPT)
    assert event.outcome == "success"
    assert event.detail["terms_sha256"] == acceptance.terms_sha256  # type: ignore[index]
    assert decide(db, reading(people, agreement, datasets, now)).allowed
    db.rollback()


def amend(
    db: Session, people: People, datasets: Datasets, agreement: Agreement, **overrides: Any
) -> None:
    now = utcnow()
    agreements.start_amendment(
        db, agreement_id=agreement.id, reason="Changed terms.", by=people.privacy, now=now
    )
    agreements.update_draft(
        db,
        agreement_id=agreement.id,
        by=people.privacy,
        now=now,
        terms=terms(people, datasets, acceptance_required=True, **overrides),
    )
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=now)
    agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=now)
    countersign(db, people, agreement, now=now)
    db.commit()


def test_an_amendment_changing_individual_obligations_asks_everyone_again(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = with_grant(db, people, datasets, acceptance_required=True)
    obligations.accept_terms(
        db,
        agreement_id=agreement.id,
        version_number=1,
        password=PASSWORD,
        by=people.analyst,
        now=utcnow(),
    )
    db.commit()
    # A new title binds no one personally: the acceptance carries over.
    amend(db, people, datasets, agreement, title="Diversion programme evaluation, phase 2")
    assert decide(db, reading(people, agreement, datasets, utcnow())).allowed
    db.rollback()
    # A new third-party recipient changes what each person may share: asked again.
    amend(
        db,
        people,
        datasets,
        agreement,
        title="Diversion programme evaluation, phase 2",
        third_party_recipients=["State Statistical Agency"],
    )
    refused = decide(db, reading(people, agreement, datasets, utcnow()))
    assert not refused.allowed
    assert refused.clause == "personnel.acceptance"
    assert "version 3" in refused.reason
    db.rollback()
    assert grant_conditions.pause_lapsed_grants(fresh(db), SCHEDULER, utcnow()) == 1
    db.commit()
    assert the_grant(db, agreement).status == GrantStatus.PAUSED
    obligations.accept_terms(
        db,
        agreement_id=agreement.id,
        version_number=3,
        password=PASSWORD,
        by=people.analyst,
        now=utcnow(),
    )
    db.commit()
    assert the_grant(db, agreement).status == GrantStatus.ACTIVE
    assert decide(db, reading(people, agreement, datasets, utcnow())).allowed
    db.rollback()


def test_only_the_personnel_of_the_version_in_force_can_accept_it(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = with_grant(db, people, datasets, acceptance_required=True)
    with pytest.raises(PermissionDenied):
        obligations.accept_terms(
            db,
            agreement_id=agreement.id,
            version_number=1,
            password=PASSWORD,
            by=people.steward,
            now=utcnow(),
        )
    db.rollback()
    with pytest.raises(ValidationFailed):
        obligations.accept_terms(
            db,
            agreement_id=agreement.id,
            version_number=2,
            password=PASSWORD,
            by=people.analyst,
            now=utcnow(),
        )


def test_the_agreement_page_shows_the_terms_that_bind_a_person_and_takes_the_acceptance(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = with_grant(db, people, datasets, acceptance_required=True)
    browser = Browser(app.test_client())
    browser.login(people.analyst.email, PASSWORD)
    page = browser.get(f"/agreements/{agreement.id}/obligations")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "privacy.third_party_recipients" in html
    assert "You have not accepted" in html
    refused = browser.post(
        f"/agreements/{agreement.id}/accept", data={"version": "1", "password": "wrong"}
    )
    assert refused.status_code == 403
    done = browser.post(
        f"/agreements/{agreement.id}/accept", data={"version": "1", "password": PASSWORD}
    )
    assert done.status_code == 302
    assert "You accepted" in browser.get(f"/agreements/{agreement.id}/obligations").get_data(
        as_text=True
    )
    assert decide(db, reading(people, agreement, datasets, utcnow())).allowed


# --- the personnel list ---------------------------------------------------------------------


def test_a_holder_taken_off_the_personnel_list_is_refused_with_the_personnel_clause(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = with_grant(db, people, datasets)
    version = fresh(db).get(Agreement, agreement.id).current_version  # type: ignore[union-attr]
    assert version is not None
    db.execute(
        delete(Personnel).where(
            Personnel.version_id == version.id, Personnel.user_id == people.analyst.id
        )
    )
    db.commit()
    grant_conditions.refresh(fresh(db), [the_grant(db, agreement)], by=SETUP, now=utcnow())
    db.commit()
    refused = decide(db, reading(people, agreement, datasets, utcnow()))
    assert not refused.allowed
    assert refused.clause == "personnel"


# --- ethics approval ------------------------------------------------------------------------


def test_the_grant_ends_with_the_ethics_approval_and_the_page_says_so(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    from governance.agreements.schedule import activate_due

    agreement = approved(db, people, datasets, ethics_required=True)
    expires = today() + dt.timedelta(days=1)
    obligations.record_ethics_approval(
        db,
        agreement_id=agreement.id,
        board="University REC",
        reference="REC-2026-114",
        approved_on=today() - dt.timedelta(days=300),
        expires_on=expires,
        by=people.privacy,
        now=utcnow(),
    )
    activate_due(db, SCHEDULER, utcnow())
    db.commit()
    with_grant_on(db, people, datasets, agreement)
    grant = the_grant(db, agreement)
    assert grant.effective_until == dt.datetime.combine(
        expires + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC
    )
    assert grant.effective_clause == "ethics.approval"
    assert grant.valid_until > grant.effective_until  # never later than what it depends on
    browser = Browser(app.test_client())
    browser.login(people.analyst.email, PASSWORD)
    assert "ethics.approval" in browser.get(f"/access/grants/{grant.id}").get_data(as_text=True)

    morning = morning_after(expires + dt.timedelta(days=1))
    refused = decide(db, reading(people, agreement, datasets, morning))
    assert not refused.allowed
    assert refused.clause == "ethics.approval"
    assert f"expired on {expires.isoformat()}" in refused.reason
    assert "privacy officer" in refused.reason
    db.rollback()
    assert grant_conditions.pause_lapsed_grants(fresh(db), SCHEDULER, morning) == 1
    told = {m.to for m in notify.pending(db)}
    assert {people.analyst.email, people.steward.email} <= told
    db.commit()

    obligations.record_ethics_approval(
        db,
        agreement_id=agreement.id,
        board="University REC",
        reference="REC-2026-114/R1",
        approved_on=morning.date(),
        expires_on=morning.date() + dt.timedelta(days=365),
        by=people.privacy,
        now=morning,
    )
    db.commit()
    assert the_grant(db, agreement).status == GrantStatus.ACTIVE
    assert decide(db, reading(people, agreement, datasets, morning)).allowed


def with_grant_on(db: Session, people: People, datasets: Datasets, agreement: Agreement) -> None:
    ingest_frame(
        db, dataset_id=datasets.arrests.id, frame=ROWS, source_filename="arrests.csv", by=SETUP
    )
    db.commit()
    ask_and_grant(db, people, agreement, datasets, columns=("sex", "age_at_arrest"))


def test_an_agreement_requiring_ethics_approval_becomes_active_only_with_one_in_force(
    db: Session, people: People, datasets: Datasets
) -> None:
    from governance.agreements.models import AgreementStatus
    from governance.agreements.schedule import activate_due

    agreement = approved(db, people, datasets, ethics_required=True)
    # Approved and countersigned, but not active without an ethics approval in force.
    assert fresh(db).get(Agreement, agreement.id).status == AgreementStatus.EXECUTED  # type: ignore[union-attr]
    assert activate_due(fresh(db), SCHEDULER, utcnow()) == 0
    db.commit()
    # A steward cannot record one, and no one can record one dated in the future or one
    # that has already expired (to cover the past).
    with pytest.raises(PermissionDenied) as steward:
        obligations.record_ethics_approval(
            db,
            agreement_id=agreement.id,
            board="REC",
            reference="R1",
            approved_on=today(),
            expires_on=today() + dt.timedelta(days=365),
            by=people.steward,
            now=utcnow(),
        )
    assert steward.value.audit is not None
    db.rollback()
    with pytest.raises(ValidationFailed) as expired:
        obligations.record_ethics_approval(
            db,
            agreement_id=agreement.id,
            board="REC",
            reference="R1",
            approved_on=today() - dt.timedelta(days=400),
            expires_on=today() - dt.timedelta(days=35),
            by=people.privacy,
            now=utcnow(),
        )
    assert "expires_on" in expired.value.fields
    db.rollback()
    with pytest.raises(ValidationFailed) as future:
        obligations.record_ethics_approval(
            db,
            agreement_id=agreement.id,
            board="REC",
            reference="R1",
            approved_on=today() + dt.timedelta(days=3),
            expires_on=today() + dt.timedelta(days=365),
            by=people.privacy,
            now=utcnow(),
        )
    assert "approved_on" in future.value.fields
    db.rollback()
    # Recorded late with an old approval date: in force from the moment it is recorded, the
    # row keeping both.
    recorded_at = utcnow()
    approval = obligations.record_ethics_approval(
        db,
        agreement_id=agreement.id,
        board="REC",
        reference="R1",
        approved_on=today() - dt.timedelta(days=30),
        expires_on=today() + dt.timedelta(days=335),
        by=people.privacy,
        now=recorded_at,
    )
    db.commit()
    assert approval.recorded_at == recorded_at
    assert last_of(db, AuditType.ETHICS_RECORD).detail["approved_on"] == (  # type: ignore[index]
        (today() - dt.timedelta(days=30)).isoformat()
    )
    assert activate_due(fresh(db), SCHEDULER, utcnow()) == 1
    db.commit()
    assert fresh(db).get(Agreement, agreement.id).status == AgreementStatus.ACTIVE  # type: ignore[union-attr]
    with_grant_on(db, people, datasets, agreement)
    assert decide(db, reading(people, agreement, datasets, utcnow())).allowed


def test_a_version_citing_a_law_that_asks_for_a_legal_basis_cannot_be_submitted_without_it(
    db: Session, people: People, datasets: Datasets
) -> None:
    from tests.agreements.builders import draft

    agreement = draft(db, people, datasets, laws=["cjis", "hipaa"])
    with pytest.raises(ValidationFailed) as missing:
        agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    assert "164.512(i)" in missing.value.fields["legal_bases"]
    db.rollback()
    with pytest.raises(ValidationFailed) as stray:
        agreements.update_draft(
            db,
            agreement_id=agreement.id,
            by=people.privacy,
            now=utcnow(),
            terms=terms(people, datasets, laws=["cjis"], legal_bases={"hipaa": "IRB waiver"}),
        )
    assert "legal_bases" in stray.value.fields
    db.rollback()
    agreements.update_draft(
        db,
        agreement_id=agreement.id,
        by=people.privacy,
        now=utcnow(),
        terms=terms(
            people,
            datasets,
            laws=["cjis", "hipaa"],
            legal_bases={"hipaa": "IRB waiver of authorisation"},
        ),
    )
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    db.commit()
    version = fresh(db).get(Agreement, agreement.id).display_version  # type: ignore[union-attr]
    clauses = {cid: value for cid, _label, value in version.clauses()}
    assert "IRB waiver of authorisation" in clauses["privacy.legal_basis"]


# --- yearly attestation ---------------------------------------------------------------------


def test_an_overdue_attestation_refuses_reads_and_attesting_resumes_them(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = with_grant(db, people, datasets, attestation_months=1)
    grant = the_grant(db, agreement)
    due = add_months(grant.valid_from.date(), 1)
    assert grant.effective_clause == "personnel.attestation"
    assert grant.effective_until == dt.datetime.combine(
        due + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC
    )
    late = morning_after(due + dt.timedelta(days=1))
    refused = decide(db, reading(people, agreement, datasets, late))
    assert refused.clause == "personnel.attestation"
    assert "attest" in refused.reason
    db.rollback()

    # Copies outside the service are not allowed by this agreement: no attestation.
    with pytest.raises(ValidationFailed) as copies:
        obligations.record_attestation(
            db,
            agreement_id=agreement.id,
            still_needed=True,
            kept_terms=True,
            copies_outside="laptop export.csv",
            by=people.analyst,
            now=late,
        )
    assert "incident" in copies.value.fields["copies_outside"]
    db.rollback()
    with pytest.raises(ValidationFailed):
        obligations.record_attestation(
            db,
            agreement_id=agreement.id,
            still_needed=True,
            kept_terms=False,
            copies_outside="",
            by=people.analyst,
            now=late,
        )
    db.rollback()
    attestation = obligations.record_attestation(
        db,
        agreement_id=agreement.id,
        still_needed=True,
        kept_terms=True,
        copies_outside="",
        by=people.analyst,
        now=late,
    )
    db.commit()
    assert attestation.due_on == add_months(late.date(), 1)
    assert decide(db, reading(people, agreement, datasets, late)).allowed
    db.rollback()
    assert last_of(db, AuditType.ATTESTATION_RECORD).clause == "personnel.attestation"


def test_months_are_added_to_the_last_day_of_a_shorter_month() -> None:
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 11, 15), 12) == dt.date(2027, 11, 15)
    assert add_months(dt.date(2026, 12, 1), 1) == dt.date(2027, 1, 1)


# --- incidents ------------------------------------------------------------------------------


def test_an_incident_freeze_stops_reads_at_once_and_closing_it_resumes_them(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = with_grant(db, people, datasets, provider_notice_hours=24)
    now = utcnow()
    # Anyone can report; the analyst does.
    incident = incidents.report_incident(
        db,
        kind="lost_device",
        description="Laptop left on a train.",
        agreement_ids=[agreement.id],
        user_ids=[people.analyst.id],
        by=people.analyst,
        now=now,
    )
    db.commit()
    assert [c.source for c in incident.clocks] == ["incidents.provider_notice"]
    assert incident.clocks[0].due_at == now + dt.timedelta(hours=24)
    assert decide(db, reading(people, agreement, datasets, now)).allowed
    db.rollback()
    # Freezing is the privacy officer's: not the steward's, not the reporter's.
    for someone in (people.steward, people.analyst):
        with pytest.raises(PermissionDenied):
            incidents.freeze(db, incident_id=incident.id, by=someone, now=now)
        db.rollback()
    incidents.freeze(db, incident_id=incident.id, by=people.privacy, now=now)
    db.commit()
    refused = decide(db, reading(people, agreement, datasets, now + dt.timedelta(seconds=1)))
    assert refused.clause == "incidents.freeze"
    assert f"incident #{incident.id}" in refused.reason
    db.rollback()
    assert the_grant(db, agreement).status == GrantStatus.PAUSED
    assert last_of(db, AuditType.INCIDENT_FREEZE).clause == "incidents.freeze"
    with pytest.raises(InvalidTransition):
        incidents.freeze(db, incident_id=incident.id, by=people.privacy, now=now)
    db.rollback()

    # The person who reported it cannot close it, and no one closes it with a notification
    # unsent.
    with pytest.raises(ValidationFailed) as unsent:
        incidents.close(
            db,
            incident_id=incident.id,
            root_cause="Unencrypted laptop.",
            actions_taken="Laptop wiped remotely.",
            by=people.privacy,
            now=now,
        )
    assert "clocks" in unsent.value.fields
    db.rollback()
    clock = incident.clocks[0].id
    incidents.record_notification(
        db, incident_id=incident.id, clock_id=clock, by=people.privacy, now=now
    )
    incidents.record_notification(
        db, incident_id=incident.id, clock_id=clock, by=people.privacy, now=now, acknowledged=True
    )
    db.commit()
    incidents.close(
        db,
        incident_id=incident.id,
        root_cause="Unencrypted laptop.",
        actions_taken="Laptop wiped remotely.",
        by=people.privacy2,
        now=now,
    )
    db.commit()
    assert the_grant(db, agreement).status == GrantStatus.ACTIVE
    assert decide(db, reading(people, agreement, datasets, utcnow())).allowed


def test_a_privacy_officer_who_reported_an_incident_cannot_close_it_alone(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = with_grant(db, people, datasets)
    incident = incidents.report_incident(
        db,
        kind="access_beyond_scope",
        description="Queried a column outside the purpose.",
        agreement_ids=[agreement.id],
        by=people.privacy,
        now=utcnow(),
    )
    db.commit()
    with pytest.raises(PermissionDenied) as alone:
        incidents.close(
            db,
            incident_id=incident.id,
            root_cause="x",
            actions_taken="y",
            by=people.privacy,
            now=utcnow(),
        )
    assert alone.value.audit is not None


def test_the_laws_the_agreement_cites_set_the_notification_clocks(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = approved(
        db,
        people,
        datasets,
        laws=["cjis", "hipaa", "uk_gdpr_dpa2018"],
        legal_bases={
            "hipaa": "IRB waiver of authorisation",
            "uk_gdpr_dpa2018": "Art. 6(1)(e); Art. 10; Sch. 1 para 4",
        },
        provider_notice_hours=48,
    )
    now = utcnow()
    incident = incidents.report_incident(
        db,
        kind="unauthorised_disclosure",
        description="Table emailed to the wrong person.",
        agreement_ids=[agreement.id],
        by=people.steward,
        now=now,
    )
    db.commit()
    due = {c.source: c.due_at - now for c in incident.clocks}
    assert due == {
        "hipaa": dt.timedelta(days=60),
        "uk_gdpr_dpa2018": dt.timedelta(hours=72),
        "incidents.provider_notice": dt.timedelta(hours=48),
    }
    assert any("164.410" in c.rule for c in incident.clocks)
    assert any("Article 33" in c.rule for c in incident.clocks)
    # A deployment may set a law's deadline (e.g. a state law or a stricter policy).
    other = incidents.report_incident(
        db,
        kind="lost_device",
        description="Phone lost.",
        agreement_ids=[agreement.id],
        by=people.steward,
        now=now,
        deadlines={"uk_gdpr_dpa2018": 24},
    )
    assert {c.source: c.due_at - now for c in other.clocks}["uk_gdpr_dpa2018"] == dt.timedelta(
        hours=24
    )
    db.commit()
    # A reminder a day before each unsent notification, once.
    reminded = incidents.remind_due_notifications(
        fresh(db), SCHEDULER, now + dt.timedelta(hours=49)
    )
    assert reminded == 4  # both incidents' GDPR clocks and the provider notices
    db.commit()
    assert (
        incidents.remind_due_notifications(fresh(db), SCHEDULER, now + dt.timedelta(hours=50)) == 0
    )


def test_an_incident_runs_from_report_to_closure_through_its_pages(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    from governance.incidents.models import Incident

    agreement = with_grant(db, people, datasets, laws=["cjis"], provider_notice_hours=24)
    reporter = Browser(app.test_client())
    reporter.login(people.analyst.email, PASSWORD)
    reported = reporter.post(
        "/incidents/",
        data={
            "kind": "lost_device",
            "agreement_ids": [str(agreement.id)],
            "description": "Laptop left on a train.",
        },
    )
    assert reported.status_code == 302
    incident = fresh(db).scalars(select(Incident)).one()
    page = reporter.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "The agreement&#39;s notice period to the provider: 24 hours" in page
    assert f"Incident #{incident.id}: Lost device" in page
    assert "Freeze" not in page
    assert reporter.post(f"/incidents/{incident.id}/freeze").status_code == 403
    assert last_of(db, AuditType.INCIDENT_FREEZE).outcome == "denied"

    officer = Browser(app.test_client())
    officer.login(people.privacy.email, PASSWORD)
    assert officer.post(f"/incidents/{incident.id}/freeze").status_code == 302
    db.rollback()
    assert not decide(db, reading(people, agreement, datasets, utcnow())).allowed
    db.rollback()
    clock = fresh(db).scalars(select(Incident)).one().clocks[0].id
    assert officer.post(f"/incidents/{incident.id}/clocks/{clock}/sent").status_code == 302
    assert (
        officer.post(
            f"/incidents/{incident.id}/close",
            data={"root_cause": "Unencrypted laptop.", "actions_taken": "Wiped remotely."},
        ).status_code
        == 302
    )
    closed = fresh(db).get(Incident, incident.id)
    assert closed is not None
    assert closed.status == "closed"
    assert "Unencrypted laptop." in officer.get(f"/incidents/{incident.id}").get_data(as_text=True)
    db.rollback()
    assert decide(db, reading(people, agreement, datasets, utcnow())).allowed
    # A stranger to the case does not see it.
    other = Browser(app.test_client())
    other.login(people.analyst2.email, PASSWORD)
    assert other.get(f"/incidents/{incident.id}").status_code == 403


def test_the_evidence_pack_holds_the_incident_its_clocks_and_the_audit_around_it(
    db: Session, people: People, datasets: Datasets
) -> None:
    from governance.audit.evidence import providers

    agreement = with_grant(db, people, datasets, acceptance_required=True, provider_notice_hours=24)
    now = utcnow()
    obligations.accept_terms(
        db,
        agreement_id=agreement.id,
        version_number=1,
        password=PASSWORD,
        by=people.analyst,
        now=now,
    )
    incident = incidents.report_incident(
        db,
        kind="disclosive_output",
        description="A table showed a cell of 3.",
        agreement_ids=[agreement.id],
        by=people.steward,
        now=now,
    )
    incidents.freeze(db, incident_id=incident.id, by=people.privacy, now=now)
    incidents.record_notification(
        db,
        incident_id=incident.id,
        clock_id=incident.clocks[0].id,
        by=people.privacy,
        now=now + dt.timedelta(hours=30),
    )
    incidents.close(
        db,
        incident_id=incident.id,
        root_cause="Rounding was off.",
        actions_taken="Output withdrawn; rounding required.",
        by=people.privacy,
        now=now + dt.timedelta(hours=31),
    )
    db.commit()
    sections = {s.title: s for s in providers.sections(fresh(db), agreement.id)}
    listed = sections["Incidents"]
    assert listed.rows[0][0] == f"#{incident.id}"
    assert listed.rows[0][6] == "Rounding was off."
    clocks = sections[f"Incident #{incident.id}: notification deadlines"]
    assert "Late: " + people.police.name == clocks.summary  # sent after 30 h of 24
    segment = sections[f"Incident #{incident.id}: the audit trail around it"]
    kinds = [row[2] for row in segment.rows]
    assert "grant:create" in kinds  # the day before the report
    assert {"incident:report", "incident:freeze", "incident:notify", "incident:close"} <= set(kinds)
    accepted = sections["Personal acceptance of the terms"]
    assert accepted.rows[0][0] == people.analyst.email


def test_each_person_is_reminded_once_before_their_attestation_falls_due(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = with_grant(db, people, datasets, attestation_months=1)
    due = add_months(the_grant(db, agreement).valid_from.date(), 1)
    early = morning_after(due - dt.timedelta(days=20))
    assert obligations.remind_attestations(fresh(db), SCHEDULER, early) == 0
    db.rollback()
    soon = morning_after(due - dt.timedelta(days=10))
    assert obligations.remind_attestations(fresh(db), SCHEDULER, soon) == 1
    messages = notify.pending(db)
    assert [m.to for m in messages] == [people.analyst.email]
    assert due.isoformat() in messages[0].subject
    db.commit()
    assert obligations.remind_attestations(fresh(db), SCHEDULER, soon + dt.timedelta(days=1)) == 0
