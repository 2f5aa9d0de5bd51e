"""Groups pushed by the SCIM client, and the roles that follow them.

A group's members are accounts (by SCIM id). After any change of a group's name or members,
each person whose groups changed gets their roles recomputed through the same audited mapping
as sign-in (`groups.apply_external_groups`, source "scim"), matched on the group's displayName.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.identity import groups
from governance.identity.models import User
from governance.identity.scim_model import NAME_LENGTH, ScimGroup, ScimGroupMember, ScimIdentity
from governance.identity.scim_resources import group_filter
from governance.identity.scim_users import SCIM_ACTOR, Caller
from governance.kernel.text import whole_number

if TYPE_CHECKING:
    # scim2-models is imported by the first SCIM request, not when the app is built.
    import scim2_models as scim


def find_group(session: Session, group_id: str) -> ScimGroup:
    import scim2_models as scim

    number = whole_number(group_id)
    group = session.get(ScimGroup, number) if number is not None else None
    if group is None:
        raise scim.NotFoundException(detail=f"There is no group {group_id}.")
    return group


def groups_query(filter_text: str | None) -> Select[ScimGroup]:
    query = select(ScimGroup).order_by(ScimGroup.id)
    if filter_text:
        query = query.where(group_filter(filter_text))
    return query


def member_names(session: Session, group: ScimGroup) -> dict[int, str]:
    ids = [m.user_id for m in group.members]
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.name).where(User.id.in_(ids)))
    return {row.id: row.name for row in rows}


def create_group(
    session: Session, *, resource: scim.Group, caller: Caller, now: dt.datetime
) -> ScimGroup:
    import scim2_models as scim

    name = _name(resource)
    if session.scalars(select(ScimGroup).where(ScimGroup.display_name == name)).first():
        raise scim.UniquenessException(detail=f"A group named {name!r} exists.")
    group = ScimGroup(
        display_name=name, external_id=resource.external_id, created_at=now, updated_at=now
    )
    session.add(group)
    session.flush()
    _set_members(
        session, group, _member_ids(session, resource), caller=caller, now=now, before=set()
    )
    _record(session, AuditType.SCIM_GROUP_CREATE, group, caller, now)
    return group


def replace_group(
    session: Session, *, group: ScimGroup, resource: scim.Group, caller: Caller, now: dt.datetime
) -> ScimGroup:
    import scim2_models as scim

    name = _name(resource)
    clash = session.scalars(
        select(ScimGroup).where(ScimGroup.display_name == name, ScimGroup.id != group.id)
    ).first()
    if clash is not None:
        raise scim.UniquenessException(detail=f"A group named {name!r} exists.")
    before = {m.user_id for m in group.members}
    renamed = name != group.display_name
    group.display_name = name
    group.external_id = resource.external_id
    group.updated_at = now
    wanted = _member_ids(session, resource)
    # A renamed group maps differently: every member, old and new, is recomputed.
    _set_members(session, group, wanted, caller=caller, now=now, before=before, everyone=renamed)
    _record(session, AuditType.SCIM_GROUP_UPDATE, group, caller, now)
    return group


def delete_group(session: Session, *, group: ScimGroup, caller: Caller, now: dt.datetime) -> None:
    before = {m.user_id for m in group.members}
    _record(session, AuditType.SCIM_GROUP_DELETE, group, caller, now)
    session.delete(group)
    session.flush()
    _recompute(session, before, caller=caller, now=now)


def _set_members(
    session: Session,
    group: ScimGroup,
    wanted: set[int],
    *,
    caller: Caller,
    now: dt.datetime,
    before: set[int],
    everyone: bool = False,
) -> None:
    group.members = [m for m in group.members if m.user_id in wanted]
    present = {m.user_id for m in group.members}
    group.members.extend(ScimGroupMember(user_id=uid) for uid in sorted(wanted - present))
    session.flush()
    changed = (before | wanted) if everyone else (before ^ wanted)
    _recompute(session, changed, caller=caller, now=now)


def _recompute(
    session: Session, user_ids: Iterable[int], *, caller: Caller, now: dt.datetime
) -> None:
    for user_id in sorted(set(user_ids)):
        user = session.get(User, user_id)
        if user is None:
            continue
        names = session.scalars(
            select(ScimGroup.display_name)
            .join(ScimGroupMember, ScimGroupMember.group_id == ScimGroup.id)
            .where(ScimGroupMember.user_id == user_id)
        ).all()
        groups.apply_external_groups(
            session,
            actor_label=groups.SCIM_SOURCE,
            user=user,
            source=groups.SCIM_SOURCE,
            groups=names,
            now=now,
            on_authority_of=caller.issued_by_id,
        )


def _member_ids(session: Session, resource: scim.Group) -> set[int]:
    import scim2_models as scim

    wanted: set[int] = set()
    for member in resource.members or []:
        value = str(member.value or "")
        number = whole_number(value)
        user = session.get(User, number) if number is not None else None
        identity = session.get(ScimIdentity, user.id) if user else None
        if user is None or (identity is not None and identity.deleted_at is not None):
            raise scim.InvalidValueException(detail=f"members: there is no user {value!r}.")
        wanted.add(user.id)
    return wanted


def _name(resource: scim.Group) -> str:
    import scim2_models as scim

    name = " ".join((resource.display_name or "").split())
    if not name or len(name) > NAME_LENGTH:
        raise scim.InvalidValueException(detail=f"displayName: 1 to {NAME_LENGTH} characters.")
    return name


def _record(
    session: Session, kind: AuditType, group: ScimGroup, caller: Caller, now: dt.datetime
) -> None:
    detail: dict[str, Any] = {
        "display_name": group.display_name,
        "members": [m.user_id for m in group.members][:500],
        "token": caller.token_prefix,
    }
    audit.record(
        session,
        kind,
        by=SCIM_ACTOR,
        target_type="scim_group",
        target_id=group.id,
        now=now,
        detail=detail,
    )
