"""A request's research purpose as GA4GH DUO terms, matched against its dataset's conditions.

Checked when the request is submitted or resubmitted and again at approval (a steward may
have narrowed the conditions meanwhile). A purpose that cannot match is refused (422) with the
term that failed, by label and DUO id; the refusal is recorded in the audit trail. When the
dataset states no conditions a purpose is optional, and kept if given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from governance.access.models import AccessRequest
from governance.agreements.models import Agreement
from governance.audit.models import AuditType
from governance.datasets.data_use import conditions_of
from governance.datasets.data_use import described as dataset_described
from governance.datasets.duo.matching import Match, Purpose, match
from governance.datasets.duo.ontology import duo
from governance.datasets.duo.statements import (
    DECLARED_FLAGS,
    describe_purpose,
    purpose_from_record,
    purpose_record,
    read_purpose,
)
from governance.datasets.models import Dataset
from governance.identity.models import User
from governance.kernel.errors import ValidationFailed


def months_of_use(start: dt.date, end: dt.date) -> int:
    """The months a use from `start` to `end` lasts, a started month counting as one."""
    months = (end.year - start.year) * 12 + end.month - start.month
    return max(months + (1 if end.day > start.day else 0), 0)


def _known(
    session: Session, *, user: User, agreement_id: int, end_date: dt.date, now: dt.datetime
) -> dict[str, Any]:
    """What the service knows of a request that the modifiers check (not the requester's
    word): who asks, their organisation, the agreement (the project) and how long."""
    agreement = session.get(Agreement, agreement_id)
    return {
        "user": user.email,
        "institution": user.organization.name,
        "project": agreement.reference if agreement else "",
        "months": months_of_use(now.date(), end_date),
    }


def read_statement(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The DUO fields of a form or API body, as `read_purpose` takes them."""
    research = raw.get("research") or []
    return {
        "term": str(raw.get("term") or ""),
        "disease": str(raw.get("disease") or ""),
        "research": [str(r) for r in (research if isinstance(research, list) else [research])],
        "ethics_approval": str(raw.get("ethics_approval") or ""),
        "region": str(raw.get("region") or ""),
        "flags": {name: raw.get(name) in (True, "true", "on", "1", "y") for name in DECLARED_FLAGS},
    }


def check_purpose(
    session: Session,
    *,
    dataset: Dataset,
    agreement_id: int,
    statement: Mapping[str, Any] | None,
    end_date: dt.date,
    user: User,
    now: dt.datetime,
) -> dict[str, Any] | None:
    """The purpose's record to keep on the request, or a refusal naming the failed term."""
    conditions = conditions_of(dataset)
    if not statement or not str(statement.get("term") or "").strip():
        if conditions is None:
            return None
        raise ValidationFailed(
            f"{dataset.name} may be used only under its data-use conditions: state the "
            "research purpose as a DUO term.",
            {"duo_purpose": "Required for this dataset."},
        )
    ontology = duo()
    fields = read_statement(statement)
    known = _known(session, user=user, agreement_id=agreement_id, end_date=end_date, now=now)
    purpose = read_purpose(ontology, known=known, **fields)
    if conditions is not None:
        _refuse_unless_matches(
            match(ontology, conditions, purpose),
            purpose,
            dataset=dataset,
            agreement_id=agreement_id,
            user=user,
            event=AuditType.ACCESS_REQUEST_SUBMIT,
        )
    return purpose_record(purpose)


def _refuse_unless_matches(
    outcome: Match,
    purpose: Purpose,
    *,
    dataset: Dataset,
    agreement_id: int,
    user: User,
    event: AuditType,
) -> None:
    failed = outcome.failed
    if failed is None:
        return
    message = (
        f"The purpose does not fit the data-use conditions of {dataset.name}: "
        f"{failed.label} ({failed.term}) failed: {failed.reason}."
    )
    raise ValidationFailed(
        message,
        {"duo_purpose": f"{failed.label} ({failed.term})"},
        audit={
            "event_type": event,
            "target_type": "user",
            "target_id": user.id,
            "agreement_id": agreement_id,
            "dataset_id": dataset.id,
            "clause": "data_use",
            "detail": {
                "reason": f"{failed.label} ({failed.term}) failed: {failed.reason}",
                "failed_term": failed.term,
                "purpose": purpose.term,
                "ontology": f"DUO {duo().version}",
                "outcomes": [o.as_dict() for o in outcome.outcomes],
            },
        },
    )


def request_match(session: Session, request: AccessRequest) -> Match | None:
    """The purpose against the dataset's conditions as they are now (None when either is
    missing): the table on the review page."""
    dataset = session.get(Dataset, request.dataset_id)
    conditions = conditions_of(dataset) if dataset else None
    if conditions is None or not request.data_use:
        return None
    return match(duo(), conditions, _purpose(session, request))


def _purpose(session: Session, request: AccessRequest) -> Purpose:
    requester = session.get(User, request.requester_id)
    assert requester is not None  # a foreign key guarantees it
    assert request.data_use is not None
    known = _known(
        session,
        user=requester,
        agreement_id=request.agreement_id,
        end_date=request.end_date,
        now=request.submitted_at or request.created_at,
    )
    return purpose_from_record(request.data_use, known)


def recheck_at_decision(session: Session, request: AccessRequest, dataset: Dataset) -> None:
    """Refuse an approval whose purpose no longer fits the dataset's conditions (or gives
    none while the dataset now has some)."""
    conditions = conditions_of(dataset)
    if conditions is None:
        return
    requester = session.get(User, request.requester_id)
    assert requester is not None
    if not request.data_use:
        raise ValidationFailed(
            f"{dataset.name} now has data-use conditions and this request states no DUO "
            "purpose: return it to the requester.",
            {"duo_purpose": "Required for this dataset."},
        )
    purpose = _purpose(session, request)
    _refuse_unless_matches(
        match(duo(), conditions, purpose),
        purpose,
        dataset=dataset,
        agreement_id=request.agreement_id,
        user=requester,
        event=AuditType.ACCESS_REQUEST_APPROVE,
    )


def described(request: AccessRequest) -> dict[str, Any] | None:
    """The purpose with ids and labels (pages, API), or None when none was stated."""
    return describe_purpose(duo(), request.data_use) if request.data_use else None


def review_context(session: Session, request: AccessRequest | None) -> dict[str, Any]:
    """What the review pages (the steward's, the committee's case) show of DUO: the purpose,
    the dataset's conditions and the match table (templates' `data_use_match`)."""
    if request is None:
        return {"duo_purpose": None, "duo_conditions": None, "duo_match": None}
    dataset = session.get(Dataset, request.dataset_id)
    return {
        "duo_purpose": described(request),
        "duo_conditions": dataset_described(dataset) if dataset else None,
        "duo_match": request_match(session, request),
    }
