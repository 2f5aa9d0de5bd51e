"""Who holds which role in which organisation, and the second administrator that powerful
roles need.

Nobody changes their own roles. Removing a role, or granting one without approval or audit
powers (`authz.carries_powers`), applies at once. Granting a role that carries such powers (to
approve, check, preview, oversee or audit other people's work: privacy officer, compliance
manager, data steward, output checker, partner reviewer, administrator, as the policy file
stands) opens a pending
request that a second administrator, neither the one who asked nor the person concerned,
approves or rejects. Every change is a `RoleChange` row, shown to compliance managers, and an
audit event; a change of someone's roles or organisation, applied at once or approved, ends their
sessions (`end_sessions`), in the change's transaction, and its event says how many.

A person's organisation is part of what their roles mean: a partner reviewer previews the
outputs of their own agency's data, an administrator handles their own organisation's role
requests, partners write to the research organisations' privacy officers. So moving someone
who holds, is given or awaits a role with powers to another organisation is a request of kind
`move` through the same lifecycle, and nobody moves
themselves (`no-self-organization-change`). Moving someone without such a role (an analyst, a
newcomer with no role yet) applies at once: one administrator could as well open them a new
account in that organisation. Either way their sessions end once the move applies.

The host operator (`governance create-user`, the demo, test set-up: a `System` actor) grants
directly: whoever runs commands on the host holds the database and the keys, so a second
administrator in the application could not stop them, and the first administrator has to come
from somewhere. Those grants are recorded as the operator's, like every other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from governance import authz
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission, Role, rules
from governance.identity import seals, sessions
from governance.identity.actors import Actor, System
from governance.identity.group_mapping_model import ExternalRole
from governance.identity.models import User, UserRole
from governance.identity.organization_model import Organization
from governance.identity.role_change_model import RoleChange, RoleChangeKind, RoleChangeStatus
from governance.identity.session_model import SessionEndReason
from governance.kernel.errors import Conflict, InvalidTransition, NotFound
from governance.kernel.tasks import Task
from governance.lifecycle import Lifecycle, Transition, already


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    WITHDRAW = "withdraw"
    CANCEL = "cancel"


_R = RoleChangeStatus
_SECOND = "second-administrator, no-self-role-change"
# A role that carries approval or audit powers is granted by two administrators.
LIFECYCLE: Lifecycle[RoleChangeStatus, Action] = Lifecycle(
    "role change",
    RoleChange,
    RoleChangeStatus,
    Action,
    [
        Transition(
            _R.PENDING,
            Action.APPROVE,
            _R.APPLIED,
            Permission.ROLE_APPROVE,
            AuditType.ROLE_APPROVE,
            "the account is active",
            _SECOND,
        ),
        Transition(
            _R.PENDING, Action.REJECT, _R.REJECTED, Permission.ROLE_APPROVE, AuditType.ROLE_REJECT
        ),
        Transition(
            _R.PENDING,
            Action.WITHDRAW,
            _R.CANCELLED,
            Permission.ROLE_APPROVE,
            AuditType.ROLE_REJECT,
            "the administrator who asked withdraws it",
        ),
        Transition(
            _R.PENDING,
            Action.CANCEL,
            _R.CANCELLED,
            None,
            None,
            "the account was deactivated (its event records it)",
        ),
    ],
    initial=[_R.PENDING, _R.APPLIED],
    refusal=already("request"),
)


@dataclass
class RoleOutcome:
    """What a change of roles did: changes applied now, and grants waiting for approval."""

    applied: list[RoleChange] = field(default_factory=list)
    requested: list[RoleChange] = field(default_factory=list)


def needs_second_approval(role: Role, by: Actor) -> bool:
    return not isinstance(by, System) and authz.carries_powers(role)


def fits(roles: Iterable[Role], organization: Organization) -> bool:
    """Partner reviewers speak for the agency that provided the data, never for the
    researchers."""
    # By a kind whose seal holds (identity/seals.py): not a research organisation made an
    # agency by SQL.
    return Role.PARTNER_REVIEWER not in set(roles) or seals.is_provider(organization)


def change_organization(
    session: Session,
    *,
    user: User,
    organization: Organization,
    wanted: Iterable[Role],
    by: Actor,
    now: dt.datetime,
) -> RoleChange | None:
    """Move `user` to `organization`: at once, or, when a role they hold, are given (`wanted`)
    or await has powers that follow the organisation, as a request a second administrator
    approves. None when they are there already. The caller (users.py) has checked
    `user:manage`, records the applied change and ends the person's sessions
    (`end_sessions`), as an approved move does; this records a request."""
    if organization.id == user.organization_id:
        return None
    detail: dict[str, object] = {
        "email": user.email,
        "from": user.organization.name,
        "to": organization.name,
    }
    rules.require(
        rules.not_own_organization,
        by,
        user.id,
        message="Nobody moves themselves to another organisation: ask another administrator.",
        audit={
            "event_type": AuditType.USER_UPDATE,
            "target_type": "user",
            "target_id": user.id,
            "detail": detail,
        },
    )
    roles = set(user.role_set) | set(wanted) | pending_roles(session, user.id)
    if not any(needs_second_approval(role, by) for role in roles):
        user.organization_id = organization.id
        user.organization = organization
        applied = _row(user, None, RoleChangeKind.MOVE, by, now, applied=True, to=organization)
        session.add(applied)
        return applied
    waiting = pending_move(session, user.id)
    if waiting is not None and waiting.organization_id == organization.id:
        return waiting
    if waiting is not None:
        raise Conflict(
            f"A move of {user.email} to {_name(waiting.organization)} already waits "
            "for a second administrator: have it approved, rejected or withdrawn first.",
            audit={
                "event_type": AuditType.ROLE_REQUEST,
                "target_type": "user",
                "target_id": user.id,
                "rule": "one-move-at-a-time",
                "detail": detail | {"request": waiting.id},
            },
        )
    change = _row(user, None, RoleChangeKind.MOVE, by, now, applied=False, to=organization)
    session.add(change)
    session.flush()
    _record_request(session, change, by=by, now=now, detail=detail)
    return change


def change_roles(
    session: Session,
    *,
    user: User,
    wanted: Iterable[Role],
    by: Actor,
    now: dt.datetime,
) -> RoleOutcome:
    """Bring `user`'s roles to `wanted`: removals and ordinary grants now, powerful grants as
    pending requests. The caller (users.py) has checked `user:manage`, records the applied
    change and ends the person's sessions if anything applied (`end_sessions`); this records
    each request."""
    if set(wanted) != set(user.role_set):
        rules.require(
            rules.not_oneself,
            by,
            user.id,
            message="Nobody changes their own roles: ask another administrator.",
            audit={
                "event_type": AuditType.USER_ROLES_CHANGE,
                "target_type": "user",
                "target_id": user.id,
                "detail": {"wanted": sorted(r.value for r in wanted)},
            },
        )
    wanted_set = set(wanted)
    current = set(user.role_set)
    outcome = RoleOutcome()
    held = {Role(ur.role): ur for ur in user.roles}
    for role in sorted(current - wanted_set):
        user.roles.remove(held[role])
        # Removed by hand: no group mapping holds it any more (identity/groups.py).
        session.execute(
            delete(ExternalRole).where(ExternalRole.user_id == user.id, ExternalRole.role == role)
        )
        outcome.applied.append(_row(user, role, RoleChangeKind.REMOVE, by, now, applied=True))
    waiting = pending_roles(session, user.id)
    for role in sorted(wanted_set - current):
        if needs_second_approval(role, by):
            if role not in waiting:
                outcome.requested.append(
                    _row(user, role, RoleChangeKind.GRANT, by, now, applied=False)
                )
            continue
        user.roles.append(UserRole(role=role))
        outcome.applied.append(
            _row(
                user,
                role,
                RoleChangeKind.GRANT,
                by,
                now,
                applied=True,
                note="granted by the host operator"
                if isinstance(by, System) and authz.carries_powers(role)
                else None,
            )
        )
    session.add_all([*outcome.applied, *outcome.requested])
    session.flush()
    for change in outcome.requested:
        _record_request(
            session, change, by=by, now=now, detail={"email": user.email, "role": change.role}
        )
    return outcome


def end_sessions(
    session: Session, user_id: int, *, now: dt.datetime, keep: int | None = None
) -> int:
    """End a person's sessions (but `keep`, the one being signed in with) after a change of
    their roles or organisation was applied: what they may do and see is read from both at
    each request, and no page opened under the old ones goes on. Returns how many ended, for
    the change's event."""
    return sessions.end_sessions_of(
        session, user_id=user_id, now=now, reason=SessionEndReason.ROLES_CHANGED, keep=keep
    )


def approve(session: Session, *, change_id: int, by: Actor, now: dt.datetime) -> RoleChange:
    """A second administrator grants the requested role."""
    change = _get(session, change_id)
    refusal = {
        "event_type": AuditType.ROLE_APPROVE,
        "target_type": "role_change",
        "target_id": change.id,
    }
    authz.require(by, Permission.ROLE_APPROVE, audit=refusal)
    rules.require(
        rules.not_the_role_requester,
        by,
        change,
        message="A second administrator must approve this: you asked for it.",
        audit=refusal,
    )
    rules.require(
        rules.not_oneself,
        by,
        change.user_id,
        message="Nobody approves a role for themselves.",
        audit=refusal,
    )
    _check_pending(change)
    user = change.user
    if not user.active:
        raise InvalidTransition(
            f"{user.email} is deactivated; reject the request or reactivate the account first.",
            allowed=["reject"],
        )
    roles = set(user.role_set) | ({Role(change.role)} if change.role else set())
    organization = change.organization or user.organization
    if not fits(roles, organization):
        # The person's roles or the request changed since it was asked: a partner reviewer
        # outside a provider agency would speak for nobody.
        raise InvalidTransition(
            f"A partner reviewer must belong to a data-provider agency, and {user.email} would "
            f"be a partner reviewer in {organization.name}; reject the request, or approve "
            "their move to the agency first.",
            allowed=["reject"],
        )
    before = user.organization.name
    if change.kind == RoleChangeKind.MOVE:
        user.organization_id = organization.id
        user.organization = organization
    elif change.role is not None and change.role not in user.role_set:
        user.roles.append(UserRole(role=Role(change.role)))
    _mark_decided(change, by, now, note=None)
    session.flush()
    ended = end_sessions(session, user.id, now=now)
    LIFECYCLE.apply(
        session,
        change,
        Action.APPROVE,
        by=by,
        record={
            "target_type": "user",
            "target_id": user.id,
            "now": now,
            "detail": {
                "email": user.email,
                "role": change.role,
                "request": change.id,
                "requested_by": change.requested_by,
                "sessions_ended": ended,
            }
            | (
                {"from": before, "to": organization.name}
                if change.kind == RoleChangeKind.MOVE
                else {}
            ),
        },
    )
    return change


def reject(
    session: Session, *, change_id: int, by: Actor, now: dt.datetime, note: str = ""
) -> RoleChange:
    """Refuse the requested role (the administrator who asked for it withdraws it)."""
    change = _get(session, change_id)
    authz.require(
        by,
        Permission.ROLE_APPROVE,
        audit={
            "event_type": AuditType.ROLE_REJECT,
            "target_type": "role_change",
            "target_id": change.id,
        },
    )
    _check_pending(change)
    withdrawn = by.id is not None and by.id == change.requested_by_id
    action = Action.WITHDRAW if withdrawn else Action.REJECT
    status = LIFECYCLE.steps(RoleChangeStatus.PENDING, action)[0].target
    _mark_decided(change, by, now, note=" ".join(note.split())[:500] or None)
    LIFECYCLE.apply(
        session,
        change,
        action,
        by=by,
        record={
            "target_type": "user",
            "target_id": change.user_id,
            "now": now,
            "detail": {
                "email": change.user.email,
                "role": change.role,
                "organization": _name(change.organization) if change.organization_id else None,
                "request": change.id,
                "requested_by": change.requested_by,
                "status": status.value,
                "note": change.note,
            },
        },
    )
    return change


def cancel_pending_of(
    session: Session, *, user_id: int, by: Actor, now: dt.datetime, reason: str
) -> int:
    """Close a person's pending requests (their account was deactivated)."""
    waiting = session.scalars(
        select(RoleChange).where(
            RoleChange.user_id == user_id, RoleChange.status == RoleChangeStatus.PENDING
        )
    ).all()
    for change in waiting:
        _mark_decided(change, by, now, note=reason)
        LIFECYCLE.apply(session, change, Action.CANCEL, by=by)
    return len(waiting)


def pending_roles(session: Session, user_id: int) -> set[Role]:
    return {
        Role(role)
        for role in session.scalars(
            select(RoleChange.role).where(
                RoleChange.user_id == user_id,
                RoleChange.status == RoleChangeStatus.PENDING,
                RoleChange.kind == RoleChangeKind.GRANT,
            )
        )
        if role is not None
    }


def pending_labels(session: Session, user_id: int) -> list[str]:
    """What waits for a second administrator for this person (their page lists it)."""
    move = pending_move(session, user_id)
    return [r.label for r in sorted(pending_roles(session, user_id))] + (
        [move.role_label] if move is not None else []
    )


def pending_move(session: Session, user_id: int) -> RoleChange | None:
    """The move of this person waiting for a second administrator, if any (one at a time)."""
    return session.scalars(
        select(RoleChange).where(
            RoleChange.user_id == user_id,
            RoleChange.status == RoleChangeStatus.PENDING,
            RoleChange.kind == RoleChangeKind.MOVE,
        )
    ).first()


def require_oversight(by: Actor) -> None:
    if not authz.can(by, Permission.ROLE_APPROVE):
        authz.require(by, Permission.ROLE_OVERSEE)


def pending_changes(session: Session, *, by: Actor) -> list[RoleChange]:
    require_oversight(by)
    return list(
        session.scalars(
            select(RoleChange)
            .where(RoleChange.status == RoleChangeStatus.PENDING)
            .order_by(RoleChange.requested_at, RoleChange.id)
        )
    )


def history_query(*, by: Actor) -> Select[RoleChange]:
    """Every decided change, for the oversight page to page through (newest first)."""
    require_oversight(by)
    return select(RoleChange).where(RoleChange.status != RoleChangeStatus.PENDING)


def can_decide(by: Actor, change: RoleChange) -> bool:
    """Whether `by` may approve this request (the page shows the buttons only then)."""
    return (
        change.status == RoleChangeStatus.PENDING
        and authz.can(by, Permission.ROLE_APPROVE)
        and by.id not in {change.requested_by_id, change.user_id}
    )


def _row(
    user: User,
    role: Role | None,
    kind: RoleChangeKind,
    by: Actor,
    now: dt.datetime,
    *,
    applied: bool,
    note: str | None = None,
    to: Organization | None = None,
) -> RoleChange:
    return RoleChange(
        user=user,
        role=role,
        organization=to,
        kind=kind,
        status=RoleChangeStatus.APPLIED if applied else RoleChangeStatus.PENDING,
        requested_by_id=by.id,
        requested_by=by.email,
        requested_at=now,
        decided_by_id=by.id if applied else None,
        decided_by=by.email if applied else None,
        decided_at=now if applied else None,
        note=note,
    )


def _record_request(
    session: Session,
    change: RoleChange,
    *,
    by: Actor,
    now: dt.datetime,
    detail: dict[str, object],
) -> None:
    """A request that waits, recorded under the rule that holds it back."""
    audit.record(
        session,
        AuditType.ROLE_REQUEST,
        by=by,
        target_type="user",
        target_id=change.user_id,
        now=now,
        rule="second-administrator",
        detail=detail | {"request": change.id},
    )


def _name(organization: Organization | None) -> str:
    return organization.name if organization is not None else "another organisation"


def _mark_decided(change: RoleChange, by: Actor, now: dt.datetime, *, note: str | None) -> None:
    change.decided_by_id = by.id
    change.decided_by = by.email
    change.decided_at = now
    change.note = note


def _get(session: Session, change_id: int) -> RoleChange:
    change = session.get(RoleChange, change_id)
    if change is None:
        raise NotFound(f"There is no role change {change_id}.")
    return change


def _check_pending(change: RoleChange) -> None:
    LIFECYCLE.check(change, Action.APPROVE)


def requests_to_approve(session: Session, user: User) -> list[Task]:
    waiting = session.scalar(
        select(func.count())
        .select_from(RoleChange)
        .where(
            RoleChange.status == RoleChangeStatus.PENDING,
            RoleChange.requested_by_id.is_distinct_from(user.id),
            RoleChange.user_id != user.id,
        )
    )
    if not waiting:
        return []
    return [
        Task(
            title=f"{waiting} role request(s) waiting for a second administrator",
            kind="role_request",
            endpoint="admin.role_changes_page",
        )
    ]
