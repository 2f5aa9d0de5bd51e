"""The agreement lifecycle, declared as data in one place: states, actions, who may take each
action and where it leads. Services consult it; docs/agreement-lifecycle.md is generated from
it (`python -m governance.agreements.lifecycle`) and a test keeps the two in step.

An active agreement changes only by amendment. While an amendment is drafted, reviewed or
waits for the provider's countersignature the agreement is still active under the version in
force; the workflow state says which step the amendment is at ("active: amendment in draft"),
so one table covers both. An approved amendment binds the provider, and governs reads, analyses
and outputs, only once the provider has countersigned it (`execute`), as the first version did.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from governance.agreements.models import Agreement, AgreementStatus, AgreementVersion, VersionStatus
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.kernel.errors import InvalidTransition
from governance.lifecycle import Lifecycle, Transition, refused_in_state


class State(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    EXECUTED = "executed"
    ACTIVE = "active"
    AMENDMENT_DRAFT = "active: amendment in draft"
    AMENDMENT_SUBMITTED = "active: amendment submitted"
    AMENDMENT_APPROVED = "active: amendment approved"
    EXPIRED = "expired"
    TERMINATED = "terminated"
    CLOSED = "closed"


class Action(StrEnum):
    EDIT = "edit"
    SUBMIT = "submit"
    RETURN = "return"
    APPROVE = "approve"
    EXECUTE = "execute"
    ACTIVATE = "activate"
    AMEND = "amend"
    DISCARD_AMENDMENT = "discard_amendment"
    EXPIRE = "expire"
    TERMINATE = "terminate"
    CERTIFY_DESTRUCTION = "certify_destruction"
    CLOSE = "close"


@dataclass(frozen=True)
class Rule:
    """Who may take an action. `permission` None means only the scheduler takes it."""

    permission: Permission | None
    who: str
    note: str = ""


RULES: dict[Action, Rule] = {
    Action.EDIT: Rule(Permission.AGREEMENT_DRAFT, "privacy officer"),
    Action.SUBMIT: Rule(
        Permission.AGREEMENT_DRAFT, "privacy officer", "Every clause must be complete."
    ),
    Action.RETURN: Rule(
        Permission.AGREEMENT_REVIEW,
        "privacy officer",
        "A comment saying what to change is required.",
    ),
    Action.APPROVE: Rule(
        Permission.AGREEMENT_REVIEW,
        "privacy officer",
        "Not one who drafted, edited or submitted this version. An approved amendment waits "
        "for the provider's countersignature; the version in force stays in force.",
    ),
    Action.EXECUTE: Rule(
        Permission.AGREEMENT_EXECUTE,
        "privacy officer",
        "Records the provider's countersignature: signatory (one the terms name for the "
        "provider), title, organisation (the provider), date signed (from the approval to "
        "today) and the reference of the signed copy. No agreement becomes active, and no "
        "amendment takes effect, without it: a countersigned amendment replaces the version "
        "in force at once, applying the impact the officer was shown then (409 with the new "
        "impact if it changed).",
    ),
    Action.ACTIVATE: Rule(
        None,
        "scheduler",
        "At the start of the effective date (UTC), once executed; at execution if it has "
        "already come.",
    ),
    Action.AMEND: Rule(
        Permission.AGREEMENT_DRAFT,
        "privacy officer",
        "A reason is required; the approved version stays in force.",
    ),
    Action.DISCARD_AMENDMENT: Rule(
        Permission.AGREEMENT_DRAFT,
        "privacy officer",
        "Withdraws the amendment in draft, or an approved one the provider declined to sign; "
        "the version in force stays.",
    ),
    Action.EXPIRE: Rule(
        None, "scheduler", "At the end of the expiry date (UTC); a pending amendment is discarded."
    ),
    Action.TERMINATE: Rule(
        Permission.AGREEMENT_TERMINATE,
        "privacy officer",
        "A reason is required; a pending amendment is discarded.",
    ),
    Action.CERTIFY_DESTRUCTION: Rule(
        Permission.AGREEMENT_CERTIFY_DESTRUCTION,
        "privacy officer",
        "Destroys the stored data and attachments and issues the certificate; once.",
    ),
    Action.CLOSE: Rule(
        Permission.AGREEMENT_CERTIFY_DESTRUCTION,
        "privacy officer",
        "Every close-out item must hold (final report accepted, outputs listed, grants "
        "ended, downloads attested destroyed, stored data destroyed, certificate issued); "
        "else 409 naming the unmet items.",
    ),
}

TRANSITIONS: dict[tuple[State, Action], State] = {
    (State.DRAFT, Action.EDIT): State.DRAFT,
    (State.DRAFT, Action.SUBMIT): State.SUBMITTED,
    (State.SUBMITTED, Action.RETURN): State.DRAFT,
    (State.SUBMITTED, Action.APPROVE): State.APPROVED,
    (State.APPROVED, Action.EXECUTE): State.EXECUTED,
    (State.APPROVED, Action.TERMINATE): State.TERMINATED,
    (State.EXECUTED, Action.ACTIVATE): State.ACTIVE,
    (State.EXECUTED, Action.TERMINATE): State.TERMINATED,
    (State.ACTIVE, Action.AMEND): State.AMENDMENT_DRAFT,
    (State.ACTIVE, Action.EXPIRE): State.EXPIRED,
    (State.ACTIVE, Action.TERMINATE): State.TERMINATED,
    (State.AMENDMENT_DRAFT, Action.EDIT): State.AMENDMENT_DRAFT,
    (State.AMENDMENT_DRAFT, Action.SUBMIT): State.AMENDMENT_SUBMITTED,
    (State.AMENDMENT_DRAFT, Action.DISCARD_AMENDMENT): State.ACTIVE,
    (State.AMENDMENT_DRAFT, Action.EXPIRE): State.EXPIRED,
    (State.AMENDMENT_DRAFT, Action.TERMINATE): State.TERMINATED,
    (State.AMENDMENT_SUBMITTED, Action.RETURN): State.AMENDMENT_DRAFT,
    (State.AMENDMENT_SUBMITTED, Action.APPROVE): State.AMENDMENT_APPROVED,
    (State.AMENDMENT_SUBMITTED, Action.EXPIRE): State.EXPIRED,
    (State.AMENDMENT_SUBMITTED, Action.TERMINATE): State.TERMINATED,
    (State.AMENDMENT_APPROVED, Action.EXECUTE): State.ACTIVE,
    (State.AMENDMENT_APPROVED, Action.DISCARD_AMENDMENT): State.ACTIVE,
    (State.AMENDMENT_APPROVED, Action.EXPIRE): State.EXPIRED,
    (State.AMENDMENT_APPROVED, Action.TERMINATE): State.TERMINATED,
    (State.EXPIRED, Action.CERTIFY_DESTRUCTION): State.EXPIRED,
    (State.TERMINATED, Action.CERTIFY_DESTRUCTION): State.TERMINATED,
    (State.EXPIRED, Action.CLOSE): State.CLOSED,
    (State.TERMINATED, Action.CLOSE): State.CLOSED,
}


EVENT_TYPES = {
    Action.EDIT: AuditType.AGREEMENT_UPDATE,
    Action.SUBMIT: AuditType.AGREEMENT_SUBMIT,
    Action.RETURN: AuditType.AGREEMENT_RETURN,
    Action.APPROVE: AuditType.AGREEMENT_APPROVE,
    Action.EXECUTE: AuditType.AGREEMENT_EXECUTE,
    Action.ACTIVATE: AuditType.AGREEMENT_ACTIVATE,
    Action.AMEND: AuditType.AGREEMENT_AMEND,
    Action.DISCARD_AMENDMENT: AuditType.AGREEMENT_DISCARD_AMENDMENT,
    Action.EXPIRE: AuditType.AGREEMENT_EXPIRE,
    Action.TERMINATE: AuditType.AGREEMENT_TERMINATE,
    Action.CERTIFY_DESTRUCTION: AuditType.AGREEMENT_CERTIFY_DESTRUCTION,
    Action.CLOSE: AuditType.AGREEMENT_CLOSE,
}


_AMENDMENT_STEP = {
    VersionStatus.DRAFT: State.AMENDMENT_DRAFT,
    VersionStatus.SUBMITTED: State.AMENDMENT_SUBMITTED,
    VersionStatus.AWAITING_SIGNATURE: State.AMENDMENT_APPROVED,
}


def state_of(agreement: Agreement) -> State:
    status = AgreementStatus(agreement.status)
    working = agreement.working_version
    if status == AgreementStatus.ACTIVE and working is not None:
        return _AMENDMENT_STEP[VersionStatus(working.status)]
    return State(status.value)


def allowed_actions(state: State) -> list[Action]:
    return [action for (source, action) in TRANSITIONS if source == state]


def _refusal(agreement: Any, state: State, action: Action, allowed: list[str]) -> InvalidTransition:
    return refused_in_state(f"Agreement {agreement.reference}", state.value, action, allowed)


# An agreement being amended is stored as active: its working version says which step the
# amendment is at (`state_of`).
_STORED = {
    state: AgreementStatus.ACTIVE
    if state in _AMENDMENT_STEP.values()
    else AgreementStatus(state.value)
    for state in State
}

LIFECYCLE: Lifecycle[State, Action] = Lifecycle(
    "agreement",
    Agreement,
    State,
    Action,
    [
        Transition(
            source,
            action,
            target,
            RULES[action].permission,
            EVENT_TYPES[action],
            RULES[action].note,
        )
        for (source, action), target in TRANSITIONS.items()
    ],
    initial=[State.DRAFT],
    state_of=state_of,
    stored=_STORED,
    refusal=_refusal,
)


def target_of(agreement: Agreement, action: Action) -> State:
    """Where the action leads from the agreement's state; 409 naming the allowed actions if
    the state does not allow it."""
    return LIFECYCLE.check(agreement, action)[0].target


class VersionAction(StrEnum):
    SUBMIT = "submit"
    RETURN = "return"
    APPROVE = "approve"
    COUNTERSIGN = "countersign"
    SUPERSEDE = "supersede"
    DISCARD = "discard"


_V = VersionStatus
# A version changes only as part of its agreement's transition, whose event records it.
VERSION_LIFECYCLE: Lifecycle[VersionStatus, VersionAction] = Lifecycle(
    "agreement version",
    AgreementVersion,
    VersionStatus,
    VersionAction,
    [
        Transition(_V.DRAFT, VersionAction.SUBMIT, _V.SUBMITTED, None, None, "agreement: submit"),
        Transition(_V.SUBMITTED, VersionAction.RETURN, _V.DRAFT, None, None, "agreement: return"),
        Transition(
            _V.SUBMITTED,
            VersionAction.APPROVE,
            _V.APPROVED,
            None,
            None,
            "agreement: approve (a first version)",
        ),
        Transition(
            _V.SUBMITTED,
            VersionAction.APPROVE,
            _V.AWAITING_SIGNATURE,
            None,
            None,
            "agreement: approve (an amendment)",
        ),
        Transition(
            _V.AWAITING_SIGNATURE,
            VersionAction.COUNTERSIGN,
            _V.APPROVED,
            None,
            None,
            "agreement: execute (an amendment)",
        ),
        Transition(
            _V.APPROVED,
            VersionAction.SUPERSEDE,
            _V.SUPERSEDED,
            None,
            None,
            "agreement: execute (an amendment)",
        ),
        Transition(
            _V.DRAFT,
            VersionAction.DISCARD,
            _V.DISCARDED,
            None,
            None,
            "agreement: discard_amendment, expire or terminate",
        ),
        Transition(
            _V.SUBMITTED,
            VersionAction.DISCARD,
            _V.DISCARDED,
            None,
            None,
            "agreement: expire or terminate",
        ),
        Transition(
            _V.AWAITING_SIGNATURE,
            VersionAction.DISCARD,
            _V.DISCARDED,
            None,
            None,
            "agreement: discard_amendment, expire or terminate",
        ),
    ],
    initial=[_V.DRAFT],
)


def lifecycle_markdown() -> str:
    """The state x action table and the rules, for a privacy officer to review."""
    actions = list(Action)
    lines = [
        "# Agreement lifecycle",
        "",
        "Generated from `governance/agreements/lifecycle.py` by",
        "`python -m governance.agreements.lifecycle > docs/agreement-lifecycle.md`;",
        "a test fails if this file and the code disagree. Each cell names the state the",
        "action leads to; a dash means the action is refused (409) in that state.",
        "",
        "| state | " + " | ".join(a.value for a in actions) + " |",
        "| --- | " + " | ".join("---" for _ in actions) + " |",
    ]
    for state in State:
        cells = [TRANSITIONS.get((state, a)) for a in actions]
        lines.append(
            f"| {state.value} | " + " | ".join(c.value if c else "-" for c in cells) + " |"
        )
    lines += [
        "",
        "## Who may act",
        "",
        "| action | permission | who | rule |",
        "| --- | --- | --- | --- |",
    ]
    for action, rule in RULES.items():
        permission = f"`{rule.permission.value}`" if rule.permission else "(none: scheduled)"
        lines.append(f"| {action.value} | {permission} | {rule.who} | {rule.note} |")
    lines += [
        "",
        "A person without the permission is refused with 403, and the refusal is "
        "recorded in the audit trail; so is an approval by someone who drafted, edited "
        "or submitted the version.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(lifecycle_markdown(), end="")
