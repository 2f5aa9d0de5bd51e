"""Audit alerts open incidents: a verification of the audit trail that failed (an event
changed, removed or forged, a head that does not match) is a suspected incident in its own
right (HIPAA 164.308(a)(6), NIST SP 800-171 3.3.4 and 3.6.1), so a periodic job opens one for
each recorded failure, naming the agreement of the faulty event when the trail still says
which, and tells the privacy officers. Each alert opens one incident: the job records which
verification it followed (`incident:from_alert`, naming the verification's event).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import seals, trail_check
from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType, Outcome, of_type, with_outcome
from governance.identity import trail_check as identity_trail
from governance.identity.actors import System
from governance.incidents.service import report_alert


def _description(failure: AuditEvent) -> str:
    fault: dict[str, Any] = failure.detail.get("fault") or {}
    where = f" at event {fault['seq']}" if fault.get("seq") is not None else ""
    return (
        f"The audit trail failed verification{where} (check {failure.seq} on "
        f"{failure.occurred_at:%Y-%m-%d %H:%M} UTC): {fault.get('message', 'no detail')}"
    )


def _agreement_of(session: Session, failure: AuditEvent) -> list[int]:
    fault: dict[str, Any] = failure.detail.get("fault") or {}
    seq = fault.get("seq")
    if not isinstance(seq, int):
        return []
    faulty = session.get(AuditEvent, seq)
    return [faulty.agreement_id] if faulty is not None and faulty.agreement_id else []


@dataclass(frozen=True)
class Alert:
    """Something the service found wrong by itself, to open one incident for."""

    target_type: str
    target_id: object
    description: str
    agreement_ids: Sequence[int]
    check: str
    rule: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    user_ids: Sequence[int] = ()


def followed_targets(session: Session, target_type: str) -> set[str]:
    """The targets of this type an incident was already opened for."""
    return set(
        session.scalars(
            select(AuditEvent.target_id).where(
                of_type(AuditType.INCIDENT_FROM_ALERT), AuditEvent.target_type == target_type
            )
        )
    )


def open_alert(session: Session, alert: Alert, actor: System, now: dt.datetime) -> None:
    """One incident for the alert, and the record that it was opened (so it is opened once)."""
    incident = report_alert(
        session,
        description=alert.description,
        agreement_ids=alert.agreement_ids,
        user_ids=alert.user_ids,
        by=actor,
        now=now,
    )
    audit.record(
        session,
        AuditType.INCIDENT_FROM_ALERT,
        by=actor,
        target_type=alert.target_type,
        target_id=alert.target_id,
        rule=alert.rule,
        now=now,
        detail={"incident_id": incident.id, "check": alert.check, **alert.detail},
    )


def open_from_audit_alerts(session: Session, actor: System, now: dt.datetime) -> int:
    """Open an incident for each failed verification not yet followed; returns how many."""
    followed = followed_targets(session, "audit_event")
    failures = session.scalars(
        select(AuditEvent)
        .where(
            of_type(AuditType.AUDIT_VERIFY),
            with_outcome(Outcome.FAILURE),
        )
        .order_by(AuditEvent.seq)
    )
    opened = 0
    for failure in list(failures):
        if str(failure.seq) in followed:
            continue
        alert = Alert(
            "audit_event",
            failure.seq,
            _description(failure),
            _agreement_of(session, failure),
            check="audit:verify",
        )
        open_alert(session, alert, actor, now)
        opened += 1
    return opened


def open_from_broken_seals(session: Session, actor: System, now: dt.datetime) -> int:
    """Open an incident for each grant or training record whose seal does not hold (written
    in the database outside the service: access/seals.py), once per row, naming the
    agreements it concerns and telling the privacy officers; returns how many. A live grant
    whose seal holds but whose row the audit trail contradicts (put back to an earlier sealed
    state: access/trail_check.py) is reported the same way, under rule `grant-trail`, and so is
    a role the trail says was taken away (identity/trail_check.py, rule `role-trail`)."""
    broken: list[seals.Broken | trail_check.Contradiction | identity_trail.RestoredRole] = [
        *seals.broken_seals(session)
    ]
    failed = {(row.kind, str(row.id)) for row in broken}
    restored: list[trail_check.Contradiction | identity_trail.RestoredRole] = [
        *trail_check.live_contradictions(session, seals.GRANT_KIND),
        *identity_trail.restored_roles(session),
    ]
    # One incident per row: a row whose seal fails gets its seal's.
    broken += [row for row in restored if (row.kind, str(row.id)) not in failed]
    followed = {kind: followed_targets(session, kind) for kind in {b.kind for b in broken}}
    opened = 0
    for row in broken:
        if str(row.id) in followed[row.kind]:
            continue
        alert = Alert(
            row.kind,
            row.id,
            row.describe(),
            row.agreement_ids,
            check=row.rule,
            rule=row.rule,
            detail={"user_id": row.user_id},
        )
        open_alert(session, alert, actor, now)
        opened += 1
    return opened
