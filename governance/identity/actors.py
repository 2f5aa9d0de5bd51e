"""Who acts: a logged-in user, or the operator running a command on the host.

CLI commands (`governance init`, `create-user`, `demo`, `expire`) run with shell access to the
host and its instance/ keys, so they act as `System`, recorded in the audit trail by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from governance.authz.roles import Role
from governance.identity.models import User


@dataclass(frozen=True)
class System:
    """The host operator or a scheduled job; every workflow permission, no data grants."""

    label: str

    @property
    def id(self) -> None:
        return None

    @property
    def email(self) -> str:
        return f"system:{self.label}"

    @property
    def is_active(self) -> bool:
        return True

    @property
    def role_set(self) -> frozenset[Role]:
        return frozenset(Role)


Actor = User | System
