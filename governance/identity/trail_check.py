"""Roles compared with the audit trail: a role the service removed, put back in the database
with its old seal (a restored backup row), passes its seal (identity/seals.py) but contradicts
the trail, which records every role given and taken away and which a DBA cannot roll back
unnoticed (docs/decisions/audit.md).

For each person, the successful events that say whether they hold a role, in the trail's order:
`user:roles_change` and `user:update` (the roles after the change), `user:group_role_grant` and
`user:group_role_remove`, `user:role_approve`. A role row whose last such statement is that it
was taken away contradicts the trail. A role the trail says nothing of is bound by its seal
alone. The periodic alert job (incidents/alerts.py) asks this of every role row: a trail query
at each load of a person's roles (every request) would cost more than a seal check, so it is
not made there (docs/decisions/trail-check.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditType
from governance.audit.targets import said_of
from governance.identity.models import UserRole

ROLE_TRAIL_RULE = "role-trail"
ROLE_KIND = "user_role"
#: The events that say whether a person holds a role.
ROLE_STATEMENTS = (
    AuditType.USER_ROLES_CHANGE,
    AuditType.USER_UPDATE,
    AuditType.GROUP_ROLE_GRANT,
    AuditType.GROUP_ROLE_REMOVE,
    AuditType.ROLE_APPROVE,
)


@dataclass(frozen=True)
class RestoredRole:
    """A role row the trail says was taken away, for the alert job (shaped as `seals.Broken`)."""

    user_id: int
    role: str
    kind: str = ROLE_KIND
    rule: str = ROLE_TRAIL_RULE
    agreement_ids: tuple[int, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.user_id}:{self.role}"  # as a broken role seal names its row

    def describe(self) -> str:
        return (
            f"Role {self.role} of person {self.user_id} contradicts the audit trail (rule "
            f"{self.rule}): the trail records that it was taken away, yet the role is held. "
            "Its seal holds, so the row was put back in the database to a state the service "
            "wrote earlier (a restored backup). Find who had the database, remove the role, and "
            "give it again through the service (a second administrator approves) if it was meant."
        )


def _statements(event_type: str, detail: dict[str, Any]) -> dict[str, bool]:
    """What one event says of the person's roles: role -> held."""
    if event_type in (AuditType.USER_ROLES_CHANGE, AuditType.USER_UPDATE):
        before = (detail.get("before") or {}).get("roles")
        after = (detail.get("after") or {}).get("roles")
        if not isinstance(after, list):
            return {}
        said = {str(r): False for r in before} if isinstance(before, list) else {}
        return said | {str(r): True for r in after}
    role = detail.get("role")
    if not isinstance(role, str):
        return {}
    return {role: event_type != AuditType.GROUP_ROLE_REMOVE}


def restored_roles(session: Session) -> list[RestoredRole]:
    """Every role row whose last statement in the trail is that it was taken away."""
    held: dict[int, dict[str, bool]] = {}
    events = session.execute(said_of("user", ROLE_STATEMENTS))
    for target_id, event_type, detail in events:
        if target_id is not None and target_id.isdigit():
            held.setdefault(int(target_id), {}).update(_statements(event_type, detail or {}))
    rows = session.execute(select(UserRole.user_id, UserRole.role).order_by(UserRole.user_id))
    return [
        RestoredRole(user_id, str(role))
        for user_id, role in rows
        if held.get(user_id, {}).get(str(role)) is False
    ]
