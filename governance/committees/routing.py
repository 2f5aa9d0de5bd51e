"""Which committee decides a request, and opening its case when the request is submitted.

Precedence: the agreement's committee, else the dataset's, else the committee of the
organisation that provides the dataset; none of them named: the dataset's steward decides
alone, as before. The most specific body wins because an agreement can be stricter than the
provider's general practice (a consortium's own committee for its project).

An agreement's approvals follow the same precedence: the agreement's committee, else the
committee named by a dataset the version covers (the first by dataset id, when several name
one), else its provider organisation's; none named, the privacy officer approves alone, as
before.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access.models import AccessRequest
from governance.agreements.models import Agreement, AgreementVersion
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.committees.cases import parts, tally
from governance.committees.models import (
    Committee,
    CommitteeAssignment,
    CommitteeCase,
    SubjectType,
)
from governance.datasets.models import Dataset
from governance.identity.actors import System


def committee_for(session: Session, *, agreement_id: int, dataset_id: int) -> Committee | None:
    dataset = session.get(Dataset, dataset_id)
    subjects = [(SubjectType.AGREEMENT, agreement_id), (SubjectType.DATASET, dataset_id)]
    if dataset is not None:
        subjects.append((SubjectType.ORGANIZATION, dataset.provider_id))
    return _first_named(session, subjects)


def _first_named(session: Session, subjects: list[tuple[SubjectType, int]]) -> Committee | None:
    for subject_type, subject_id in subjects:
        committee_id = session.scalar(
            select(CommitteeAssignment.committee_id).where(
                CommitteeAssignment.subject_type == subject_type,
                CommitteeAssignment.subject_id == subject_id,
            )
        )
        if committee_id is not None:
            return session.get(Committee, committee_id)
    return None


def route_request(session: Session, request: AccessRequest, now: dt.datetime) -> int | None:
    """Open (or reopen, on resubmission) the request's case before its committee."""
    committee = committee_for(
        session, agreement_id=request.agreement_id, dataset_id=request.dataset_id
    )
    if committee is None:
        return None
    case = session.scalar(select(CommitteeCase).where(CommitteeCase.request_id == request.id))
    if case is None:
        case = CommitteeCase(request_id=request.id, opened_at=now, conditions={})
        session.add(case)
    _open(
        session,
        case,
        committee,
        now,
        agreement_id=request.agreement_id,
        dataset_id=request.dataset_id,
        detail={"request_id": request.id},
    )
    return committee.id


def _version_case(session: Session, agreement_id: int, number: int) -> CommitteeCase | None:
    return session.scalar(
        select(CommitteeCase).where(
            CommitteeCase.agreement_id == agreement_id, CommitteeCase.version_number == number
        )
    )


def route_version(
    session: Session, agreement: Agreement, version: AgreementVersion, now: dt.datetime
) -> None:
    """Open (or reopen, when a returned version is submitted again) the case on approving a
    submitted agreement version. A reopened case starts afresh: the earlier votes were on the
    text before its changes, so they stay as history and stop counting."""
    datasets = sorted({column.dataset_id for column in version.covered})
    committee = _first_named(
        session,
        [
            (SubjectType.AGREEMENT, agreement.id),
            *((SubjectType.DATASET, dataset_id) for dataset_id in datasets),
            (SubjectType.ORGANIZATION, agreement.provider_id),
        ],
    )
    if committee is None:
        return
    case = _version_case(session, agreement.id, version.number)
    if case is None:
        case = CommitteeCase(
            agreement_id=agreement.id, version_number=version.number, opened_at=now, conditions={}
        )
        session.add(case)
    else:
        for ballot in case.current_votes:
            ballot.superseded_at = now
        case.decision = None
        case.decided_at = None
        case.decided_by_id = None
        case.decided_alone = False
        case.decision_reason = ""
    _open(
        session,
        case,
        committee,
        now,
        agreement_id=agreement.id,
        agreement_version=version.number,
        detail={"agreement": agreement.reference, "version": version.number},
    )


def _open(
    session: Session,
    case: CommitteeCase,
    committee: Committee,
    now: dt.datetime,
    *,
    detail: dict[str, Any],
    **fields: Any,
) -> None:
    """Put the case before its committee with a fresh deadline, and record that it opened."""
    case.committee_id = committee.id
    case.opened_at = now
    case.deadline = now + dt.timedelta(days=committee.decision_days)
    session.flush()
    audit.record(
        session,
        AuditType.COMMITTEE_CASE_OPEN,
        by=System("committee routing"),
        target_type="committee_case",
        target_id=case.id,
        **fields,
        detail={
            "committee": committee.name,
            **detail,
            "rule": str(committee.rule),
            "deadline": case.deadline.isoformat(),
        },
        now=now,
    )


def approval_waiting(
    session: Session, agreement: Agreement, version: AgreementVersion
) -> str | None:
    """Why the privacy officer's approval of the version must wait: its committee has not
    approved it ("waiting on committee X: 1 of 3 votes"). None when no committee decides it
    or the committee approved."""
    case = _version_case(session, agreement.id, version.number)
    if case is None or case.decision == "approved":
        return None
    committee, subject = parts(session, case)
    counted = tally(committee, case, subject)
    return (
        f"Waiting on committee {committee.name} ({counted.cast} of {counted.eligible} votes: "
        f"{counted.reason}); the privacy officer approves once the committee has approved."
    )
