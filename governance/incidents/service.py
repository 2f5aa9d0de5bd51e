"""Incidents: anyone reports one; a privacy officer freezes the agreements it involves (every
grant under them refuses reads from that moment, queued analyses included), records the
notifications the laws require by their deadlines, and closes it with a root cause.

The clocks start when the incident is reported (the moment the organisation became aware of
it): one per law the agreement cites that sets a breach notification deadline (the law's
snapshot in the agreement, the hours overridable per law by BREACH_NOTICE_HOURS in the
configuration), and one for the agreement's own notice period to the provider.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.access import conditions as grant_conditions
from governance.access.models import LIVE_GRANT_STATUSES, Grant, GrantStatus
from governance.agreements.common import get_agreement
from governance.agreements.law_model import breach_notice_of
from governance.agreements.models import Agreement
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.identity.actors import Actor, System
from governance.identity.models import User
from governance.incidents.models import (
    Incident,
    IncidentAgreement,
    IncidentKind,
    IncidentStatus,
    NotificationClock,
)
from governance.kernel import notify
from governance.kernel.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from governance.kernel.text import clean_text
from governance.lifecycle import Lifecycle, Transition, already

REMIND_BEFORE = dt.timedelta(hours=24)


class IncidentAction(StrEnum):
    CLOSE = "close"


# Freezing and lifting are not statuses: an open incident freezes or unfreezes its agreements
# (`frozen_at`), and only closing changes the status.
LIFECYCLE: Lifecycle[IncidentStatus, IncidentAction] = Lifecycle(
    "incident",
    Incident,
    IncidentStatus,
    IncidentAction,
    [
        Transition(
            IncidentStatus.OPEN,
            IncidentAction.CLOSE,
            IncidentStatus.CLOSED,
            Permission.INCIDENT_MANAGE,
            AuditType.INCIDENT_CLOSE,
            "by someone other than the reporter, with a root cause, the actions taken "
            "and every notification recorded as sent",
        ),
    ],
    initial=[IncidentStatus.OPEN],
    refusal=already("incident", tense="is"),
)


def get_incident(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"There is no incident {incident_id}.")
    return incident


def _record(
    session: Session,
    event: AuditType,
    incident: Incident,
    *,
    by: Actor,
    now: dt.datetime,
    detail: dict[str, object] | None = None,
) -> None:
    for fields in _events(event, incident, now=now, detail=detail):
        audit.record(session, event, by=by, **fields)


def _events(
    event: AuditType, incident: Incident, *, now: dt.datetime, detail: dict[str, object] | None
) -> list[dict[str, Any]]:
    """One event per agreement the incident involves (each agreement's trail shows it)."""
    agreement_ids: list[int | None] = list(incident.agreement_ids) or [None]
    return [
        {
            "agreement_id": agreement_id,
            "target_type": "incident",
            "target_id": incident.id,
            "clause": "incidents.freeze"
            if event in (AuditType.INCIDENT_FREEZE, AuditType.INCIDENT_UNFREEZE)
            else None,
            "detail": {"kind": str(incident.kind), **(detail or {})},
            "now": now,
        }
        for agreement_id in agreement_ids
    ]


def _manager(by: Actor, event: AuditType, incident_id: int) -> None:
    authz.require(
        by,
        Permission.INCIDENT_MANAGE,
        audit={"event_type": event, "target_type": "incident", "target_id": incident_id},
    )


def report_incident(
    session: Session,
    *,
    kind: str,
    description: str,
    agreement_ids: Sequence[int],
    by: Actor,
    now: dt.datetime,
    user_ids: Sequence[int] = (),
    dataset_ids: Sequence[int] = (),
    output_ids: Sequence[int] = (),
    deadlines: Mapping[str, int] | None = None,
) -> Incident:
    """Anyone may report; the notification clocks start now."""
    authz.require(
        by,
        Permission.INCIDENT_REPORT,
        audit={"event_type": AuditType.INCIDENT_REPORT, "target_type": "incident"},
    )
    errors: dict[str, str] = {}
    if kind not in {k.value for k in IncidentKind}:
        errors["kind"] = "Choose what kind of incident this is."
    text = clean_text(description, "description", errors, max_length=20_000)
    agreements = [get_agreement(session, i) for i in dict.fromkeys(agreement_ids)]
    if not agreements:
        errors["agreement_ids"] = "Name at least one agreement involved."
    if errors:
        raise ValidationFailed("The incident was not reported.", errors)
    incident = Incident(
        kind=IncidentKind(kind),
        description=text,
        status=IncidentStatus.OPEN,
        reported_by_id=by.id,
        reported_by_label=by.email,
        reported_at=now,
        user_ids=sorted(set(user_ids)),
        dataset_ids=sorted(set(dataset_ids)),
        output_ids=sorted(set(output_ids)),
        root_cause="",
        actions_taken="",
    )
    incident.agreements = [IncidentAgreement(agreement_id=a.id) for a in agreements]
    incident.clocks = [clock for a in agreements for clock in _clocks(a, now, deadlines or {})]
    session.add(incident)
    session.flush()
    _record(
        session,
        AuditType.INCIDENT_REPORT,
        incident,
        by=by,
        now=now,
        detail={
            "clocks": [
                {"source": c.source, "due_at": c.due_at.isoformat()} for c in incident.clocks
            ]
        },
    )
    _tell_managers(
        session,
        incident,
        f"Incident #{incident.id} reported",
        f"{by.email} reported a suspected incident ({incident.kind_label}). "
        "Decide whether to freeze the agreements involved; the notification "
        "clocks have started.",
    )
    return incident


def report_alert(
    session: Session,
    *,
    description: str,
    agreement_ids: Sequence[int],
    by: System,
    now: dt.datetime,
    user_ids: Sequence[int] = (),
) -> Incident:
    """An incident opened by the service itself on an alert (alerts.py): no reporter, the
    agreements the alert points at (possibly none), their clocks started now, the people it
    concerns when it names any."""
    agreements = [get_agreement(session, i) for i in dict.fromkeys(agreement_ids)]
    incident = Incident(
        kind=IncidentKind.AUDIT_ALERT,
        description=description,
        status=IncidentStatus.OPEN,
        reported_by_id=None,
        reported_by_label=by.email,
        reported_at=now,
        user_ids=sorted(set(user_ids)),
        dataset_ids=[],
        output_ids=[],
        root_cause="",
        actions_taken="",
    )
    incident.agreements = [IncidentAgreement(agreement_id=a.id) for a in agreements]
    incident.clocks = [clock for a in agreements for clock in _clocks(a, now, {})]
    session.add(incident)
    session.flush()
    _record(session, AuditType.INCIDENT_REPORT, incident, by=by, now=now, detail={"alert": True})
    _tell_managers(
        session,
        incident,
        f"Incident #{incident.id} opened by an audit alert",
        f"{description}\nThe service opened this incident itself. Decide whether to freeze "
        "the agreements involved.",
    )
    return incident


def _clocks(
    agreement: Agreement, now: dt.datetime, deadlines: Mapping[str, int]
) -> list[NotificationClock]:
    version = agreement.current_version or agreement.display_version
    clocks = []
    for law in version.laws:
        notice = breach_notice_of(law)
        if notice is None:
            continue
        hours = int(deadlines.get(str(law["code"]), notice.hours))
        clocks.append(
            NotificationClock(
                agreement_id=agreement.id,
                source=str(law["code"]),
                recipient=notice.recipient,
                rule=notice.rule,
                due_at=now + dt.timedelta(hours=hours),
            )
        )
    if version.provider_notice_hours:
        clocks.append(
            NotificationClock(
                agreement_id=agreement.id,
                source="incidents.provider_notice",
                recipient=agreement.provider.name,
                rule=f"The agreement's notice period to the provider: "
                f"{version.provider_notice_hours} hours",
                due_at=now + dt.timedelta(hours=version.provider_notice_hours),
            )
        )
    return clocks


def _grants(session: Session, incident: Incident) -> list[Grant]:
    return list(
        session.scalars(
            select(Grant)
            .where(
                Grant.agreement_id.in_(incident.agreement_ids),
                Grant.status.in_(LIVE_GRANT_STATUSES),
            )
            .order_by(Grant.id)
        )
    )


def freeze(session: Session, *, incident_id: int, by: Actor, now: dt.datetime) -> Incident:
    """One audited action: every grant under the incident's agreements stops now."""
    _manager(by, AuditType.INCIDENT_FREEZE, incident_id)
    incident = get_incident(session, incident_id)
    if incident.status != IncidentStatus.OPEN or incident.frozen_at is not None:
        raise InvalidTransition("Only an open incident that is not frozen can be frozen.")
    incident.frozen_at, incident.frozen_by_id = now, by.id
    session.flush()
    grants = _grants(session, incident)
    grant_conditions.refresh(session, grants, by=by, now=now)
    for grant in grants:
        if grant.status == GrantStatus.ACTIVE:
            grant_conditions.pause(session, grant, by=by, now=now)
    _record(
        session,
        AuditType.INCIDENT_FREEZE,
        incident,
        by=by,
        now=now,
        detail={"grants_paused": [g.id for g in grants], "outputs_withdrawn": incident.output_ids},
    )
    _record_outputs(session, AuditType.OUTPUT_WITHDRAW, incident, by=by, now=now)
    return incident


def _record_outputs(
    session: Session, event: AuditType, incident: Incident, *, by: Actor, now: dt.datetime
) -> None:
    """The outputs the incident names leave (or return to) the public page with the freeze:
    the public page reads the freeze itself (outputs/queries.py), each change is recorded."""
    for output_id in incident.output_ids:
        audit.record(
            session,
            event,
            by=by,
            target_type="output",
            target_id=output_id,
            clause="incidents.freeze",
            now=now,
            detail={"incident_id": incident.id},
        )


def unfreeze(session: Session, *, incident_id: int, by: Actor, now: dt.datetime) -> Incident:
    _manager(by, AuditType.INCIDENT_UNFREEZE, incident_id)
    incident = get_incident(session, incident_id)
    if not incident.frozen:
        raise InvalidTransition("This incident has no freeze to lift.")
    incident.frozen_at = None
    _lift(session, incident, AuditType.INCIDENT_UNFREEZE, by=by, now=now)
    _record_outputs(session, AuditType.OUTPUT_RESTORE, incident, by=by, now=now)
    return incident


def _lift(
    session: Session,
    incident: Incident,
    event: AuditType,
    *,
    by: Actor,
    now: dt.datetime,
    detail: dict[str, object] | None = None,
) -> None:
    session.flush()
    grant_conditions.refresh(session, _grants(session, incident), by=by, now=now)
    _record(session, event, incident, by=by, now=now, detail=detail)


def record_notification(
    session: Session,
    *,
    incident_id: int,
    clock_id: int,
    by: Actor,
    now: dt.datetime,
    acknowledged: bool = False,
) -> NotificationClock:
    """A notification sent (or its acknowledgement by the recipient) is recorded."""
    event = AuditType.INCIDENT_ACKNOWLEDGE if acknowledged else AuditType.INCIDENT_NOTIFY
    _manager(by, event, incident_id)
    incident = get_incident(session, incident_id)
    clock = next((c for c in incident.clocks if c.id == clock_id), None)
    if clock is None:
        raise NotFound(f"Incident {incident_id} has no notification {clock_id}.")
    if incident.status != IncidentStatus.OPEN:
        raise InvalidTransition("The incident is closed.")
    if acknowledged:
        if clock.sent_at is None or clock.acknowledged_at is not None:
            raise InvalidTransition(
                "Only a notification sent and not yet acknowledged can be acknowledged."
            )
        clock.acknowledged_at = now
    else:
        if clock.sent_at is not None:
            raise InvalidTransition("This notification is already recorded as sent.")
        clock.sent_at, clock.sent_by_id = now, by.id
    _record(
        session,
        event,
        incident,
        by=by,
        now=now,
        detail={
            "clock": clock.source,
            "recipient": clock.recipient,
            "due_at": clock.due_at.isoformat(),
            "late": now > clock.due_at,
        },
    )
    return clock


def close(
    session: Session,
    *,
    incident_id: int,
    root_cause: str,
    actions_taken: str,
    by: Actor,
    now: dt.datetime,
) -> Incident:
    """Closing needs a root cause, the actions taken, every notification sent, and someone
    other than the person who reported it (no one both raises and buries a case)."""
    _manager(by, AuditType.INCIDENT_CLOSE, incident_id)
    incident = get_incident(session, incident_id)
    LIFECYCLE.check(incident, IncidentAction.CLOSE)
    if by.id is not None and by.id == incident.reported_by_id:
        raise PermissionDenied(
            "Someone other than the person who reported the incident closes it.",
            audit={
                "event_type": AuditType.INCIDENT_CLOSE,
                "target_type": "incident",
                "target_id": incident_id,
            },
        )
    errors: dict[str, str] = {}
    cause = clean_text(root_cause, "root_cause", errors, max_length=20_000)
    actions = clean_text(actions_taken, "actions_taken", errors, max_length=20_000)
    unsent = [c.recipient for c in incident.clocks if c.sent_at is None]
    if unsent:
        errors["clocks"] = "Record these notifications first: " + "; ".join(unsent)
    if errors:
        raise ValidationFailed("The incident was not closed.", errors)
    was_frozen = incident.frozen
    incident.root_cause, incident.actions_taken = cause, actions
    incident.closed_at, incident.closed_by_id = now, by.id
    first, *others = _events(
        AuditType.INCIDENT_CLOSE,
        incident,
        now=now,
        detail={"root_cause": cause, "actions_taken": actions},
    )
    LIFECYCLE.apply(session, incident, IncidentAction.CLOSE, by=by, record=first)
    for fields in others:
        audit.record(session, AuditType.INCIDENT_CLOSE, by=by, **fields)
    if was_frozen:
        _record_outputs(session, AuditType.OUTPUT_RESTORE, incident, by=by, now=now)
    session.flush()
    grant_conditions.refresh(session, _grants(session, incident), by=by, now=now)
    return incident


def list_incidents(session: Session, *, by: Actor) -> list[Incident]:
    """Privacy officers see every incident; anyone else the incidents they reported."""
    query = select(Incident).order_by(Incident.id.desc())
    if not authz.can(by, Permission.INCIDENT_MANAGE):
        query = query.where(Incident.reported_by_id == by.id)
    return list(session.scalars(query))


def _tell_managers(session: Session, incident: Incident, subject: str, body: str) -> None:
    managers = [
        u
        for u in session.scalars(select(User).where(User.active.is_(True)))
        if authz.can(u, Permission.INCIDENT_MANAGE)
    ]
    notify.queue(
        session,
        to=[u.email for u in managers],
        subject=f"{grant_conditions.SUBJECT_PREFIX} {subject}",
        body=f"{body}\n\nOpen the incident: {notify.link(session, f'/incidents/{incident.id}')}",
    )


def remind_due_notifications(session: Session, actor: System, now: dt.datetime) -> int:
    """A reminder to the privacy officers a day before each unsent notification is due (and
    once when it is overdue)."""
    due = session.scalars(
        select(NotificationClock)
        .join(Incident, Incident.id == NotificationClock.incident_id)
        .where(
            Incident.status == IncidentStatus.OPEN,
            NotificationClock.sent_at.is_(None),
            NotificationClock.due_at <= now + REMIND_BEFORE,
            NotificationClock.reminded_at.is_(None),
        )
    ).all()
    for clock in due:
        clock.reminded_at = now
        incident = get_incident(session, clock.incident_id)
        _tell_managers(
            session,
            incident,
            f"Incident #{incident.id}: notification due",
            f"The notification to {clock.recipient} ({clock.rule}) is due at "
            f"{clock.due_at:%Y-%m-%d %H:%M} UTC and is not recorded as sent.",
        )
    return len(due)
