"""Who may take each step on an access request, and in which of its states: the checks a step
makes before it changes anything, in one order.

The request is looked up as the caller sees it (404, recorded, worded as for an id that names
nothing: `visibility`), then the permission and object rules are asked (403, recorded), then
the lifecycle table (409). An endpoint whose form or body could be refused asks `check_step`
before reading it, so a refusal of who or when is never hidden behind one of what was sent;
the service asks `start_step` again under the row lock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from governance import authz
from governance.access.models import AccessRequest, RequestStatus
from governance.access.visibility import visible_request
from governance.access.workflow import Action, check_transition
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission, rules
from governance.datasets.models import Dataset
from governance.identity.actors import Actor
from governance.kernel.errors import InvalidTransition, NotFound


def get_request(session: Session, request_id: int) -> AccessRequest:
    request = session.get(AccessRequest, request_id)
    if request is None:
        raise NotFound(f"There is no access request {request_id}.")
    return request


def for_change(session: Session, request_id: int) -> AccessRequest:
    """The request, its row locked until the transaction ends, for a state change.

    Two stewards approving the same request at once on PostgreSQL (READ COMMITTED) both read
    it as waiting; without the lock both approvals committed and two grants were made (found
    by the load test, tests/reliability/test_load.py). With it the second waits, reads the
    committed state and is refused by `check_transition` (409). SQLite needs no row lock: its
    transactions begin IMMEDIATE, one writer at a time.
    """
    audit.take_writer_lock(session)  # the head first, then the row: one lock order
    request = session.get(AccessRequest, request_id, with_for_update=True, populate_existing=True)
    if request is None:
        raise NotFound(f"There is no access request {request_id}.")
    return request


def audit_fields(request: AccessRequest) -> dict[str, Any]:
    return {
        "target_type": "access_request",
        "target_id": request.id,
        "agreement_id": request.agreement_id,
        "dataset_id": request.dataset_id,
    }


def _reviewer(
    by: Actor, request: AccessRequest, permission: Permission, event: AuditType
) -> dict[str, Any]:
    """403 unless `by` holds `permission` and did not ask (nobody reviews their own request);
    the refusal, recorded as a denied `event`, is returned for the checks that follow."""
    refusal = {"event_type": event, **audit_fields(request)}
    authz.require(by, permission, audit=refusal)
    rules.require(
        rules.not_own_request,
        by,
        request,
        message="Nobody reviews their own request.",
        audit=refusal,
    )
    return refusal


def steward_of_request(
    session: Session, request: AccessRequest, by: Actor, event: AuditType, *, only: str
) -> Dataset:
    """The request's dataset if `by` reviews requests, is a steward of it and did not ask;
    otherwise 403, recorded as a refused `event` (`only` says who may)."""
    refusal = _reviewer(by, request, Permission.ACCESS_REQUEST_REVIEW, event)
    dataset = session.get(Dataset, request.dataset_id)
    rules.require(rules.steward_of_dataset, by, dataset, message=only, audit=refusal)
    assert dataset is not None  # the rule holds only for a dataset
    return dataset


def require_steward(
    session: Session, request: AccessRequest, by: Actor, event: AuditType
) -> Dataset:
    dataset = steward_of_request(
        session, request, by, event, only="Only a steward of this dataset reviews its requests."
    )
    if request.committee_id is not None:
        raise InvalidTransition(
            "A committee decides this request: its members vote on the committee's case page.",
            allowed=[],
        )
    return dataset


def _own(event: AuditType, message: str) -> Callable[[Session, AccessRequest, Actor], None]:
    def check(session: Session, request: AccessRequest, by: Actor) -> None:
        refusal = {"event_type": event, **audit_fields(request)}
        rules.require(rules.own_request, by, request, message=message, audit=refusal)

    return check


def _steward(event: AuditType) -> Callable[[Session, AccessRequest, Actor], None]:
    def check(session: Session, request: AccessRequest, by: Actor) -> None:
        require_steward(session, request, by, event)

    return check


def _second_approver(session: Session, request: AccessRequest, by: Actor) -> None:
    refusal = {"event_type": AuditType.ACCESS_REQUEST_APPROVE_IDENTIFIERS, **audit_fields(request)}
    authz.require(by, Permission.ACCESS_REQUEST_APPROVE_IDENTIFIERS, audit=refusal)
    rules.require(
        rules.second_approver,
        by,
        request,
        message="Direct identifiers need two different people: the steward and a "
        "privacy officer who is neither steward nor requester.",
        audit=refusal,
    )


def _denier(session: Session, request: AccessRequest, by: Actor) -> None:
    """The steward; at the second approval, a privacy officer who did not ask."""
    if request.status != RequestStatus.AWAITING_PRIVACY_OFFICER:
        require_steward(session, request, by, AuditType.ACCESS_REQUEST_DENY)
        return
    _reviewer(
        by, request, Permission.ACCESS_REQUEST_APPROVE_IDENTIFIERS, AuditType.ACCESS_REQUEST_DENY
    )


def _risk_counter(session: Session, request: AccessRequest, by: Actor) -> None:
    steward_of_request(
        session,
        request,
        by,
        AuditType.ACCESS_REQUEST_RISK_RECOMPUTE,
        only="Only a steward of this dataset asks for its requests' figures again.",
    )
    if request.status == RequestStatus.WITHDRAWN:
        raise InvalidTransition("This request was withdrawn: there is nothing to count.")


@dataclass(frozen=True)
class Step:
    """A step a person takes on a request: the event it records (and a refusal of it), who
    may take it (403), and the lifecycle action whose table says when (409; None: any state
    the rule allows)."""

    event: AuditType
    may: Callable[[Session, AccessRequest, Actor], None]
    action: Action | None


# By the name the pages and the API give each step.
STEPS = {
    "approve": Step(
        AuditType.ACCESS_REQUEST_APPROVE, _steward(AuditType.ACCESS_REQUEST_APPROVE), Action.APPROVE
    ),
    "approve-identifiers": Step(
        AuditType.ACCESS_REQUEST_APPROVE_IDENTIFIERS, _second_approver, Action.APPROVE_IDENTIFIERS
    ),
    "deny": Step(AuditType.ACCESS_REQUEST_DENY, _denier, Action.DENY),
    "return": Step(
        AuditType.ACCESS_REQUEST_RETURN, _steward(AuditType.ACCESS_REQUEST_RETURN), Action.RETURN
    ),
    "resubmit": Step(
        AuditType.ACCESS_REQUEST_SUBMIT,
        _own(
            AuditType.ACCESS_REQUEST_SUBMIT,
            "Only the person who asked can change a returned request.",
        ),
        Action.RESUBMIT,
    ),
    "withdraw": Step(
        AuditType.ACCESS_REQUEST_WITHDRAW,
        _own(
            AuditType.ACCESS_REQUEST_WITHDRAW, "Only the person who asked can withdraw a request."
        ),
        Action.WITHDRAW,
    ),
    "risk": Step(AuditType.ACCESS_REQUEST_RISK_RECOMPUTE, _risk_counter, None),
}


def _checked(session: Session, step: Step, request: AccessRequest, by: Actor) -> AccessRequest:
    step.may(session, request, by)
    if step.action is not None:
        check_transition(request, step.action)
    return request


def check_step(session: Session, name: str, request_id: int, by: Actor) -> AccessRequest:
    """404, 403 or 409 for the step `name` on the request, in that order; changes nothing."""
    step = STEPS[name]
    request = visible_request(session, request_id, by, event=step.event)
    return _checked(session, step, request, by)


def start_step(session: Session, name: str, request_id: int, by: Actor) -> AccessRequest:
    """`check_step` with the request's row locked (`for_change`), for the step's change."""
    step = STEPS[name]
    visible_request(session, request_id, by, event=step.event)
    return _checked(session, step, for_change(session, request_id), by)
