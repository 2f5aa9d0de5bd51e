"""The access request lifecycle, declared as data: which action moves which state where."""

from __future__ import annotations

from enum import StrEnum

from governance.access.models import AccessRequest, RequestStatus
from governance.kernel.errors import InvalidTransition


class Action(StrEnum):
    APPROVE = "approve"
    APPROVE_IDENTIFIERS = "approve identifiers"
    DENY = "deny"
    RETURN = "return for changes"
    RESUBMIT = "resubmit"
    WITHDRAW = "withdraw"


# (state, action) -> the state the action leads to. A steward's approval of direct
# identifiers leads to AWAITING_PRIVACY_OFFICER instead of APPROVED (see requests.py).
TRANSITIONS: dict[tuple[RequestStatus, Action], RequestStatus] = {
    (RequestStatus.SUBMITTED, Action.APPROVE): RequestStatus.APPROVED,
    (RequestStatus.SUBMITTED, Action.DENY): RequestStatus.DENIED,
    (RequestStatus.SUBMITTED, Action.RETURN): RequestStatus.RETURNED,
    (RequestStatus.SUBMITTED, Action.WITHDRAW): RequestStatus.WITHDRAWN,
    (RequestStatus.RETURNED, Action.RESUBMIT): RequestStatus.SUBMITTED,
    (RequestStatus.RETURNED, Action.WITHDRAW): RequestStatus.WITHDRAWN,
    (RequestStatus.AWAITING_PRIVACY_OFFICER, Action.APPROVE_IDENTIFIERS): RequestStatus.APPROVED,
    (RequestStatus.AWAITING_PRIVACY_OFFICER, Action.DENY): RequestStatus.DENIED,
    (RequestStatus.AWAITING_PRIVACY_OFFICER, Action.WITHDRAW): RequestStatus.WITHDRAWN,
}


def allowed_actions(status: RequestStatus) -> list[Action]:
    return [action for (state, action) in TRANSITIONS if state == status]


def check_transition(request: AccessRequest, action: Action) -> RequestStatus:
    status = RequestStatus(request.status)
    target = TRANSITIONS.get((status, action))
    if target is None:
        raise InvalidTransition(f"You cannot {action} a request that is "
                                f"{status.label.lower()}.",
                                allowed=[a.value for a in allowed_actions(status)])
    return target
