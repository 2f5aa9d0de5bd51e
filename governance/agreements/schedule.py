"""What happens to agreements as time passes, and the privacy officer's agreement tasks.

Activation and expiry run on huey's scheduler in the worker (at least hourly,
EXPIRY_CHECK_MINUTES) and from `governance expire [--now]`. The effective date is in force from
its start and the expiry date until its end, both in UTC: an agreement expiring on 30 June is in
force all of 30 June and expires at 00:00 UTC on 1 July.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.models import (
    Agreement,
    AgreementStatus,
    AgreementVersion,
    VersionStatus,
)
from governance.agreements.obligations import activation_blocker
from governance.agreements.queries import EXPIRY_WINDOWS, expiring, expiry_window
from governance.identity.actors import System
from governance.identity.models import User
from governance.kernel.tasks import Task


def _today(now: dt.datetime) -> dt.date:
    return now.astimezone(dt.UTC).date()


def activate_due(session: Session, actor: System, now: dt.datetime) -> int:
    """Executed agreements whose effective date has come become active (once the ethics
    approval they require, if any, is in force)."""
    due = session.scalars(
        select(Agreement)
        .join(AgreementVersion, AgreementVersion.agreement_id == Agreement.id)
        .where(
            Agreement.status == AgreementStatus.EXECUTED,
            AgreementVersion.number == Agreement.current_version_number,
            AgreementVersion.effective_date <= _today(now),
        )
        .order_by(Agreement.id)
    ).all()
    ready = [
        a
        for a in due
        if a.current_version is not None and not activation_blocker(session, a.current_version, now)
    ]
    for agreement in ready:
        agreements.activate(session, agreement=agreement, by=actor, now=now)
    return len(ready)


def expire_due(session: Session, actor: System, now: dt.datetime) -> int:
    """Active agreements whose last day in force has ended become expired."""
    due = session.scalars(
        select(Agreement)
        .join(AgreementVersion, AgreementVersion.agreement_id == Agreement.id)
        .where(
            Agreement.status == AgreementStatus.ACTIVE,
            AgreementVersion.number == Agreement.current_version_number,
            AgreementVersion.expiry_date < _today(now),
        )
        .order_by(Agreement.id)
    ).all()
    for agreement in due:
        agreements.expire(session, agreement=agreement, by=actor, now=now)
    return len(due)


def agreement_tasks(session: Session, user: User) -> list[Task]:
    today = _today(dt.datetime.now(dt.UTC))
    return [
        *_expiring_tasks(session, today),
        *_review_tasks(session, user),
        *_countersignature_tasks(session),
        *_destruction_tasks(session, today),
    ]


def _expiring_tasks(session: Session, today: dt.date) -> list[Task]:
    tasks = []
    for agreement, version in expiring(session, today=today, within=max(EXPIRY_WINDOWS)):
        window = expiry_window(version.expiry_date, today)
        tasks.append(
            Task(
                title=f"{agreement.reference} {version.title} expires {version.expiry_date}",
                kind=f"Agreement expiring within {window} days",
                endpoint="agreements.detail",
                params={"agreement_id": agreement.id},
                due=version.expiry_date,
                detail="Amend to extend it, or prepare for grants to end and data to be destroyed.",
            )
        )
    return tasks


def _review_tasks(session: Session, user: User) -> list[Task]:
    key = agreements.actor_key(user)
    tasks = []
    waiting = session.execute(
        select(Agreement, AgreementVersion)
        .join(AgreementVersion, AgreementVersion.agreement_id == Agreement.id)
        .where(
            AgreementVersion.number == Agreement.working_version_number,
            AgreementVersion.status.in_(["submitted", "draft"]),
        )
        .order_by(Agreement.reference)
    ).all()
    for agreement, version in waiting:
        if version.status == "submitted" and key not in version.contributors:
            tasks.append(
                Task(
                    title=f"Review {agreement.reference} {version.title} "
                    f"(version {version.number})",
                    kind="Agreement to review",
                    endpoint="agreements.detail",
                    params={"agreement_id": agreement.id},
                )
            )
        elif (
            version.status == "draft"
            and version.comments
            and version.comments[-1].kind == "return"
            and key in version.contributors
        ):
            tasks.append(
                Task(
                    title=f"Revise {agreement.reference} {version.title}",
                    kind="Agreement returned with comments",
                    endpoint="agreements.detail",
                    params={"agreement_id": agreement.id},
                    detail=version.comments[-1].body[:200],
                )
            )
    return tasks


def _countersignature_tasks(session: Session) -> list[Task]:
    """Approved versions waiting for the provider's signature: whoever may record it is told,
    and reminded until it is recorded or the amendment is discarded. Until then a first
    version binds no one and an amendment changes nothing (agreements/execution.py)."""
    waiting = session.execute(
        select(Agreement, AgreementVersion)
        .join(AgreementVersion, AgreementVersion.agreement_id == Agreement.id)
        .where(
            or_(
                and_(
                    AgreementVersion.number == Agreement.working_version_number,
                    AgreementVersion.status == VersionStatus.AWAITING_SIGNATURE,
                ),
                and_(
                    Agreement.status == AgreementStatus.APPROVED,
                    AgreementVersion.number == Agreement.current_version_number,
                ),
            )
        )
        .order_by(Agreement.reference)
    ).all()
    tasks = []
    for agreement, version in waiting:
        amendment = version.status == VersionStatus.AWAITING_SIGNATURE
        tasks.append(
            Task(
                title=f"Record {agreement.provider.name}'s countersignature of "
                f"{agreement.reference} {version.title} "
                f"({'amendment, ' if amendment else ''}version {version.number})",
                kind="Countersignature to record",
                endpoint="agreements.detail",
                params={"agreement_id": agreement.id},
                anchor="execute-form",
                detail="Approved; the amendment takes effect only once the provider has signed "
                "it. If the provider declines, discard it."
                if amendment
                else "Approved; the agreement becomes active only once the provider has signed it.",
                key=f"countersign|{agreement.id}|{version.number}",
            )
        )
    return tasks


def _destruction_tasks(session: Session, today: dt.date) -> list[Task]:
    ended = session.scalars(
        select(Agreement)
        .where(Agreement.status.in_([AgreementStatus.EXPIRED, AgreementStatus.TERMINATED]))
        .order_by(Agreement.id)
    ).all()
    tasks = []
    for agreement in ended:
        if agreement.destruction_certified_at is not None:
            # Destroyed and certified: what is left is the close-out.
            tasks.append(
                Task(
                    title=f"Close out {agreement.reference}",
                    kind="Close-out",
                    endpoint="closeout.checklist",
                    params={"agreement_id": agreement.id},
                    due=None,
                )
            )
            continue
        due = agreement.destruction_due()
        overdue = due is not None and due < today
        tasks.append(
            Task(
                title=f"Certify destruction of the data of {agreement.reference}",
                kind="Destruction overdue" if overdue else "Destruction to certify",
                endpoint="agreements.detail",
                params={"agreement_id": agreement.id},
                due=due,
            )
        )
    return tasks
