"""Where a request stands, who it waits on, and the requester's one polite nudge per period.

A submitted request waits on its dataset's stewards, or, when a committee decides it, on that
committee (the requester sees the committee and how many votes are in, never its members or
who voted what); one whose direct identifiers need the second approval waits on the privacy
officers. The requester may nudge once per service level of that step (SERVICE_LEVELS
"Request to review", "Vote" or "Identifiers to approve"): the nudge is audited and e-mails the
people it waits on (for a committee: the members who have not voted yet), with the request's
number, state and dates, never its purpose or columns. A second nudge in the same period is
refused (409). Each person nudged gets a task "Answer a reminder" on their dashboard, due
SERVICE_LEVELS["Answer a reminder"] days after the nudge, which closes once they act (the
request leaves their step, or they vote).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import queries
from governance.access.models import AccessRequest, RequestStatus
from governance.access.queries import CommitteeWait
from governance.access.request_checks import audit_fields
from governance.access.visibility import visible_request
from governance.audit.models import AuditEvent, AuditType, of_type
from governance.audit.service import record
from governance.authz import Role
from governance.datasets.models import DatasetSteward
from governance.identity.models import User, UserRole
from governance.kernel import notify
from governance.kernel.errors import Conflict, InvalidTransition, PermissionDenied
from governance.kernel.tasks import Task, guarded, service_level_days

STEP_KINDS = {
    RequestStatus.SUBMITTED: queries.REVIEW,
    RequestStatus.AWAITING_PRIVACY_OFFICER: queries.SECOND,
}
COMMITTEE_KIND = "Vote"
ANSWER_KIND = "Answer a reminder"
COMMITTEE_ROLE = "Committee"


@dataclass(frozen=True)
class Waiting:
    """Who a request waits on now, since when, and when the requester may nudge again."""

    role: str
    # Who a nudge e-mails; for a committee, its members yet to vote (never shown to the
    # requester: `public_names` is what they see).
    people: list[User]
    since: dt.datetime
    period_days: int
    last_nudge: dt.datetime | None
    committee: CommitteeWait | None = None

    @property
    def next_nudge(self) -> dt.datetime | None:
        if self.last_nudge is None:
            return None
        return self.last_nudge + dt.timedelta(days=self.period_days)

    def may_nudge(self, now: dt.datetime) -> bool:
        return self.next_nudge is None or now >= self.next_nudge

    @property
    def names(self) -> str:
        """Who it waits on, as the requester may read it."""
        if self.committee is not None:
            return f"the committee {self.committee.name}"
        return ", ".join(p.name for p in self.people) or f"the {self.role.lower()}s"


def waiting_on(session: Session, item: AccessRequest) -> Waiting | None:
    """None once the request no longer waits on anyone (decided, returned or withdrawn)."""
    status = RequestStatus(item.status)
    if status not in STEP_KINDS:
        return None
    settings = session.info.get("settings") or {}
    committee = queries.request_committee(session, item)
    if status == RequestStatus.SUBMITTED and committee is not None:
        since = item.submitted_at or committee.opened_at
        members = session.scalars(
            select(User)
            .where(User.id.in_(committee.to_vote), User.active.is_(True))
            .where(User.id != item.requester_id)
            .order_by(User.name)
        ).all()
        return Waiting(
            role=COMMITTEE_ROLE,
            people=list(members),
            since=since,
            period_days=service_level_days(settings, COMMITTEE_KIND),
            last_nudge=_last_nudge(session, item.id, since),
            committee=committee,
        )
    if status == RequestStatus.SUBMITTED:
        role = Role.DATA_STEWARD
        people = select(DatasetSteward.user_id).where(DatasetSteward.dataset_id == item.dataset_id)
        since = item.submitted_at or item.created_at
    else:
        role = Role.PRIVACY_OFFICER
        people = select(UserRole.user_id).where(UserRole.role == Role.PRIVACY_OFFICER)
        since = item.steward_decided_at or item.created_at
    holders = session.scalars(
        select(User)
        .where(User.id.in_(people), User.active.is_(True), User.id != item.requester_id)
        .order_by(User.name)
    ).all()
    return Waiting(
        role=role.label,
        people=list(holders),
        since=since,
        period_days=service_level_days(settings, STEP_KINDS[status]),
        last_nudge=_last_nudge(session, item.id, since),
    )


def _last_nudge(session: Session, request_id: int, since: dt.datetime) -> dt.datetime | None:
    return session.scalar(
        select(AuditEvent.occurred_at)
        .where(
            of_type(AuditType.ACCESS_REQUEST_NUDGE),
            AuditEvent.target_type == "access_request",
            AuditEvent.target_id == str(request_id),
            AuditEvent.outcome == "success",
            AuditEvent.occurred_at >= since,
        )
        .order_by(AuditEvent.occurred_at.desc())
        .limit(1)
    )


def check_nudge(
    session: Session, request_id: int, by: User, now: dt.datetime
) -> tuple[AccessRequest, Waiting]:
    """404 (as for no such request) if `by` may not see it, 403 unless they asked, 409 unless
    it waits on someone and a reminder is due; changes nothing."""
    item = visible_request(session, request_id, by, event=AuditType.ACCESS_REQUEST_NUDGE)
    if item.requester_id != by.id:
        raise PermissionDenied(
            "Only the person who asked may send a reminder about a request.",
            audit={"event_type": AuditType.ACCESS_REQUEST_NUDGE, **audit_fields(item)},
        )
    waiting = waiting_on(session, item)
    if waiting is None:
        raise InvalidTransition(
            f"Request #{item.id} is {RequestStatus(item.status).label.lower()}: "
            "it waits on nobody.",
            allowed=[],
        )
    if not waiting.may_nudge(now):
        assert waiting.next_nudge is not None
        raise Conflict(
            f"A reminder about request #{item.id} was already sent on "
            f"{waiting.last_nudge:%Y-%m-%d}; you may send another from "
            f"{waiting.next_nudge:%Y-%m-%d %H:%M} UTC, one per {waiting.period_days} days."
        )
    return item, waiting


def nudge(session: Session, *, request_id: int, by: User, now: dt.datetime) -> int:
    """Remind the people the request waits on; returns how many were e-mailed."""
    item, waiting = check_nudge(session, request_id, by, now)
    page = notify.link(session, f"/access/requests/{item.id}")
    told = 0
    for person in waiting.people:
        told += notify.queue_template(
            session,
            to=[person.email],
            template="request_nudge.txt",
            kind="request_nudge",
            link=page,
            name=person.name,
            requester=by.name,
            request_id=item.id,
            waits_on=waiting.names,
            since=f"{waiting.since:%Y-%m-%d}",
            state=RequestStatus(item.status).label.lower(),
        )
    record(
        session,
        AuditType.ACCESS_REQUEST_NUDGE,
        by=by,
        agreement_id=item.agreement_id,
        dataset_id=item.dataset_id,
        target_type="access_request",
        target_id=item.id,
        # Ids, not names: who owes an answer (their "Answer a reminder" task).
        detail={
            "waits_on": waiting.role,
            "told": told,
            "told_ids": [person.id for person in waiting.people],
            **({"committee_id": waiting.committee.committee_id} if waiting.committee else {}),
        },
        now=now,
    )
    return told


# Built once: every dashboard (every role's) asks it.
_WAITING_REQUESTS = select(AccessRequest).where(AccessRequest.status.in_(list(STEP_KINDS)))


@guarded(_WAITING_REQUESTS)
def reminders_to_answer(session: Session, user: User) -> list[Task]:
    """The task "Answer a reminder": a nudge that reached this person about a request that
    still waits on them (it closes when the request leaves their step, or they vote)."""
    open_requests = {str(r.id): r for r in session.scalars(_WAITING_REQUESTS)}
    if not open_requests:
        return []
    nudges = session.execute(
        select(AuditEvent.target_id, AuditEvent.occurred_at, AuditEvent.detail)
        .where(
            of_type(AuditType.ACCESS_REQUEST_NUDGE),
            AuditEvent.target_type == "access_request",
            AuditEvent.outcome == "success",
            AuditEvent.target_id.in_(list(open_requests)),
        )
        .order_by(AuditEvent.occurred_at)
    ).all()
    latest: dict[str, tuple[dt.datetime, dict[str, object]]] = {}
    for target_id, occurred_at, detail in nudges:
        if target_id is not None and user.id in (detail or {}).get("told_ids", []):
            latest[target_id] = (occurred_at, detail)
    settings = session.info.get("settings") or {}
    days = service_level_days(settings, ANSWER_KIND)
    tasks = []
    for target_id, (occurred_at, _detail) in sorted(latest.items(), key=lambda kv: kv[1][0]):
        item = open_requests[target_id]
        waiting = waiting_on(session, item)
        if waiting is None or occurred_at < waiting.since:
            continue  # the step it was about is over
        if user.id not in {person.id for person in waiting.people}:
            continue  # they acted (voted), or no longer hold the step
        tasks.append(
            Task(
                title=f"Answer a reminder about access request #{item.id}",
                kind=ANSWER_KIND,
                # A member answers on the committee's case page; a steward or officer on the
                # request's page.
                endpoint=("committees.case_page" if waiting.committee else "access.request_detail"),
                params=(
                    {"case_id": waiting.committee.case_id}
                    if waiting.committee
                    else {"request_id": item.id}
                ),
                due=(occurred_at + dt.timedelta(days=days)).date(),
                detail=f"The requester asked on {occurred_at:%Y-%m-%d}; it waits on "
                f"{waiting.names} since {waiting.since:%Y-%m-%d}.",
                key=f"answer-reminder|request={item.id}|at={occurred_at:%Y%m%dT%H%M%S}",
            )
        )
    return tasks
