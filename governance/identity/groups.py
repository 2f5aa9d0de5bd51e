"""Roles (and organisations) that follow a person's groups at an identity provider or SCIM.

An administrator (`identity:configure`) maps an external group of a source (an identity
provider's id, or "scim") to a role, an organisation or both. `apply_external_groups`, called by
sign-in and by SCIM in their own transactions, brings the roles a source's mappings give a person
to what their current groups say: it grants the roles their groups map to and removes the roles
that source granted earlier and that no group of theirs maps to any more. A role given by hand
(no `ExternalRole` row) is never removed by a source, and a role held by hand is not claimed by
one. Each grant, removal or organisation change is a `RoleChange` row and an audit event naming
the source; groups that map to nothing are recorded once per call, in one event.

A mapping to a role with approval or audit powers, or to an organisation, counts only once a
second administrator has approved it: otherwise one administrator could give themselves such a
role, or move a partner reviewer, a steward or themselves to another organisation, by adding
the account to a group at the provider, round the two-administrator rules of role_changes.py.
Every organisation mapping waits, whoever is in the group today: it moves whoever joins later.

A SCIM token is the provider's client, issued by one administrator, whose secret they see: a
source acting on an administrator's authority (`on_authority_of`) never grants that
administrator a role (`no-self-role-change`, as for roles changed by hand) nor moves them to
another organisation (`no-self-organization-change`), or they would push their own account into
a group a second administrator mapped to a powerful role or an organisation. It may still remove
their roles: a leaver's groups going away is the provider's to say.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from governance import authz
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission, Role, rules
from governance.identity import role_changes, seals
from governance.identity.actors import Actor, System
from governance.identity.group_mapping_model import (
    GROUP_LENGTH,
    SOURCE_LENGTH,
    ExternalRole,
    GroupMapping,
)
from governance.identity.models import User, UserRole
from governance.identity.organization_model import Organization
from governance.identity.role_change_model import RoleChange, RoleChangeKind, RoleChangeStatus
from governance.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from governance.kernel.types import utcnow

SCIM_SOURCE = "scim"


class ChangeKind(StrEnum):
    GRANT = "grant"
    REMOVE = "remove"
    ORGANIZATION = "organization"


@dataclass(frozen=True)
class GroupChange:
    """One thing `apply_external_groups` changed: a role granted or removed, or the
    organisation set (`value` is the role, or the organisation's name)."""

    kind: ChangeKind
    value: str
    source: str
    groups: tuple[str, ...]


def clean_source(raw: str) -> str:
    source = raw.strip()
    if not source or len(source) > SOURCE_LENGTH or not source.isprintable():
        raise ValidationFailed(
            "Name the source: an identity provider's id, or 'scim'.",
            {"source": f"1 to {SOURCE_LENGTH} printable characters."},
        )
    return source


def clean_group(raw: str) -> str:
    group = raw.strip()
    if not group or len(group) > GROUP_LENGTH or not group.isprintable():
        raise ValidationFailed(
            "Name the group as the provider sends it.",
            {"external_group": f"1 to {GROUP_LENGTH} printable characters."},
        )
    return group


def mappings(session: Session, *, by: Actor) -> list[GroupMapping]:
    """Every mapping, by source and group (the admin page and the API)."""
    authz.require(by, Permission.IDENTITY_CONFIGURE)
    return list(
        session.scalars(
            select(GroupMapping).order_by(
                GroupMapping.source, GroupMapping.external_group, GroupMapping.id
            )
        )
    )


def create_mapping(
    session: Session,
    *,
    source: str,
    external_group: str,
    role: str | None,
    organization_id: int | None,
    by: Actor,
    now: dt.datetime | None = None,
) -> GroupMapping:
    """Map a source's group to a role and/or an organisation. A role with approval or audit
    powers, or any organisation, waits for a second administrator (`approve_mapping`)."""
    now = now or utcnow()
    authz.require(
        by,
        Permission.IDENTITY_CONFIGURE,
        audit={"event_type": AuditType.GROUP_MAPPING_CREATE, "target_type": "group_mapping"},
    )
    source = clean_source(source)
    group = clean_group(external_group)
    role_value = _parse_role(role)
    organization = _organization(session, organization_id)
    if role_value is None and organization is None:
        raise ValidationFailed(
            "A mapping gives a role, an organisation or both.",
            {"role": "Choose a role or an organisation."},
        )
    existing = session.scalars(
        select(GroupMapping).where(
            GroupMapping.source == source,
            GroupMapping.external_group == group,
            GroupMapping.role.is_(None) if role_value is None else GroupMapping.role == role_value,
            GroupMapping.organization_id.is_(None)
            if organization is None
            else GroupMapping.organization_id == organization.id,
        )
    ).first()
    if existing is not None:
        raise Conflict(f"Group {group!r} of {source} is already mapped that way.")
    needs_second = _needs_second(role_value, organization, by)
    mapping = GroupMapping(
        source=source,
        external_group=group,
        role=role_value,
        organization_id=organization.id if organization else None,
        created_by=by.email,
        created_by_id=by.id,
        created_at=now,
        approved_by=None if needs_second else by.email,
        approved_at=None if needs_second else now,
    )
    session.add(mapping)
    session.flush()
    audit.record(
        session,
        AuditType.GROUP_MAPPING_CREATE,
        by=by,
        target_type="group_mapping",
        target_id=mapping.id,
        now=now,
        detail=_mapping_detail(mapping) | {"waits_for_second_administrator": needs_second},
    )
    return mapping


def approve_mapping(
    session: Session, *, mapping_id: int, by: Actor, now: dt.datetime | None = None
) -> GroupMapping:
    """A second administrator (not the one who created it) lets a mapping to a powerful role or
    an organisation count."""
    now = now or utcnow()
    refusal = {
        "event_type": AuditType.GROUP_MAPPING_APPROVE,
        "target_type": "group_mapping",
        "target_id": mapping_id,
    }
    authz.require(by, Permission.IDENTITY_CONFIGURE, audit=refusal)
    authz.require(by, Permission.ROLE_APPROVE, audit=refusal)
    mapping = _get(session, mapping_id)
    if mapping.approved:
        raise Conflict("This mapping is already approved.")
    if by.id is not None and by.id == mapping.created_by_id:
        raise PermissionDenied(
            "A second administrator must approve this mapping: you created it.",
            audit=refusal | {"rule": "second-administrator"},
        )
    mapping.approved_by = by.email
    mapping.approved_at = now
    audit.record(
        session,
        AuditType.GROUP_MAPPING_APPROVE,
        by=by,
        target_type="group_mapping",
        target_id=mapping.id,
        now=now,
        detail=_mapping_detail(mapping) | {"created_by": mapping.created_by},
    )
    return mapping


def delete_mapping(
    session: Session, *, mapping_id: int, by: Actor, now: dt.datetime | None = None
) -> GroupMapping:
    """Remove a mapping; roles it gave are removed at each person's next sign-in or SCIM
    update from that source (the mapping no longer covers them)."""
    now = now or utcnow()
    authz.require(
        by,
        Permission.IDENTITY_CONFIGURE,
        audit={
            "event_type": AuditType.GROUP_MAPPING_DELETE,
            "target_type": "group_mapping",
            "target_id": mapping_id,
        },
    )
    mapping = _get(session, mapping_id)
    detail = _mapping_detail(mapping)
    session.delete(mapping)
    audit.record(
        session,
        AuditType.GROUP_MAPPING_DELETE,
        by=by,
        target_type="group_mapping",
        target_id=mapping_id,
        now=now,
        detail=detail,
    )
    return mapping


def apply_external_groups(
    session: Session,
    *,
    actor_label: str,
    user: User,
    source: str,
    groups: Iterable[str],
    now: dt.datetime | None = None,
    keep_session_id: int | None = None,
    on_authority_of: int | None = None,
) -> list[GroupChange]:
    """Bring the roles `source`'s mappings give `user` to what `groups` (the person's complete
    current list of groups at that source) say, in the caller's transaction.

    Grants the mapped roles the person lacks, removes the roles this source granted earlier
    that no current group maps to, and sets the organisation when a group maps to one (the
    lowest-numbered such mapping wins). Roles given by hand are left alone. Each change is
    audited as done by `system:<actor_label>` with the source named; groups that map to
    nothing are recorded in one event. When a role or the organisation changed, the person's
    sessions end (as for any change of roles or move: `role_changes.end_sessions`) but
    `keep_session_id`, the one being signed in with; a move's event says how many. A grant to
    `on_authority_of` (the account on whose authority the source acts) is refused (403,
    `no-self-role-change`); the caller rolls back and records the refusal.
    """
    now = now or utcnow()
    by = System(actor_label)
    source = clean_source(source)
    current = sorted({g.strip() for g in groups if g and g.strip()})
    rows = list(
        session.scalars(
            select(GroupMapping)
            .where(GroupMapping.source == source, GroupMapping.external_group.in_(current))
            .order_by(GroupMapping.id)
        )
    )
    # A mapping written in the database outside the service gives nothing (identity/seals.py).
    approved = [m for m in rows if m.approved and seals.holds(session, seals.GROUP_MAPPING, m)]
    wanted: dict[Role, list[str]] = {}
    for mapping in approved:
        if mapping.role is not None:
            wanted.setdefault(Role(mapping.role), []).append(mapping.external_group)
    mapped_groups = {m.external_group for m in rows}
    unmapped = [g for g in current if g not in mapped_groups]

    provenance = list(session.scalars(select(ExternalRole).where(ExternalRole.user_id == user.id)))
    from_source = {Role(p.role) for p in provenance if p.source == source}
    from_others = {Role(p.role) for p in provenance if p.source != source}
    held = {Role(ur.role): ur for ur in user.roles}
    changes: list[GroupChange] = []

    for role, why in sorted(wanted.items()):
        if role in from_source:
            continue
        if role in held and role not in from_others:
            continue  # given by hand: the source does not claim it
        session.add(ExternalRole(user_id=user.id, role=role, source=source, granted_at=now))
        if role in held:
            continue  # another source gave it already; now this one does too
        user.roles.append(UserRole(role=role))
        changes.append(GroupChange(ChangeKind.GRANT, role.value, source, tuple(why)))

    granted = sorted(c.value for c in changes if c.kind == ChangeKind.GRANT)
    if granted and on_authority_of is not None:
        rules.require(
            rules.not_oneself,
            ExternalAuthority(on_authority_of),
            user.id,
            message=(
                f"{source} acts on your authority: it cannot give you a role. Ask another "
                "administrator to issue the token."
            ),
            audit={
                "event_type": AuditType.GROUP_ROLE_GRANT,
                "target_type": "user",
                "target_id": user.id,
                "now": now,
                "detail": {"email": user.email, "source": source, "roles": granted},
            },
        )

    for role in sorted(from_source - set(wanted)):
        session.execute(
            delete(ExternalRole).where(
                ExternalRole.user_id == user.id,
                ExternalRole.role == role,
                ExternalRole.source == source,
            )
        )
        if role in held and role not in from_others:
            user.roles.remove(held[role])
            changes.append(GroupChange(ChangeKind.REMOVE, role.value, source, ()))

    organization = next((m.organization for m in approved if m.organization is not None), None)
    if organization is not None and organization.id != user.organization_id:
        before = user.organization.name
        move: dict[str, object] = {
            "email": user.email,
            "source": source,
            "before": before,
            "after": organization.name,
        }
        if on_authority_of is not None:
            rules.require(
                rules.not_own_organization,
                ExternalAuthority(on_authority_of),
                user.id,
                message=(
                    f"{source} acts on your authority: it cannot move you to another "
                    "organisation. Ask another administrator to issue the token."
                ),
                audit={
                    "event_type": AuditType.GROUP_ORGANIZATION,
                    "target_type": "user",
                    "target_id": user.id,
                    "now": now,
                    "detail": move,
                },
            )
        user.organization_id = organization.id
        user.organization = organization
        move["sessions_ended"] = role_changes.end_sessions(
            session, user.id, now=now, keep=keep_session_id
        )
        changes.append(
            GroupChange(
                ChangeKind.ORGANIZATION,
                organization.name,
                source,
                tuple(m.external_group for m in approved if m.organization_id == organization.id),
            )
        )
        audit.record(
            session,
            AuditType.GROUP_ORGANIZATION,
            by=by,
            target_type="user",
            target_id=user.id,
            now=now,
            detail=move,
        )

    _record_role_changes(session, user=user, changes=changes, by=by, now=now)
    if unmapped:
        audit.record(
            session,
            AuditType.GROUPS_UNMAPPED,
            by=by,
            target_type="user",
            target_id=user.id,
            now=now,
            detail={"email": user.email, "source": source, "groups": unmapped[:50]},
        )
    session.flush()
    if any(c.kind != ChangeKind.ORGANIZATION for c in changes):
        role_changes.end_sessions(session, user.id, now=now, keep=keep_session_id)
    return changes


@dataclass(frozen=True)
class ExternalAuthority:
    """The account a source acts for, as the rules see an actor (only its id is read)."""

    id: int


def external_roles_of(session: Session, user_id: int) -> dict[str, list[str]]:
    """Which sources gave each of a person's roles (the person page shows it)."""
    found: dict[str, list[str]] = {}
    for row in session.scalars(
        select(ExternalRole)
        .where(ExternalRole.user_id == user_id)
        .order_by(ExternalRole.role, ExternalRole.source)
    ):
        found.setdefault(row.role, []).append(row.source)
    return found


def _record_role_changes(
    session: Session, *, user: User, changes: list[GroupChange], by: System, now: dt.datetime
) -> None:
    for change in changes:
        if change.kind == ChangeKind.ORGANIZATION:
            continue
        granted = change.kind == ChangeKind.GRANT
        session.add(
            RoleChange(
                user=user,
                role=Role(change.value),
                kind=RoleChangeKind.GRANT if granted else RoleChangeKind.REMOVE,
                status=RoleChangeStatus.APPLIED,
                requested_by_id=None,
                requested_by=by.email,
                requested_at=now,
                decided_by_id=None,
                decided_by=by.email,
                decided_at=now,
                note=f"group mapping of {change.source}"[:500],
            )
        )
        audit.record(
            session,
            AuditType.GROUP_ROLE_GRANT if granted else AuditType.GROUP_ROLE_REMOVE,
            by=by,
            target_type="user",
            target_id=user.id,
            now=now,
            detail={
                "email": user.email,
                "role": change.value,
                "source": change.source,
                "groups": list(change.groups),
            },
        )


def _needs_second(role: Role | None, organization: Organization | None, by: Actor) -> bool:
    if role is not None and role_changes.needs_second_approval(role, by):
        return True
    return organization is not None and not isinstance(by, System)


def _parse_role(raw: str | None) -> Role | None:
    if raw is None or not raw.strip():
        return None
    try:
        return Role(raw.strip())
    except ValueError as exc:
        raise ValidationFailed(
            f"Unknown role {raw!r}.", {"role": f"Known roles: {', '.join(Role)}."}
        ) from exc


def _organization(session: Session, organization_id: int | None) -> Organization | None:
    if organization_id is None:
        return None
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise ValidationFailed(
            f"There is no organisation {organization_id}.",
            {"organization_id": "Choose an organisation."},
        )
    return organization


def _get(session: Session, mapping_id: int) -> GroupMapping:
    mapping = session.get(GroupMapping, mapping_id)
    if mapping is None:
        raise NotFound(f"There is no group mapping {mapping_id}.")
    return mapping


def _mapping_detail(mapping: GroupMapping) -> dict[str, object]:
    return {
        "source": mapping.source,
        "group": mapping.external_group,
        "role": mapping.role,
        "organization": mapping.organization.name if mapping.organization else None,
    }
