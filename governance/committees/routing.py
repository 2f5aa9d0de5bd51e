"""Which committee decides a request, and opening its case when the request is submitted.

Precedence: the agreement's committee, else the dataset's, else the committee of the
organisation that provides the dataset; none of them named: the dataset's steward decides
alone, as before. The most specific body wins because an agreement can be stricter than the
provider's general practice (a consortium's own committee for its project).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access.models import AccessRequest
from governance.audit import service as audit
from governance.audit.models import AuditType
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
        agreement_id=request.agreement_id,
        dataset_id=request.dataset_id,
        detail={
            "committee": committee.name,
            "request_id": request.id,
            "rule": str(committee.rule),
            "deadline": case.deadline.isoformat(),
        },
        now=now,
    )
    return committee.id
