"""The story of one access request, read back from the audit trail: who asked for what, who
reviewed and approved what (and what they left out), who gave the second approval of direct
identifiers, and the grant that followed, each with its date. The audit trail is the record,
so the page cannot say more (or less) than what was recorded."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from governance.access.models import AccessRequest
from governance.audit.models import AuditEvent, AuditType, of_type
from governance.identity.models import User

_STEPS = (
    AuditType.ACCESS_REQUEST_SUBMIT,
    AuditType.ACCESS_REQUEST_APPROVE,
    AuditType.ACCESS_REQUEST_APPROVE_IDENTIFIERS,
    AuditType.ACCESS_REQUEST_DENY,
    AuditType.ACCESS_REQUEST_RETURN,
    AuditType.ACCESS_REQUEST_WITHDRAW,
    AuditType.GRANT_CREATE,
)


@dataclass(frozen=True)
class Step:
    when: dt.datetime
    who: str
    what: str
    comment: str = ""


def _columns(names: Any) -> str:
    return ", ".join(str(n) for n in names or []) or "none"


def _sentence(event: AuditEvent, request: AccessRequest, resubmitted: bool) -> tuple[str, str]:
    """What the step did, and the comment that goes with it (from the request's record)."""
    detail = event.detail or {}
    kind = AuditType(event.event_type)
    if kind == AuditType.ACCESS_REQUEST_SUBMIT:
        verb = "Asked again, changed" if resubmitted else "Asked"
        return f"{verb}: {_columns(detail.get('columns'))} until {detail.get('end_date')}", ""
    if kind == AuditType.ACCESS_REQUEST_APPROVE:
        text = f"Reviewed by the steward: approved {_columns(detail.get('approved'))}"
        if detail.get("left_out"):
            text += f"; left out {_columns(detail.get('left_out'))}"
        if detail.get("direct_identifiers"):
            text += (
                f". Direct identifiers ({_columns(detail.get('direct_identifiers'))}) wait for "
                "a privacy officer's second approval: nothing is granted yet"
            )
        return text, request.steward_comment
    if kind == AuditType.ACCESS_REQUEST_APPROVE_IDENTIFIERS:
        return (
            f"Second approval of direct identifiers: {_columns(detail.get('columns'))}",
            request.privacy_comment,
        )
    if kind == AuditType.ACCESS_REQUEST_DENY:
        return "Denied", str(detail.get("reason", ""))
    if kind == AuditType.ACCESS_REQUEST_RETURN:
        return "Returned for changes", str(detail.get("comment", ""))
    if kind == AuditType.ACCESS_REQUEST_WITHDRAW:
        return "Withdrawn by the requester", ""
    granted = detail.get("columns")
    if isinstance(granted, dict):
        granted = sorted(granted)
    return f"Granted: {_columns(granted)} (grant #{event.target_id})", ""


def request_timeline(session: Session, request: AccessRequest) -> list[Step]:
    """Every recorded step of the request, oldest first, with the person who took it."""
    grant_target = (
        and_(AuditEvent.target_type == "grant", AuditEvent.target_id == str(request.grant_id))
        if request.grant_id is not None
        else None
    )
    own = and_(AuditEvent.target_type == "access_request", AuditEvent.target_id == str(request.id))
    events = list(
        session.scalars(
            select(AuditEvent)
            .where(
                or_(own, grant_target) if grant_target is not None else own,
                of_type(*_STEPS),
                AuditEvent.outcome == "success",
            )
            .order_by(AuditEvent.seq)
        )
    )
    people = {
        row.id: row.name
        for row in session.execute(
            select(User.id, User.name).where(User.id.in_({e.actor_id for e in events}))
        )
    }
    steps = []
    asked = False
    for event in events:
        what, comment = _sentence(event, request, resubmitted=asked)
        asked = asked or event.event_type == AuditType.ACCESS_REQUEST_SUBMIT
        who = people.get(event.actor_id or 0) or event.actor_email or "the service"
        steps.append(Step(event.occurred_at, who, what, comment))
    return steps
