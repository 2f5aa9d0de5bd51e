"""Steps every output action shares: who sees an output and who is who for it (its team, the
provider's partner reviewers), the look-up, permission and state checks in the order the
conventions require, and the one function through which output changes reach the audit trail.

A person who may not see an output is answered exactly as for an id that names nothing (404,
the same words), whether they look it up, take its files or act on it, so that no answer tells
which output ids exist; both are recorded as a denied event of what they tried, the trail
telling them apart (`audit.lookup_refusal`). Someone who sees it but may not act is told so
(403)."""

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
from governance.outputs.lifecycle import EVENT_TYPES, PARTNER_SEES, RULES, Action, state_of
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


def can_view(by: Actor, output: Output) -> bool:
    """Checkers and privacy officers every output; the project team its outputs; the provider's
    partner reviewers their agency's outputs from the preview on."""
    if is_checker(by) or is_team(by, output):
        return True
    return is_partner(by, output) and state_of(output) in PARTNER_SEES


# Who sees an output (`can_view`), as the trail names the rule and as the person reads it.
VISIBILITY_RULE = "output-visibility"
WHO_SEES = (
    "Outputs are visible to checkers, the project team, and the data provider's partner "
    "reviewers from the preview on."
)


def get_visible(
    session: Session,
    output_id: int,
    *,
    by: Actor,
    event: AuditType = AuditType.OUTPUT_READ,
    fresh: bool = False,
) -> Output:
    """The output if `by` may see it, for `event` (looking at it, taking its files, or an
    action on it); else 404 worded as for an id that names nothing, recorded as a denied
    `event` either way. `fresh` reads the row again (a change after the writer lock)."""
    output = session.get(Output, output_id, populate_existing=fresh)
    if output is not None and can_view(by, output):
        return output
    raise audit.unseen(
        "output",
        output_id,
        event,
        hidden=None
        if output is None
        else {"agreement_id": output.agreement_id, "agreement_version": output.agreement_version},
        rule=VISIBILITY_RULE,
        who_sees=WHO_SEES,
    )


def authorise(by: Actor, action: Action, output: Output) -> None:
    """403 (recorded as a denied event of the action's type) unless `by` may take it."""
    rule = RULES[action]
    if rule.permission is None:
        if not isinstance(by, System):
            raise PermissionDenied(
                f"{action.value} happens on its own; nobody takes it.",
                audit=refusal(
                    EVENT_TYPES[action], output.id, output, f"automatic-only:{action.value}"
                ),
            )
        return
    authz.require(by, rule.permission, audit=refusal(EVENT_TYPES[action], output.id, output))


def look(
    session: Session, action: Action, output_id: int, by: Actor, *, fresh: bool = False
) -> Output:
    """The output as `by` sees it (404, recorded as the action's event, for someone who may
    not see it as for a missing id), then the permission (403). Callers then check who they
    are for this output (403) and then the lifecycle table for the state (409). Takes no
    lock: a page offering the action asks this, and the action asks again under `start`."""
    output = get_visible(session, output_id, by=by, event=EVENT_TYPES[action], fresh=fresh)
    authorise(by, action, output)
    return output


def start(session: Session, action: Action, output_id: int, by: Actor) -> Output:
    """`look` under the audit writer lock, the output read again after it, for the change."""
    audit.take_writer_lock(session)  # concurrent changes of one output run one at a time
    return look(session, action, output_id, by, fresh=True)


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
