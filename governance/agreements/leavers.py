"""A leaver comes off the personnel list of every agreement still in force or in preparation.

Closed, terminated and expired agreements keep their lists as they were signed (the record of
who was authorised then). Each removal is an audit event on the agreement naming the source
(SCIM, or an identity provider), so the principal investigator and the privacy officer see why
the person is gone; the person's grants then end by the personnel condition
(access/obligation_conditions.py) when access recomputes them in the same transaction.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement, AgreementStatus, AgreementVersion
from governance.agreements.parts_model import Personnel
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.identity.actors import Actor

FINISHED = (AgreementStatus.CLOSED, AgreementStatus.TERMINATED, AgreementStatus.EXPIRED)


def remove_leaver(
    session: Session, user_id: int, *, by: Actor, now: dt.datetime, source: str
) -> int:
    """Take the person off the personnel of every unfinished agreement's versions; returns how
    many lists they were taken off."""
    versions = session.scalars(
        select(AgreementVersion)
        .join(Agreement, Agreement.id == AgreementVersion.agreement_id)
        .join(Personnel, Personnel.version_id == AgreementVersion.id)
        .where(Personnel.user_id == user_id, Agreement.status.not_in(FINISHED))
        .order_by(AgreementVersion.agreement_id, AgreementVersion.id)
    ).unique()
    removed = 0
    for version in versions:
        role = version.personnel_role(user_id)
        version.personnel = [p for p in version.personnel if p.user_id != user_id]
        removed += 1
        audit.record(
            session,
            AuditType.AGREEMENT_PERSONNEL_REMOVE,
            by=by,
            agreement_id=version.agreement_id,
            agreement_version=version.number,
            target_type="user",
            target_id=user_id,
            now=now,
            detail={"source": source, "project_role": role, "reason": "leaver deactivated"},
        )
    session.flush()
    return removed
