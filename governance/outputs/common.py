"""Steps every output action shares: who is who for an output (its team, the provider's
partner reviewers), the permission and state checks in the order the conventions require, and
the one function through which output changes reach the audit trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.agreements.common import actor_key
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Role, rules
from governance.identity.actors import Actor, System
from governance.identity.models import User, UserRole
from governance.kernel.errors import NotFound, PermissionDenied
from governance.outputs.lifecycle import EVENT_TYPES, RULES, Action
from governance.outputs.models import Output

__all__ = ["EVENT_TYPES", "actor_key"]


def record_output_event(
    session: Session,
    event_type: AuditType,
    *,
    by: Actor,
    output: Output,
    detail: dict[str, Any] | None = None,
) -> None:
    """The one place output changes reach the audit trail."""
    session.flush()
    audit.record(
        session,
        event_type,
        by=by,
        agreement_id=output.agreement_id,
        agreement_version=output.agreement_version,
        target_type="output",
        target_id=output.id,
        detail={"reference": output.reference, "revision": output.revision, **(detail or {})},
    )


def refusal(
    event_type: AuditType, output_id: int, output: Output | None, rule: str | None = None
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "event_type": event_type,
        "target_type": "output",
        "target_id": output_id,
    }
    if output is not None:
        fields.update(agreement_id=output.agreement_id, agreement_version=output.agreement_version)
    if rule:
        fields["rule"] = rule
    return fields


def get_output(session: Session, output_id: int) -> Output:
    output = session.get(Output, output_id)
    if output is None:
        raise NotFound(f"There is no output {output_id}.")
    return output


def authorise(by: Actor, action: Action, output_id: int, output: Output | None) -> None:
    """403 (recorded as a denied event of the action's type) unless `by` may take it."""
    rule = RULES[action]
    if rule.permission is None:
        if not isinstance(by, System):
            raise PermissionDenied(
                f"{action.value} happens on its own; nobody takes it.",
                audit=refusal(
                    EVENT_TYPES[action], output_id, output, f"automatic-only:{action.value}"
                ),
            )
        return
    authz.require(by, rule.permission, audit=refusal(EVENT_TYPES[action], output_id, output))


def start(session: Session, action: Action, output_id: int, by: Actor) -> Output:
    """Permission first (403), then existence (404). Callers then check who they are for this
    output (403) and then the lifecycle table for the state (409)."""
    audit.take_writer_lock(session)  # concurrent changes of one output run one at a time
    output = session.get(Output, output_id, populate_existing=True)
    authorise(by, action, output_id, output)
    if output is None:
        raise NotFound(f"There is no output {output_id}.")
    return output


def is_team(by: Actor, output: Output) -> bool:
    """The analyst who produced the output or the agreement's personnel (see authz.rules)."""
    return rules.project_team(by, output)


def is_partner(by: Actor, output: Output) -> bool:
    """A partner reviewer of the agreement's provider organisation (see authz.rules)."""
    return rules.partner_of_provider(by, output)


def is_checker(by: Actor) -> bool:
    return authz.can(by, authz.Permission.OUTPUT_CHECK)


def is_independent(by: Actor, output: Output) -> bool:
    """Neither a contributor to the output nor named in its agreement's personnel (see
    authz.rules): who may check it, decide the provider's flags on it, or publish it."""
    return rules.independent_of_the_project(
        by, output.agreement, output.agreement_version, output.contributors, actor_key(by)
    )


def require_independent(by: Actor, action: Action, output: Output) -> None:
    rules.require(
        rules.independent_of_the_project,
        by,
        output.agreement,
        output.agreement_version,
        output.contributors,
        actor_key(by),
        message="You produced or corrected this output, or are named in the personnel of "
        f"agreement {output.agreement.reference}: someone independent of the project must "
        f"{VERB[action]} it (separation of duties).",
        audit=refusal(EVENT_TYPES[action], output.id, output),
    )


VERB = {
    Action.CHECK_APPROVE: "check",
    Action.CHECK_RETURN: "check",
    Action.RESOLVE: "decide the flags on",
    Action.PUBLISH: "publish",
}


def require_team(by: Actor, action: Action, output: Output) -> None:
    rules.require(
        rules.project_team,
        by,
        output,
        message="Only the analyst who produced this output, or the agreement's "
        "personnel, may do that.",
        audit=refusal(EVENT_TYPES[action], output.id, output),
    )


def require_partner(by: Actor, action: Action, output: Output) -> None:
    rules.require(
        rules.partner_of_provider,
        by,
        output,
        message="Only the partner reviewers of the agency that provided the data "
        f"({output.agreement.provider.name}) preview this output.",
        audit=refusal(EVENT_TYPES[action], output.id, output),
    )


def partner_reviewers(session: Session, output: Output) -> list[User]:
    """Active people of the agreement's provider organisation who may preview outputs."""
    roles = [r.value for r in Role if authz.can(_RoleHolder(r), authz.Permission.OUTPUT_PREVIEW)]
    return list(
        session.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(
                UserRole.role.in_(roles),
                User.organization_id == output.agreement.provider_id,
                User.active.is_(True),
            )
            .distinct()
            .order_by(User.id)
        )
    )


def checkers(session: Session) -> list[User]:
    """Active people holding a role with `output:check`."""
    roles = [r.value for r in Role if authz.can(_RoleHolder(r), authz.Permission.OUTPUT_CHECK)]
    return list(
        session.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role.in_(roles), User.active.is_(True))
            .distinct()
            .order_by(User.id)
        )
    )


def privacy_officers(session: Session) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == Role.PRIVACY_OFFICER, User.active.is_(True))
            .order_by(User.id)
        )
    )


def team(session: Session, output: Output) -> list[User]:
    """The producer and the personnel of the version in force (else the output's version)."""
    people: dict[int, User] = {}
    version = output.agreement.current_version or output.version
    for person in version.personnel:
        if person.user.active:
            people[person.user_id] = person.user
    if output.produced_by_id is not None:
        producer = session.get(User, output.produced_by_id)
        if producer is not None and producer.active:
            people[producer.id] = producer
    return [people[key] for key in sorted(people)]


class _RoleHolder:
    """Asks the policy what one role may do."""

    def __init__(self, role: Role) -> None:
        self.role_set = frozenset({role})
        self.is_active = True
