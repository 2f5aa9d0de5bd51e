"""Steps every agreement transition shares: who the actor is, the permission and state
checks in the order the conventions require, comments, and the one function through which
agreement changes reach the audit trail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.interfaces import ORMOption

from governance import authz
from governance.agreements.lifecycle import (
    EVENT_TYPES,
    LIFECYCLE,
    RULES,
    Action,
    allowed_actions,
    state_of,
    target_of,
)
from governance.agreements.models import Agreement, AgreementVersion
from governance.agreements.parts_model import AgreementComment, CommentKind
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.identity.actors import Actor, System
from governance.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from governance.kernel.text import clean_text


def actor_key(by: Actor) -> str:
    return f"user:{by.id}" if by.id is not None else by.email


def get_agreement(
    session: Session, agreement_id: int, *, options: Sequence[ORMOption] = ()
) -> Agreement:
    agreement = session.get(Agreement, agreement_id, options=options)
    if agreement is None:
        raise NotFound(f"There is no agreement {agreement_id}.")
    return agreement


def _event_fields(
    agreement: Agreement, version: AgreementVersion | None, detail: dict[str, Any]
) -> dict[str, Any]:
    return {
        "agreement_id": agreement.id,
        "agreement_version": version.number if version else None,
        "target_type": "agreement",
        "target_id": agreement.id,
        "detail": {"reference": agreement.reference, **detail},
    }


def record_agreement_event(
    session: Session,
    event_type: AuditType,
    *,
    by: Actor,
    agreement: Agreement,
    version: AgreementVersion | None,
    detail: dict[str, Any],
) -> None:
    """An agreement event that changes no state (created, a PDF made)."""
    audit.record(session, event_type, by=by, **_event_fields(agreement, version, detail))


def move_agreement(
    session: Session,
    agreement: Agreement,
    action: Action,
    *,
    by: Actor,
    version: AgreementVersion | None,
    detail: dict[str, Any],
) -> None:
    """Take a lifecycle action on the agreement, written with its audit event."""
    LIFECYCLE.apply(
        session, agreement, action, by=by, record=_event_fields(agreement, version, detail)
    )


def authorise(
    by: Actor, action: Action, agreement_id: int | None, version: int | None = None
) -> None:
    """403 (recorded as a denied event of the action's type) unless `by` may take it."""
    rule = RULES[action]
    refusal = {
        "event_type": EVENT_TYPES[action],
        "target_type": "agreement",
        "target_id": agreement_id,
        "agreement_id": agreement_id,
        "agreement_version": version,
    }
    if rule.permission is None:
        # Activation and expiry follow the calendar: only the scheduler (a System actor).
        if not isinstance(by, System):
            raise PermissionDenied(
                "Only the scheduler activates and expires agreements.",
                audit={**refusal, "rule": f"scheduler-only:{action.value}"},
            )
        return
    authz.require(by, rule.permission, audit=refusal)


def check_transition(
    session: Session, action: Action, agreement_id: int, by: Actor, *, fresh: bool = False
) -> Agreement:
    """Permission first (403), then existence (404), then the lifecycle table (409); changes
    nothing. An endpoint whose form could be refused calls it before reading the form, so a
    state that forbids the action is named first, whatever was sent."""
    agreement = session.get(Agreement, agreement_id, populate_existing=fresh)
    shown = (
        (agreement.working_version_number or agreement.current_version_number)
        if agreement
        else None
    )
    authorise(by, action, agreement_id, shown)
    if agreement is None:
        raise NotFound(f"There is no agreement {agreement_id}.")
    target_of(agreement, action)
    return agreement


def start_transition(session: Session, action: Action, agreement_id: int, by: Actor) -> Agreement:
    """`check_transition` under the audit writer's lock, on the agreement as stored now."""
    audit.take_writer_lock(session)
    return check_transition(session, action, agreement_id, by, fresh=True)


def working_version_of(agreement: Agreement) -> AgreementVersion:
    version = agreement.working_version
    if version is None:  # the lifecycle table guarantees one in the states that reach here
        raise NotFound(f"Agreement {agreement.reference} has no version being drafted.")
    return version


def current_version_of(agreement: Agreement) -> AgreementVersion:
    version = agreement.current_version
    if version is None:
        raise NotFound(f"Agreement {agreement.reference} has no approved version.")
    return version


def add_contributor(version: AgreementVersion, by: Actor) -> None:
    if actor_key(by) not in version.contributors:
        version.contributors = [*version.contributors, actor_key(by)]


def add_comment(
    version: AgreementVersion, kind: CommentKind, body: str, by: Actor, now: dt.datetime
) -> None:
    version.comments.append(
        AgreementComment(
            kind=kind, body=body, author_id=by.id, author_label=by.email, created_at=now
        )
    )


def required_text(raw: str, field: str, what: str) -> str:
    errors: dict[str, str] = {}
    value = clean_text(raw, field, errors, max_length=5000)
    if errors:
        raise ValidationFailed(f"{what}; nothing was saved.", errors)
    return value


def available_actions(agreement: Agreement, by: Actor) -> set[Action]:
    """The actions `by` could take now: allowed by the state, held by their roles, and (for
    approval) not barred by separation of duties. Pages show a button only for these."""
    actions = set()
    for action in allowed_actions(state_of(agreement)):
        permission = RULES[action].permission
        if permission is None or not authz.can(by, permission):
            continue
        working = agreement.working_version
        if (
            action == Action.APPROVE
            and working is not None
            and actor_key(by) in working.contributors
        ):
            continue
        actions.add(action)
    return actions
