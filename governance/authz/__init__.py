"""The only importer of casbin: workflow permissions (`can`, `require`) and data decisions.

Services call `require(by, Permission.X)` before acting; a failure is `PermissionDenied` (403).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from governance.authz.enforcer import DEFAULT_POLICY_DIR, Policy, PolicyError, load_policy
from governance.authz.permissions import APPROVAL_AND_AUDIT_POWERS, Permission

# Imported for its session listeners: every write to a table a read depends on bumps the
# policy epoch, in whichever process and by whichever code it is made.
from governance.authz.read_memo import WATCHED as WATCHED
from governance.authz.roles import Role
from governance.kernel.errors import PermissionDenied

__all__ = [
    "Permission",
    "Policy",
    "PolicyError",
    "Role",
    "can",
    "carries_powers",
    "current_policy",
    "install_policy",
    "require",
]

_policy: Policy | None = None


class Actor(Protocol):
    @property
    def role_set(self) -> frozenset[Role]: ...

    @property
    def is_active(self) -> bool: ...


def install_policy(directory: Path = DEFAULT_POLICY_DIR) -> Policy:
    """Load and validate the policy files; raises PolicyError so start-up fails closed."""
    global _policy
    _policy = load_policy(directory)
    return _policy


def current_policy() -> Policy:
    if _policy is None:
        return install_policy()
    return _policy


def can(user: Actor | None, permission: Permission) -> bool:
    if user is None or not user.is_active:
        return False
    return permission in current_policy().permissions_of(user.role_set)


def carries_powers(role: Role) -> bool:
    """Whether the role holds an approval or audit power (see APPROVAL_AND_AUDIT_POWERS), so
    that granting it needs a second administrator."""
    return bool(current_policy().permissions_of(frozenset({role})) & APPROVAL_AND_AUDIT_POWERS)


def require(
    user: Actor | None,
    permission: Permission,
    message: str | None = None,
    *,
    audit: Mapping[str, Any] | None = None,
) -> None:
    """Raise PermissionDenied (403) unless the user's roles hold the permission.

    `audit` describes the attempted action (event type, target...) so that the refusal is
    recorded as a denied event of that type.
    """
    if not can(user, permission):
        # A role whose stored row fails its seal (identity/seals.py) gives nothing; when such a
        # role would have allowed this, the refusal says so.
        broken: frozenset[Role] = getattr(user, "broken_roles", frozenset())
        rule = (
            f"role-seal:{permission.value}"
            if broken and permission in current_policy().permissions_of(broken)
            else f"role-permission:{permission.value}"
        )
        raise PermissionDenied(
            message or f"You need the {permission.value} permission: {permission.description}",
            audit={**(audit or {}), "rule": rule},
        )
