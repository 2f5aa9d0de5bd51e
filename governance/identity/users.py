"""Accounts, roles, organisations and training records: each write with its audit event."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Protocol

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from governance import authz
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission, Role, rules
from governance.identity import account_links, role_changes, sessions, tokens
from governance.identity.actors import Actor
from governance.identity.models import TrainingCourse, TrainingRecord, User, UserRole
from governance.identity.organization_model import Organization, OrganizationKind
from governance.identity.passwords import hash_password
from governance.identity.role_change_model import RoleChangeStatus
from governance.identity.session_model import SessionEndReason
from governance.identity.token_model import ApiToken
from governance.kernel.errors import Conflict, NotFound, ValidationFailed
from governance.kernel.types import utcnow


def normalise_email(raw: str) -> str:
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed(
            f"{raw!r} is not a valid e-mail address.", {"email": str(exc)}
        ) from exc


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"There is no user {user_id}.")
    return user


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.scalars(
        select(User).where(func.lower(User.email) == email.strip().lower())
    ).one_or_none()


def organizations(session: Session, *, kind: OrganizationKind | None = None) -> list[Organization]:
    """Organisations by name, of one kind if given (forms' choices and the admin page)."""
    query = select(Organization).order_by(Organization.name)
    if kind is not None:
        query = query.where(Organization.kind == kind)
    return list(session.scalars(query))


def privacy_officers(session: Session) -> list[User]:
    """Active privacy officers of the research organisations: whom an outside partner writes
    to."""
    return list(
        session.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .join(Organization, Organization.id == User.organization_id)
            .where(
                UserRole.role == Role.PRIVACY_OFFICER,
                User.active.is_(True),
                Organization.kind == OrganizationKind.RESEARCH,
            )
            .order_by(User.name)
        )
    )


def role_administrators(session: Session, *, organization_id: int) -> list[User]:
    """Whom a person without a role asks for one: the active administrators of their own
    organisation, or, when it has none, every active administrator."""
    query = (
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.ADMIN, User.active.is_(True))
        .order_by(User.name)
    )
    own = list(session.scalars(query.where(User.organization_id == organization_id)))
    return own or list(session.scalars(query))


def users_query() -> Select[tuple[User]]:
    """Every account, for the people page to page through."""
    return select(User)


def create_organization(
    session: Session, *, name: str, kind: OrganizationKind, by: Actor
) -> Organization:
    authz.require(
        by,
        Permission.ORGANIZATION_MANAGE,
        audit={"event_type": AuditType.ORGANIZATION_CREATE, "target_type": "organization"},
    )
    name = _clean_name(name, "name")
    if session.scalars(select(Organization).where(Organization.name == name)).first():
        raise Conflict(f"An organisation named {name!r} already exists.")
    org = Organization(name=name, kind=OrganizationKind(kind))
    session.add(org)
    session.flush()
    audit.record(
        session,
        AuditType.ORGANIZATION_CREATE,
        by=by,
        target_type="organization",
        target_id=org.id,
        detail={"name": name, "kind": str(kind)},
    )
    return org


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    organization_id: int,
    roles: Iterable[str],
    password: str,
    password_min_length: int,
    by: Actor,
) -> User:
    """A new account. Roles with approval or audit powers wait for a second administrator
    (role_changes.py) unless the host operator creates the account."""
    authz.require(
        by,
        Permission.USER_MANAGE,
        audit={"event_type": AuditType.USER_CREATE, "target_type": "user"},
    )
    email = normalise_email(email)
    if find_user_by_email(session, email) is not None:
        raise Conflict(f"An account for {email} already exists.")
    role_set = _parse_roles(roles)
    org = _organization_for(session, organization_id, role_set)
    user = User(
        email=email,
        name=_clean_name(name, "name"),
        organization_id=org.id,
        password_hash=hash_password(password, min_length=password_min_length),
    )
    user.roles = []
    session.add(user)
    session.flush()
    now = utcnow()
    outcome = role_changes.change_roles(session, user=user, wanted=role_set, by=by, now=now)
    audit.record(
        session,
        AuditType.USER_CREATE,
        by=by,
        target_type="user",
        target_id=user.id,
        now=now,
        detail={
            "email": email,
            "organization": org.name,
            "roles": sorted(r.value for r in user.role_set),
            "requested_roles": sorted(c.role for c in outcome.requested),
        },
    )
    return user


def update_user(
    session: Session,
    *,
    user_id: int,
    name: str,
    organization_id: int,
    roles: Iterable[str],
    by: Actor,
) -> role_changes.RoleOutcome:
    """Name, organisation and roles; returns what happened to the roles and the organisation
    (a powerful role, or a move of someone whose powers follow their organisation, may wait
    for a second administrator: role_changes.py)."""
    authz.require(
        by,
        Permission.USER_MANAGE,
        audit={"event_type": AuditType.USER_UPDATE, "target_type": "user", "target_id": user_id},
    )
    user = get_user(session, user_id)
    role_set = _parse_roles(roles)
    org = _organization_for(session, organization_id, role_set)
    before = {
        "name": user.name,
        "organization": user.organization.name,
        "roles": sorted(r.value for r in user.role_set),
    }
    now = utcnow()
    move = role_changes.change_organization(
        session, user=user, organization=org, wanted=role_set, by=by, now=now
    )
    outcome = role_changes.change_roles(session, user=user, wanted=role_set, by=by, now=now)
    if move is not None:
        (outcome.applied if move.status == RoleChangeStatus.APPLIED else outcome.requested).append(
            move
        )
    if not role_changes.fits(user.role_set, user.organization):
        # The move waits but the partner reviewer's role would apply now, outside an agency.
        raise ValidationFailed(
            f"{user.email}'s move to {org.name} waits for a second administrator: give the "
            "partner reviewer's role once it is approved.",
            {"roles": "Not before the move to the agency is approved."},
        )
    user.name = _clean_name(name, "name")
    session.flush()
    after = {
        "name": user.name,
        "organization": user.organization.name,
        "roles": sorted(r.value for r in user.role_set),
    }
    event = (
        AuditType.USER_ROLES_CHANGE if before["roles"] != after["roles"] else AuditType.USER_UPDATE
    )
    detail: dict[str, object] = {"before": before, "after": after}
    if outcome.applied:
        # A role or the organisation changed now: the sessions end, as when one is approved.
        detail["sessions_ended"] = role_changes.end_sessions(session, user.id, now=now)
    if before != after or not outcome.requested:
        audit.record(
            session, event, by=by, target_type="user", target_id=user.id, now=now, detail=detail
        )
    return outcome


def set_active(session: Session, *, user_id: int, active: bool, by: Actor) -> User:
    """Deactivating ends the person's sessions at once and revokes their API tokens for good
    (reactivation brings neither back), closes their e-mailed links and pending role
    requests."""
    event = AuditType.USER_REACTIVATE if active else AuditType.USER_DEACTIVATE
    authz.require(
        by,
        Permission.USER_MANAGE,
        audit={"event_type": event, "target_type": "user", "target_id": user_id},
    )
    user = get_user(session, user_id)
    if by.id == user.id and not active:
        raise ValidationFailed("You cannot deactivate your own account.")
    now = utcnow()
    detail: dict[str, object] = {"email": user.email}
    user.active = active
    if active:
        user.failed_login_count = 0
        user.failed_login_since = None
        user.locked_until = None
    else:
        detail["sessions_ended"] = sessions.end_sessions_of(
            session, user_id=user.id, reason=SessionEndReason.DEACTIVATED, now=now
        )
        detail["tokens_revoked"] = _revoke_tokens_of(session, user, by=by, now=now)
        account_links.close_links_of(session, user_id=user.id, reason="deactivated", now=now)
        detail["role_requests_cancelled"] = role_changes.cancel_pending_of(
            session, user_id=user.id, by=by, now=now, reason="account deactivated"
        )
    audit.record(
        session, event, by=by, target_type="user", target_id=user.id, now=now, detail=detail
    )
    return user


def _revoke_tokens_of(session: Session, user: User, *, by: Actor, now: dt.datetime) -> list[str]:
    """Revoke every token of a person being deactivated, each recorded as revoked."""
    live = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all()
    for token in live:
        tokens.revoke(session, token, by=by, now=now, reason="holder deactivated")
    return [token.prefix for token in live]


class TrainingListener(Protocol):
    """What follows a person's new training record, inside the same transaction."""

    def __call__(
        self, session: Session, user_id: int, *, by: Actor, now: dt.datetime
    ) -> object: ...


# Filled by the registry (access refreshes the person's grant conditions): identity sits below
# access, so it names no listener itself.
TRAINING_LISTENERS: list[TrainingListener] = []


def on_training_recorded(listener: TrainingListener) -> TrainingListener:
    """Register a listener to run after each training record (installing twice is once)."""
    if listener not in TRAINING_LISTENERS:
        TRAINING_LISTENERS.append(listener)
    return listener


def record_training(
    session: Session,
    *,
    user_id: int,
    course: str,
    completed_on: dt.date,
    expires_on: dt.date,
    by: Actor,
    now: dt.datetime | None = None,
) -> TrainingRecord:
    """Record completed training; the person's grants are recomputed in the same transaction
    (their ends depend on the training the agreements require), so renewed training lets a
    paused grant work again at once. Nobody records their own (`no-self-training-record`)."""
    refusal = {"event_type": AuditType.TRAINING_RECORD, "target_type": "user", "target_id": user_id}
    authz.require(by, Permission.TRAINING_RECORD, audit=refusal)
    rules.require(
        rules.not_own_training,
        by,
        user_id,
        message="Someone else records your training: it is a condition of your own access.",
        audit=refusal,
    )
    user = get_user(session, user_id)
    try:
        course_enum = TrainingCourse(course)
    except ValueError as exc:
        raise ValidationFailed(
            f"Unknown training course {course!r}.", {"course": "Choose a course from the list."}
        ) from exc
    if expires_on <= completed_on:
        raise ValidationFailed(
            "The training must expire after it was completed.",
            {"expires_on": "Must be after the completion date."},
        )
    record = TrainingRecord(
        user_id=user.id,
        course=course_enum,
        completed_on=completed_on,
        expires_on=expires_on,
        recorded_by_id=by.id,
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        AuditType.TRAINING_RECORD,
        by=by,
        target_type="user",
        target_id=user.id,
        detail={
            "course": course_enum.value,
            "completed_on": completed_on.isoformat(),
            "expires_on": expires_on.isoformat(),
        },
        now=now,
    )
    for listener in TRAINING_LISTENERS:
        listener(session, user.id, by=by, now=now or utcnow())
    return record


def _parse_roles(roles: Iterable[str]) -> set[Role]:
    parsed: set[Role] = set()
    for raw in roles:
        try:
            parsed.add(Role(raw))
        except ValueError as exc:
            raise ValidationFailed(
                f"Unknown role {raw!r}.", {"roles": f"Known roles: {', '.join(Role)}."}
            ) from exc
    if not parsed:
        raise ValidationFailed("A person needs at least one role.", {"roles": "Choose one."})
    return parsed


def _organization_for(session: Session, organization_id: int, roles: set[Role]) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None:
        raise ValidationFailed(
            f"There is no organisation {organization_id}.",
            {"organization_id": "Choose an organisation."},
        )
    if not role_changes.fits(roles, org):
        raise ValidationFailed(
            "A partner reviewer must belong to a data-provider agency.",
            {"organization_id": "Choose the provider agency."},
        )
    return org


def _clean_name(raw: str, field: str) -> str:
    name = " ".join(raw.split())
    if not name:
        raise ValidationFailed(f"The {field} is required.", {field: "Required."})
    if len(name) > 200:
        raise ValidationFailed(
            f"The {field} is longer than 200 characters.", {field: "At most 200 characters."}
        )
    return name


def set_local_passwords(
    session: Session, *, organization_id: int, allowed: bool, by: Actor
) -> Organization:
    """Switch local passwords on or off for an organisation's people (`identity:configure`).
    Off, they sign in through the identity provider; administrators keep their password as
    the break-glass path (signin.py records such a sign-in as `break_glass`). Switching off
    also ends, in the same transaction, the sessions its people opened with their password:
    otherwise a password session opened a minute before (or a stolen one) would go on for
    its whole lifetime after the organisation chose its identity provider."""
    authz.require(
        by,
        Permission.IDENTITY_CONFIGURE,
        audit={
            "event_type": AuditType.ORGANIZATION_LOCAL_PASSWORDS,
            "target_type": "organization",
            "target_id": organization_id,
        },
    )
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise NotFound(f"There is no organisation {organization_id}.")
    before = organization.local_passwords
    organization.local_passwords = allowed
    ended = 0 if allowed else _end_password_sessions(session, organization)
    audit.record(
        session,
        AuditType.ORGANIZATION_LOCAL_PASSWORDS,
        by=by,
        target_type="organization",
        target_id=organization.id,
        detail={
            "name": organization.name,
            "before": before,
            "after": allowed,
            "sessions_ended": ended,
        },
    )
    return organization


def _end_password_sessions(session: Session, organization: Organization) -> int:
    """End the live password sessions of an organisation's people who would now be refused a
    password sign-in (not those who keep the break-glass path, signin.py); returns how many."""
    now = utcnow()
    in_organization = User.organization_id == organization.id
    members = session.scalars(select(User).where(in_organization))
    keep = [m.id for m in members if authz.can(m, Permission.IDENTITY_CONFIGURE)]
    return sessions.end_sessions_of(
        session,
        user_id=select(User.id).where(in_organization, User.id.not_in(keep)),
        reason=SessionEndReason.LOCAL_PASSWORDS_OFF,
        now=now,
        methods=sessions.PASSWORD_METHODS,
    )
