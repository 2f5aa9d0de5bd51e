"""The end of an agreement: termination by a privacy officer, expiry on schedule, the
certified destruction of the data, and the close that follows once the close-out holds. Each
notifies the listeners of `agreement_events` inside the transaction (the access layer revokes
grants there, the destruction hook destroys the data)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from governance.agreements.common import (
    add_comment,
    authorise,
    check_transition,
    current_version_of,
    move_agreement,
    required_text,
    start_transition,
)
from governance.agreements.events import AgreementEvent, notify
from governance.agreements.lifecycle import VERSION_LIFECYCLE, Action, VersionAction, target_of
from governance.agreements.models import (
    Agreement,
    AgreementVersion,
)
from governance.agreements.parts_model import CommentKind
from governance.identity.actors import Actor
from governance.kernel.errors import InvalidTransition


def _pending(agreement: Agreement) -> AgreementVersion | None:
    working = agreement.working_version
    return None if working is None or agreement.current_version is None else working


def _discard(
    session: Session, pending: AgreementVersion | None, agreement: Agreement, by: Actor
) -> None:
    """An amendment left pending when the agreement ends is discarded with it."""
    if pending is not None:
        VERSION_LIFECYCLE.apply(session, pending, VersionAction.DISCARD, by=by)
        agreement.working_version_number = None


def terminate(
    session: Session, *, agreement_id: int, reason: str, by: Actor, now: dt.datetime
) -> Agreement:
    """End an approved or active agreement early, with the reason."""
    agreement = start_transition(session, Action.TERMINATE, agreement_id, by)
    body = required_text(reason, "reason", "Give the reason for terminating")
    version = current_version_of(agreement)
    pending = _pending(agreement)
    move_agreement(
        session,
        agreement,
        Action.TERMINATE,
        by=by,
        version=version,
        detail={"reason": body, "discarded_amendment": pending.number if pending else None},
    )
    _discard(session, pending, agreement, by)
    agreement.ended_at = now
    agreement.termination_reason = body
    agreement.terminated_by_id = by.id
    add_comment(version, CommentKind.TERMINATION, body, by, now)
    notify(
        session,
        agreement=agreement,
        event=AgreementEvent.TERMINATED,
        previous_version=version,
        new_version=None,
        by=by,
        now=now,
    )
    return agreement


def expiry_moment(version: AgreementVersion) -> dt.datetime:
    """The expiry date is the last day in force: the agreement ends as that day ends (UTC)."""
    return dt.datetime.combine(version.expiry_date + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def expire(session: Session, *, agreement: Agreement, by: Actor, now: dt.datetime) -> None:
    authorise(by, Action.EXPIRE, agreement.id, agreement.current_version_number)
    target_of(agreement, Action.EXPIRE)
    version = current_version_of(agreement)
    pending = _pending(agreement)
    move_agreement(
        session,
        agreement,
        Action.EXPIRE,
        by=by,
        version=version,
        detail={
            "expiry_date": version.expiry_date.isoformat(),
            "as_of": now.isoformat(),
            "discarded_amendment": pending.number if pending else None,
        },
    )
    _discard(session, pending, agreement, by)
    agreement.ended_at = expiry_moment(version)
    notify(
        session,
        agreement=agreement,
        event=AgreementEvent.EXPIRED,
        previous_version=version,
        new_version=None,
        by=by,
        now=now,
    )


def _not_certified_yet(agreement: Agreement) -> None:
    """409 once the destruction is certified: the agreement stays ended until `close`."""
    if agreement.destruction_certified_at is not None:
        raise InvalidTransition(
            f"The destruction of agreement {agreement.reference}'s data was already certified "
            f"on {agreement.destruction_certified_at:%Y-%m-%d}.",
            allowed=[Action.CLOSE.value],
        )


def check_certify_destruction(session: Session, agreement_id: int, by: Actor) -> None:
    """`check_transition` for certifying the destruction, and not twice; changes nothing."""
    _not_certified_yet(check_transition(session, Action.CERTIFY_DESTRUCTION, agreement_id, by))


def certify_destruction(
    session: Session, *, agreement_id: int, statement: str, by: Actor, now: dt.datetime
) -> Agreement:
    """Record that the recipient destroyed the data; the listeners destroy the stored data and
    attachments and issue the certificate. The agreement closes later, by `close`."""
    agreement = start_transition(session, Action.CERTIFY_DESTRUCTION, agreement_id, by)
    _not_certified_yet(agreement)
    body = required_text(statement, "statement", "Say what was destroyed, how and on which date")
    version = current_version_of(agreement)
    due = agreement.destruction_due()
    move_agreement(
        session,
        agreement,
        Action.CERTIFY_DESTRUCTION,
        by=by,
        version=version,
        detail={
            "statement": body,
            "destruction_due": due.isoformat() if due else None,
            "late": bool(due and now.astimezone(dt.UTC).date() > due),
        },
    )
    agreement.destruction_certified_at = now
    agreement.destruction_certified_by_id = by.id
    agreement.destruction_certified_by_label = by.email
    agreement.destruction_statement = body
    add_comment(version, CommentKind.DESTRUCTION, body, by, now)
    notify(
        session,
        agreement=agreement,
        event=AgreementEvent.DESTROYED,
        previous_version=version,
        new_version=None,
        by=by,
        now=now,
    )
    return agreement


def close(
    session: Session,
    *,
    agreement_id: int,
    unmet: Callable[[Agreement], list[str]],
    checked: Sequence[str],
    by: Actor,
    now: dt.datetime,
) -> Agreement:
    """Close an ended agreement once its close-out holds: permission (403), state (409), then
    `unmet` (the close-out items that do not hold, computed from the live records by the
    caller, which sees grants and outputs) must be empty, else 409 naming them."""
    agreement = start_transition(session, Action.CLOSE, agreement_id, by)
    missing = unmet(agreement)
    if missing:
        raise InvalidTransition(
            f"Agreement {agreement.reference} cannot close yet: " + "; ".join(missing) + ".",
        )
    version = current_version_of(agreement)
    move_agreement(
        session,
        agreement,
        Action.CLOSE,
        by=by,
        version=version,
        detail={"checklist": list(checked)},
    )
    notify(
        session,
        agreement=agreement,
        event=AgreementEvent.CLOSED,
        previous_version=version,
        new_version=None,
        by=by,
        now=now,
    )
    return agreement
