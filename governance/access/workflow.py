"""The access request lifecycle, declared as data: which action moves which state where, with
the permission or object rule it needs and the audit event it writes."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from governance.access.models import AccessRequest, RequestStatus
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.kernel.errors import InvalidTransition
from governance.lifecycle import Lifecycle, Transition, refused_in_state


class Action(StrEnum):
    APPROVE = "approve"
    APPROVE_IDENTIFIERS = "approve identifiers"
    DENY = "deny"
    RETURN = "return for changes"
    RESUBMIT = "resubmit"
    WITHDRAW = "withdraw"
    COMMITTEE_APPROVE = "approve by committee"
    COMMITTEE_REJECT = "reject by committee"


_S = RequestStatus
_REVIEW = Permission.ACCESS_REQUEST_REVIEW
_SECOND = Permission.ACCESS_REQUEST_APPROVE_IDENTIFIERS
_STEWARD = "steward-of-dataset, not-own-request"
_OWN = "own-request"
# A committee's decision: its members' votes under its rule (committees/cases.py checks who may
# vote), not one person's permission.
_COMMITTEE = "committee-voter, not-recused, not-own-request"

TRANSITIONS: list[Transition[RequestStatus, Action]] = [
    Transition(
        _S.SUBMITTED,
        Action.APPROVE,
        _S.APPROVED,
        _REVIEW,
        AuditType.ACCESS_REQUEST_APPROVE,
        "no direct identifier is approved",
        _STEWARD,
    ),
    Transition(
        _S.SUBMITTED,
        Action.APPROVE,
        _S.AWAITING_PRIVACY_OFFICER,
        _REVIEW,
        AuditType.ACCESS_REQUEST_APPROVE,
        "a direct identifier is approved, or more records are unique than the agreement "
        "allows: a privacy officer approves too",
        _STEWARD,
    ),
    Transition(
        _S.SUBMITTED, Action.DENY, _S.DENIED, _REVIEW, AuditType.ACCESS_REQUEST_DENY, rule=_STEWARD
    ),
    Transition(
        _S.SUBMITTED,
        Action.RETURN,
        _S.RETURNED,
        _REVIEW,
        AuditType.ACCESS_REQUEST_RETURN,
        rule=_STEWARD,
    ),
    Transition(
        _S.SUBMITTED,
        Action.COMMITTEE_APPROVE,
        _S.APPROVED,
        None,
        AuditType.ACCESS_REQUEST_APPROVE,
        "the committee's rule is met, no direct identifier is approved and no more records "
        "are unique than the agreement allows",
        _COMMITTEE,
    ),
    Transition(
        _S.SUBMITTED,
        Action.COMMITTEE_APPROVE,
        _S.AWAITING_PRIVACY_OFFICER,
        None,
        AuditType.ACCESS_REQUEST_APPROVE,
        "the committee's rule is met and a direct identifier is approved, or more records are "
        "unique than the agreement allows: a privacy officer approves too",
        _COMMITTEE,
    ),
    Transition(
        _S.SUBMITTED,
        Action.COMMITTEE_REJECT,
        _S.DENIED,
        None,
        AuditType.ACCESS_REQUEST_DENY,
        "the committee's rule rejects it",
        _COMMITTEE,
    ),
    Transition(
        _S.SUBMITTED,
        Action.WITHDRAW,
        _S.WITHDRAWN,
        None,
        AuditType.ACCESS_REQUEST_WITHDRAW,
        rule=_OWN,
    ),
    Transition(
        _S.RETURNED,
        Action.RESUBMIT,
        _S.SUBMITTED,
        None,
        AuditType.ACCESS_REQUEST_SUBMIT,
        "eligibility is checked again",
        _OWN,
    ),
    Transition(
        _S.RETURNED,
        Action.WITHDRAW,
        _S.WITHDRAWN,
        None,
        AuditType.ACCESS_REQUEST_WITHDRAW,
        rule=_OWN,
    ),
    Transition(
        _S.AWAITING_PRIVACY_OFFICER,
        Action.APPROVE_IDENTIFIERS,
        _S.APPROVED,
        _SECOND,
        AuditType.ACCESS_REQUEST_APPROVE_IDENTIFIERS,
        rule="second-approver",
    ),
    Transition(
        _S.AWAITING_PRIVACY_OFFICER,
        Action.DENY,
        _S.DENIED,
        _SECOND,
        AuditType.ACCESS_REQUEST_DENY,
        rule="not-own-request",
    ),
    Transition(
        _S.AWAITING_PRIVACY_OFFICER,
        Action.WITHDRAW,
        _S.WITHDRAWN,
        None,
        AuditType.ACCESS_REQUEST_WITHDRAW,
        rule=_OWN,
    ),
]


def _refusal(
    request: Any, status: RequestStatus, action: Action, allowed: list[str]
) -> InvalidTransition:
    return refused_in_state("The request", status.label.lower(), action, allowed)


LIFECYCLE: Lifecycle[RequestStatus, Action] = Lifecycle(
    "access request",
    AccessRequest,
    RequestStatus,
    Action,
    TRANSITIONS,
    initial=[RequestStatus.SUBMITTED],
    refusal=_refusal,
)


def allowed_actions(status: RequestStatus) -> list[Action]:
    return LIFECYCLE.allowed_actions(status)


def check_transition(request: AccessRequest, action: Action) -> None:
    """409 unless the request's state allows the action; writes nothing."""
    LIFECYCLE.check(request, action)
