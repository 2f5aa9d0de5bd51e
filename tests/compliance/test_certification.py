"""The access certification campaign: the period's lifecycle, each steward's decisions taking
effect at the next read, separation of duties, reminders and overdue items."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import grants
from governance.access.models import Grant, GrantStatus
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.authz import Role
from governance.compliance import certification, periods
from governance.compliance.models import AuditPeriod, CertificationItem, ItemStatus, PeriodStatus
from governance.datasets.models import Classification, DatasetSteward
from governance.kernel import notify
from governance.kernel.errors import InvalidTransition, PermissionDenied, ValidationFailed
from governance.kernel.types import utcnow
from governance.periodic import SCHEDULER
from tests.access.test_data_door import view_url
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People, add_person


def start(db: Session, period: AuditPeriod, people: People, days: int = 14) -> AuditPeriod:
    started = periods.start_certification(
        db,
        period_id=period.id,
        certify_by=utcnow() + dt.timedelta(days=days),
        by=people.compliance,
        now=utcnow(),
    )
    db.commit()
    return started


def events(db: Session, kind: AuditType) -> list[AuditEvent]:
    return list(
        fresh(db).scalars(
            select(AuditEvent).where(AuditEvent.event_type == kind).order_by(AuditEvent.seq)
        )
    )


def test_a_period_opens_certifies_and_closes_through_its_lifecycle(
    db: Session, people: People, stored: Datasets, period: AuditPeriod
) -> None:
    assert period.status == PeriodStatus.OPEN
    assert period.owner_id == people.compliance.id
    with pytest.raises(PermissionDenied) as refused:
        periods.start_certification(
            db,
            period_id=period.id,
            certify_by=utcnow() + dt.timedelta(days=1),
            by=people.privacy,
            now=utcnow(),
        )
    db.rollback()
    assert refused.value.audit is not None
    assert refused.value.audit["event_type"] == AuditType.AUDIT_PERIOD_CERTIFY
    assert fresh(db).get(AuditPeriod, period.id).status == PeriodStatus.OPEN  # type: ignore[union-attr]
    with pytest.raises(ValidationFailed):
        periods.start_certification(
            db, period_id=period.id, certify_by=utcnow(), by=people.compliance, now=utcnow()
        )
    db.rollback()
    with pytest.raises(InvalidTransition):  # not certifying yet
        periods.close_period(db, period_id=period.id, by=people.compliance, now=utcnow())
    db.rollback()

    start(db, period, people)
    period = fresh(db).get(AuditPeriod, period.id)  # type: ignore[assignment]
    live = fresh(db).scalars(select(Grant)).all()
    assert period.status == PeriodStatus.CERTIFYING
    assert sorted(i.grant_id for i in period.items) == sorted(g.id for g in live)
    assert len(period.items) == 1
    with pytest.raises(InvalidTransition, match="still to certify"):
        periods.close_period(db, period_id=period.id, by=people.compliance, now=utcnow())
    db.rollback()
    # After the deadline it closes, the undecided item recorded as overdue.
    later = utcnow() + dt.timedelta(days=15)
    periods.close_period(db, period_id=period.id, by=people.compliance, now=later)
    db.commit()
    period = fresh(db).get(AuditPeriod, period.id)  # type: ignore[assignment]
    assert period.status == PeriodStatus.CLOSED
    assert period.result["overdue"] == 1
    assert period.result["pending"] == 1
    kinds = [e.event_type for e in events(db, AuditType.AUDIT_PERIOD_OPEN)]
    kinds += [e.event_type for e in events(db, AuditType.AUDIT_PERIOD_CLOSE)]
    assert kinds == [AuditType.AUDIT_PERIOD_OPEN, AuditType.AUDIT_PERIOD_CLOSE]
    with pytest.raises(InvalidTransition):
        periods.close_period(db, period_id=period.id, by=people.compliance, now=later)


def test_narrowing_and_revoking_take_effect_at_the_next_read(
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,
    period: AuditPeriod,
    browser: Browser,
) -> None:
    start(db, period, people)
    item = fresh(db).scalars(select(CertificationItem)).one()
    browser.login(people.analyst.email, PASSWORD)
    assert browser.get(view_url(agreement, stored, "columns=age_at_arrest")).status_code == 200
    with pytest.raises(ValidationFailed):  # narrowing that removes nothing
        certification.certify(
            db,
            item_id=item.id,
            decision="narrow",
            keep=["sex", "age_at_arrest"],
            comment="",
            by=people.steward,
            now=utcnow(),
        )
    db.rollback()
    certification.certify(
        db,
        item_id=item.id,
        decision="narrow",
        keep=["sex"],
        comment="Age is not needed.",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    assert browser.get(view_url(agreement, stored, "columns=age_at_arrest")).status_code == 403
    assert browser.get(view_url(agreement, stored, "columns=sex")).status_code == 200
    item = fresh(db).get(CertificationItem, item.id)  # type: ignore[assignment]
    assert (item.status, item.removed_columns) == (ItemStatus.NARROWED, "age_at_arrest")
    narrowed = events(db, AuditType.GRANT_NARROW)
    certified = events(db, AuditType.CERTIFICATION_NARROW)
    assert len(narrowed) == len(certified) == 1
    assert certified[0].detail["removed"] == ["age_at_arrest"]
    # Decided once: a second decision is refused and changes nothing.
    with pytest.raises(InvalidTransition, match="already"):
        certification.certify(
            db,
            item_id=item.id,
            decision="revoke",
            keep=[],
            comment="x",
            by=people.steward,
            now=utcnow(),
        )
    db.rollback()
    assert fresh(db).scalars(select(Grant)).one().status == GrantStatus.ACTIVE


def test_revoking_ends_the_grant_and_needs_a_reason(
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,
    period: AuditPeriod,
    browser: Browser,
) -> None:
    start(db, period, people)
    item = fresh(db).scalars(select(CertificationItem)).one()
    with pytest.raises(ValidationFailed):
        certification.certify(
            db,
            item_id=item.id,
            decision="revoke",
            keep=[],
            comment=" ",
            by=people.steward,
            now=utcnow(),
        )
    db.rollback()
    assert fresh(db).get(CertificationItem, item.id).status == ItemStatus.PENDING  # type: ignore[union-attr]
    certification.certify(
        db,
        item_id=item.id,
        decision="revoke",
        keep=[],
        comment="Project finished.",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    browser.login(people.analyst.email, PASSWORD)
    assert browser.get(view_url(agreement, stored, "columns=sex")).status_code == 403
    assert fresh(db).scalars(select(Grant)).one().status == GrantStatus.REVOKED


def test_nobody_certifies_their_own_grant_nor_another_steward_s_dataset(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,
    period: AuditPeriod,
    browser: Browser,
) -> None:
    """The attacker is a steward who holds a grant on the dataset they steward: they cannot
    confirm it themselves; a steward of another dataset and the analyst cannot either."""
    own = grants.create_grant(
        db,
        user_id=people.steward.id,
        agreement_id=agreement.id,
        agreement_version=agreement.current_version_number or 1,
        dataset_id=stored.arrests.id,
        columns={"sex": Classification.QUASI_IDENTIFIER},
        purpose="descriptive",
        valid_until=utcnow() + dt.timedelta(days=30),
        allow_download=False,
        by=people.privacy,
        now=utcnow(),
    )
    steward2 = add_person(
        db,
        app,
        email="steward2@lab.example",
        name="Second Steward",
        org=people.lab,
        roles=(Role.DATA_STEWARD,),
    )
    db.add(DatasetSteward(dataset_id=stored.arrests.id, user_id=steward2.id))
    outsider = add_person(
        db,
        app,
        email="steward3@lab.example",
        name="Other Steward",
        org=people.lab,
        roles=(Role.DATA_STEWARD,),
    )
    db.add(DatasetSteward(dataset_id=stored.probation.id, user_id=outsider.id))
    db.commit()
    start(db, period, people)
    item = (
        fresh(db)
        .scalars(select(CertificationItem).where(CertificationItem.grant_id == own.id))
        .one()
    )
    for attacker, rule in (
        (people.steward, "not-the-holder"),
        (outsider, "steward-of-dataset"),
        (people.analyst, "role-permission:grant:review"),
    ):
        with pytest.raises(PermissionDenied) as refused:
            certification.certify(
                db,
                item_id=item.id,
                decision="confirm",
                keep=[],
                comment="",
                by=attacker,
                now=utcnow(),
            )
        db.rollback()
        assert refused.value.audit is not None
        assert refused.value.audit["event_type"] == AuditType.CERTIFICATION_CONFIRM
        assert refused.value.audit.get("rule") == rule
    # Through the page, the refusal is recorded under the rule that refused it.
    browser.login(people.steward.email, PASSWORD)
    answer = browser.post(
        f"/compliance/certifications/{item.id}", {f"item{item.id}-decision": "confirm"}
    )
    assert answer.status_code == 403
    refusal = events(db, AuditType.CERTIFICATION_CONFIRM)[-1]
    assert (refusal.outcome, refusal.actor_email) == (Outcome.DENIED, people.steward.email)
    assert refusal.rule == "not-the-holder"
    assert fresh(db).get(CertificationItem, item.id).status == ItemStatus.PENDING  # type: ignore[union-attr]
    # The steward's list shows their own grant without a form; the second steward decides it.
    mine = {e.item.id: e.own for e in certification.steward_items(db, by=people.steward)}
    assert mine[item.id] is True
    assert all(
        t.title.startswith("Certify 1 grant")
        for t in certification.steward_tasks(db, people.steward)
    )
    certification.certify(
        db, item_id=item.id, decision="confirm", keep=[], comment="", by=steward2, now=utcnow()
    )
    db.commit()
    assert fresh(db).get(CertificationItem, item.id).status == ItemStatus.CONFIRMED  # type: ignore[union-attr]


def test_stewards_are_reminded_in_the_last_week_and_once_overdue(
    db: Session, people: People, stored: Datasets, period: AuditPeriod
) -> None:
    start(db, period, people, days=14)
    assert notify.pending(db) == []  # the start's messages went with its commit
    deadline = fresh(db).get(AuditPeriod, period.id).certify_by  # type: ignore[union-attr]
    assert deadline is not None
    assert certification.remind_certifiers(db, SCHEDULER, deadline - dt.timedelta(days=8)) == 0
    assert certification.remind_certifiers(db, SCHEDULER, deadline - dt.timedelta(days=3)) == 1
    sent = notify.pending(db)
    assert [m.to for m in sent] == [people.steward.email]
    assert "due by" in sent[0].subject
    db.commit()
    assert certification.remind_certifiers(db, SCHEDULER, deadline - dt.timedelta(days=2)) == 0
    after = deadline + dt.timedelta(hours=1)
    assert certification.remind_certifiers(db, SCHEDULER, after) == 1
    overdue = notify.pending(db)
    assert sorted(m.to for m in overdue) == sorted([people.steward.email, people.compliance.email])
    assert "overdue" in overdue[0].subject
    db.commit()
    assert certification.remind_certifiers(db, SCHEDULER, after + dt.timedelta(days=1)) == 0
    assert len(events(db, AuditType.CERTIFICATION_REMIND)) == 2
    item = fresh(db).scalars(select(CertificationItem)).one()
    assert item.overdue(after)
    assert not item.overdue(deadline - dt.timedelta(days=1))
    task = periods.manager_tasks(fresh(db), people.compliance)[0]
    assert task.params == {"period_id": period.id}
    assert task.title.endswith(": 0 of 1 decided") or "overdue" in task.title
    done = periods.progress(fresh(db).get(AuditPeriod, period.id), now=after)  # type: ignore[arg-type]
    assert (done.total, done.decided, done.overdue) == (1, 0, 1)
