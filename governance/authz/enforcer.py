"""Loads the Casbin model and the static role rules from policies/, refusing to start on error.

Role rules are few and static, so each (role, permission) pair is decided by Casbin once at
load time. Data-access decisions need a Casbin evaluation per request; see decision.py.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import casbin

from governance.authz.permissions import Permission
from governance.authz.roles import Role

DEFAULT_POLICY_DIR = Path(__file__).resolve().parent.parent.parent / "policies"
ROLE_CONTEXT = "2"


class PolicyError(Exception):
    """The policy files are missing, unreadable or inconsistent; the service must not start."""


class CompiledMatcherEnforcer(casbin.Enforcer):  # type: ignore[misc]
    """A Casbin enforcer that compiles its matcher once instead of on every request.

    Plain pycasbin parses the matcher expression on every call, which costs more than the
    evaluation itself. The expression depends only on the model, so one parse serves all
    calls. Instances are not shared between threads: pycasbin's evaluator keeps per-call
    state on the expression object.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._compiled: dict[str, Any] = {}
        super().__init__(*args, **kwargs)

    def _get_expression(self, expr: str, functions: Any = None) -> Any:
        compiled = self._compiled.get(expr)
        if compiled is None:
            compiled = casbin.Enforcer._get_expression(expr, functions)
            self._compiled[expr] = compiled
        return compiled

    def enforce_lines(
        self, lines: Sequence[Sequence[str]], *request: str
    ) -> tuple[bool, list[str]]:
        """Casbin's decision over exactly these policy lines (the candidates for a request).

        The lines replace the model's policy for this one call; Casbin's own `enforce_ex`
        then evaluates the model's matcher and effect over them and names the line that
        allowed the request.
        """
        self.model["p"]["p"].policy = [list(line) for line in lines]
        allowed, explanation = self.enforce_ex(*request)
        return bool(allowed), list(explanation)


@dataclass(frozen=True)
class Policy:
    directory: Path
    role_permissions: dict[Role, frozenset[Permission]]

    @property
    def model_path(self) -> Path:
        return self.directory / "model.conf"

    def permissions_of(self, roles: set[Role] | frozenset[Role]) -> frozenset[Permission]:
        granted: set[Permission] = set()
        for role in roles:
            granted |= self.role_permissions.get(role, frozenset())
        return frozenset(granted)


def load_policy(directory: Path = DEFAULT_POLICY_DIR) -> Policy:
    model_path = directory / "model.conf"
    roles_path = directory / "roles.csv"
    for path in (model_path, roles_path):
        if not path.is_file():
            raise PolicyError(f"Policy file {path} is missing; refusing to start.")
    try:
        enforcer = casbin.Enforcer(str(model_path), str(roles_path))
        rules = enforcer.get_named_policy("p2")
    except Exception as exc:  # pycasbin raises bare exceptions of many kinds on bad files
        raise PolicyError(f"Policy files in {directory} cannot be loaded: {exc}") from exc
    if not rules:
        raise PolicyError(f"{roles_path} grants no permission to any role; refusing to start.")
    _check_rules(rules, roles_path)
    context = enforcer.new_enforce_context(ROLE_CONTEXT)
    role_permissions = {
        role: frozenset(p for p in Permission if enforcer.enforce(context, role.value, p.value))
        for role in Role
    }
    return Policy(directory=directory, role_permissions=role_permissions)


def _check_rules(rules: list[list[str]], source: Path) -> None:
    roles = {r.value for r in Role}
    permissions = {p.value for p in Permission}
    for rule in rules:
        if len(rule) != 2 or rule[0] not in roles or rule[1] not in permissions:
            raise PolicyError(
                f"{source}: rule {', '.join(rule)!r} names an unknown role or permission."
            )


_local = threading.local()


def data_enforcer(policy: Policy) -> CompiledMatcherEnforcer:
    """This thread's enforcer for data decisions (pycasbin's matcher is not thread-safe)."""
    enforcer: CompiledMatcherEnforcer | None = getattr(_local, "enforcer", None)
    if enforcer is None or getattr(_local, "directory", None) != policy.directory:
        enforcer = CompiledMatcherEnforcer(casbin.Enforcer.new_model(str(policy.model_path)))
        _local.enforcer = enforcer
        _local.directory = policy.directory
    return enforcer
