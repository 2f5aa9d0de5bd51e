"""SCIM provisioning of accounts: create, replace, patch and deactivate, as the source "scim".

Every change is audited as `system:scim` with the token's prefix. An account created through
SCIM has no roles (they come from group mappings, identity/groups.py) and no local password.
Setting `active` to false, or deleting the user, deactivates the account as a leaver
(identity/leavers.py): sessions and API tokens end at once, the person comes off every live
agreement's personnel list, and their grants refuse the next read. A deleted user keeps their
account (the audit trail and agreements name them) but is gone for the SCIM client.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.identity import groups, leavers, users
from governance.identity.actors import System
from governance.identity.models import User
from governance.identity.organization_model import Organization, OrganizationKind
from governance.identity.passwords import RESET_ADDRESS_RULE, has_local_password
from governance.identity.scim_model import NAME_LENGTH, ScimGroup, ScimGroupMember, ScimIdentity

if TYPE_CHECKING:
    # scim2-models is imported by the first SCIM request, not when the app is built.
    import scim2_models as scim


__all__ = ["SCIM_ACTOR", "Caller", "ScimIdentity", "refused"]
from governance.identity.scim_resources import FORBIDDEN, user_filter, user_name_column
from governance.kernel.errors import ValidationFailed
from governance.kernel.text import whole_number

SCIM_ACTOR = System(groups.SCIM_SOURCE)
# A provisioned account signs in through the institution; this is no argon2 hash, so no
# password ever matches it.
NO_LOCAL_PASSWORD = "!provisioned"  # noqa: S105


def refused(detail: str, *, audit: dict[str, Any]) -> Exception:
    """A request SCIM may never make (403); the blueprint records `audit` after rolling back."""
    return _refused_class()(detail, audit=audit)


@functools.cache
def _refused_class() -> Callable[..., Exception]:
    # Built on first use: scim2-models is imported by the first SCIM request, not with the app.
    import scim2_models as scim

    class Refused(scim.ForbiddenException):
        def __init__(self, detail: str, *, audit: dict[str, Any]) -> None:
            super().__init__(detail=detail)
            self.audit = audit

    return Refused


@dataclass(frozen=True)
class Caller:
    """Who is provisioning: the SCIM token's prefix, for the audit trail, and the administrator
    who issued it, on whose authority it acts (it never grants them a role)."""

    token_prefix: str
    issued_by_id: int | None = None


def find_user(session: Session, user_id: str) -> tuple[User, ScimIdentity | None]:
    """The account a SCIM id names, unless the client deleted it (404 then)."""
    import scim2_models as scim

    number = whole_number(user_id)
    if number is None:
        raise scim.NotFoundException(detail=f"There is no user {user_id}.")
    user = session.get(User, number)
    identity = session.get(ScimIdentity, number) if user else None
    if user is None or (identity is not None and identity.deleted_at is not None):
        raise scim.NotFoundException(detail=f"There is no user {user_id}.")
    return user, identity


def groups_of(session: Session, user_id: int) -> list[ScimGroup]:
    return list(
        session.scalars(
            select(ScimGroup)
            .join(ScimGroupMember, ScimGroupMember.group_id == ScimGroup.id)
            .where(ScimGroupMember.user_id == user_id)
            .order_by(ScimGroup.display_name)
        )
    )


def users_query(filter_text: str | None) -> Select[User, ScimIdentity]:
    query = (
        select(User, ScimIdentity)
        .outerjoin(ScimIdentity, ScimIdentity.user_id == User.id)
        .where(ScimIdentity.deleted_at.is_(None))
        .order_by(User.id)
    )
    if filter_text:
        query = query.where(user_filter(filter_text))
    return query


def create_user(
    session: Session,
    *,
    resource: scim.User[Any],
    caller: Caller,
    settings: dict[str, Any],
    now: dt.datetime,
) -> User:
    """A new account, or an existing one (same e-mail, not yet provisioned) claimed."""
    import scim2_models as scim

    _refuse_forbidden(session, resource, caller, user_id=None, now=now)
    user_name = _user_name(resource)
    email = _email(resource)
    user = users.find_user_by_email(session, email)
    if _taken(session, user_name, exclude=user.id if user else None):
        raise scim.UniquenessException(detail=f"userName {user_name!r} is taken.")
    rejoins = False
    if user is not None:
        identity = session.get(ScimIdentity, user.id)
        if identity is not None and identity.deleted_at is None:
            raise scim.UniquenessException(detail=f"{email} is already provisioned.")
        if identity is not None:
            rejoins = identity.deactivated_by_scim
            session.delete(identity)
            session.flush()
        claimed = True
    else:
        user = User(
            email=email,
            name=_display_name(resource, email),
            organization_id=_organization(session, settings).id,
            password_hash=NO_LOCAL_PASSWORD,
            active=True,
        )
        user.roles = []
        session.add(user)
        session.flush()
        claimed = False
    session.add(
        ScimIdentity(
            user_id=user.id, user_name=user_name, external_id=resource.external_id, updated_at=now
        )
    )
    if resource.display_name:
        user.name = _display_name(resource, email)
    session.flush()
    audit.record(
        session,
        AuditType.SCIM_USER_CREATE,
        by=SCIM_ACTOR,
        target_type="user",
        target_id=user.id,
        now=now,
        detail={
            "email": user.email,
            "user_name": user_name,
            "claimed_existing_account": claimed,
            "token": caller.token_prefix,
        },
    )
    identity = session.get(ScimIdentity, user.id)
    assert identity is not None
    if resource.active is False:
        _deactivate(session, user, identity, now)
    elif rejoins and not user.active:
        users.set_active(session, user_id=user.id, active=True, by=SCIM_ACTOR)
    return user


def _deactivate(session: Session, user: User, identity: ScimIdentity, now: dt.datetime) -> None:
    if user.active:
        identity.deactivated_by_scim = True
    leavers.deactivate_leaver(session, user_id=user.id, by=SCIM_ACTOR, source="scim", now=now)


def _reactivate(session: Session, user: User, identity: ScimIdentity, caller: Caller) -> None:
    """Only an account SCIM deactivated: one an administrator deactivated stays so (403)."""
    if not identity.deactivated_by_scim:
        raise refused(
            f"{user.email} was deactivated by an administrator; only an administrator "
            "reactivates it.",
            audit={
                "event_type": AuditType.SCIM_REFUSED,
                "target_type": "user",
                "target_id": user.id,
                "detail": {"attributes": ["active"], "token": caller.token_prefix},
            },
        )
    identity.deactivated_by_scim = False
    users.set_active(session, user_id=user.id, active=True, by=SCIM_ACTOR)


def replace_user(
    session: Session,
    *,
    user: User,
    identity: ScimIdentity | None,
    resource: scim.User[Any],
    caller: Caller,
    now: dt.datetime,
) -> User:
    """Bring the account to the resource: userName, externalId, displayName, e-mail, active."""
    import scim2_models as scim

    _refuse_forbidden(session, resource, caller, user_id=user.id, now=now)
    user_name = _user_name(resource)
    email = _email(resource)
    if _taken(session, user_name, exclude=user.id):
        raise scim.UniquenessException(detail=f"userName {user_name!r} is taken.")
    other = users.find_user_by_email(session, email)
    if other is not None and other.id != user.id:
        raise scim.UniquenessException(detail=f"{email} belongs to another account.")
    if email != user.email and has_local_password(user.password_hash):
        raise refused(
            f"SCIM cannot change the e-mail of {user.email}: the account signs in with a "
            "local password, and its address is where its password-reset links go.",
            audit={
                "event_type": AuditType.SCIM_REFUSED,
                "target_type": "user",
                "target_id": user.id,
                "now": now,
                "rule": RESET_ADDRESS_RULE,
                "detail": {"attributes": ["emails"], "token": caller.token_prefix},
            },
        )
    before = {"email": user.email, "name": user.name, "active": user.active}
    if identity is None:
        identity = ScimIdentity(user_id=user.id, user_name=user_name, updated_at=now)
        session.add(identity)
    identity.user_name = user_name
    identity.external_id = resource.external_id
    identity.updated_at = now
    user.email = email
    user.name = _display_name(resource, email)
    session.flush()
    after = {"email": user.email, "name": user.name, "active": resource.active is not False}
    audit.record(
        session,
        AuditType.SCIM_USER_UPDATE,
        by=SCIM_ACTOR,
        target_type="user",
        target_id=user.id,
        now=now,
        detail={"before": before, "after": after, "token": caller.token_prefix},
    )
    if resource.active is False and user.active:
        _deactivate(session, user, identity, now)
    elif resource.active is not False and not user.active:
        _reactivate(session, user, identity, caller)
    return user


def delete_user(
    session: Session, *, user: User, identity: ScimIdentity | None, caller: Caller, now: dt.datetime
) -> None:
    """The client deleted the user: deactivate as a leaver, leave their groups, hide them."""
    if identity is None:
        identity = ScimIdentity(user_id=user.id, user_name=user.email, updated_at=now)
        session.add(identity)
    identity.deleted_at = now
    identity.updated_at = now
    # The user name is free again for the client; the account keeps its e-mail for the record.
    identity.user_name = f"deleted:{user.id}:{identity.user_name}"[:NAME_LENGTH]
    memberships = session.scalars(
        select(ScimGroupMember).where(ScimGroupMember.user_id == user.id)
    ).all()
    for membership in memberships:
        session.delete(membership)
    session.flush()
    audit.record(
        session,
        AuditType.SCIM_USER_DELETE,
        by=SCIM_ACTOR,
        target_type="user",
        target_id=user.id,
        now=now,
        detail={"email": user.email, "token": caller.token_prefix},
    )
    _deactivate(session, user, identity, now)
    groups.apply_external_groups(
        session, actor_label="scim", user=user, source=groups.SCIM_SOURCE, groups=[], now=now
    )


def _refuse_forbidden(
    session: Session,
    resource: scim.User[Any],
    caller: Caller,
    *,
    user_id: int | None,
    now: dt.datetime,
) -> None:
    """Roles, entitlements, certificates and passwords are never set by SCIM: refused (403),
    and the attempt recorded."""
    tried = [name for name in FORBIDDEN if getattr(resource, name, None)]
    if tried:
        raise refused(
            f"SCIM cannot set {', '.join(tried)}: roles come only from group mappings that an "
            "administrator configures, and provisioned accounts have no local password.",
            audit={
                "event_type": AuditType.SCIM_REFUSED,
                "target_type": "user",
                "target_id": user_id,
                "now": now,
                "detail": {"attributes": tried, "token": caller.token_prefix},
            },
        )


def _user_name(resource: scim.User[Any]) -> str:
    import scim2_models as scim

    name = (resource.user_name or "").strip()
    if not name or len(name) > NAME_LENGTH or not name.isprintable():
        raise scim.InvalidValueException(detail=f"userName: 1 to {NAME_LENGTH} characters.")
    return name


def _email(resource: scim.User[Any]) -> str:
    import scim2_models as scim

    listed = [e for e in resource.emails or [] if e.value]
    primary = next((e for e in listed if e.primary), listed[0] if listed else None)
    raw = primary.value if primary else resource.user_name
    try:
        return users.normalise_email(str(raw or ""))
    except ValidationFailed as exc:
        raise scim.InvalidValueException(
            detail="An e-mail address is required (emails, or a userName that is one)."
        ) from exc


def _display_name(resource: scim.User[Any], email: str) -> str:
    parts = resource.name
    name = resource.display_name or (parts.formatted if parts else None) or email
    return " ".join(str(name).split())[:200] or email


def _taken(session: Session, user_name: str, *, exclude: int | None) -> bool:
    query = (
        select(User.id)
        .outerjoin(ScimIdentity, ScimIdentity.user_id == User.id)
        .where(func.lower(user_name_column()) == user_name.lower())
    )
    if exclude is not None:
        query = query.where(User.id != exclude)
    return session.scalars(query).first() is not None


def _organization(session: Session, settings: dict[str, Any]) -> Organization:
    import scim2_models as scim

    wanted = str(settings.get("SCIM_ORGANIZATION") or "")
    query = select(Organization).order_by(Organization.id)
    if wanted:
        query = query.where(Organization.name == wanted)
    else:
        query = query.where(Organization.kind == OrganizationKind.RESEARCH)
    organization = session.scalars(query).first()
    if organization is None:
        raise scim.InvalidValueException(
            detail="No organisation for provisioned accounts: set SCIM_ORGANIZATION."
        )
    return organization
