"""Why a read is refused when the holder's grant for the purpose has ended.

The grant index holds live grants only: once a grant is revoked or has expired, the decision
sees the holder's other grants and would say the column is granted "for another purpose", or
that no grant is held. The grant that ended is the reason, and the refusal says so.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import agreement_seals
from governance.access.models import LIVE_GRANT_STATUSES, Grant, GrantColumn, GrantStatus
from governance.authz.decision import (
    CLAUSE_NO_GRANT,
    CLAUSE_PURPOSE,
    DataRequest,
    Decision,
    decide,
)
from governance.datasets import seals as dataset_seals


def _tampered(session: Session, request: DataRequest) -> tuple[str, str, str] | None:
    """Why nothing is read, whatever the grants say, with the clause and rule: the agreement's
    terms fail their seal, or a column of the dataset fails its own (its class or declared
    lowest value may not be the one the service set: a direct identifier made ordinary)."""
    if not agreement_seals.holds(session, request.agreement_id):
        return (
            agreement_seals.refusal(request.agreement_id),
            agreement_seals.AGREEMENT_SEAL_CLAUSE,
            agreement_seals.AGREEMENT_SEAL_RULE,
        )
    if not dataset_seals.holds(session, request.dataset_id):
        return (
            dataset_seals.refusal(request.dataset_id),
            dataset_seals.COLUMN_SEAL_CLAUSE,
            dataset_seals.COLUMN_SEAL_RULE,
        )
    return None


def decide_explained(session: Session, request: DataRequest) -> Decision:
    """The one decision; a refusal for want of a grant for the purpose names the grant of
    the first refused column that ended last, when there is one. Nothing is allowed under
    an agreement whose terms fail their seal (access/agreement_seals.py): the decision says so
    whatever the grants say, since the grants were made under terms that may not be its own."""
    decision = decide(session, request)
    tampered = _tampered(session, request)
    if tampered is not None:
        reason, clause, rule = tampered
        return Decision(
            False,
            reason,
            clause,
            agreement_version=decision.agreement_version,
            denied_columns=request.columns,
            refused_by=rule,
        )
    if decision.allowed or decision.clause not in (CLAUSE_PURPOSE, CLAUSE_NO_GRANT):
        return decision
    if decision.refused_by:  # refused by a rule of its own (`grant-seal`), which says why
        return decision
    if not decision.denied_columns:  # no column named: the refusal is about the whole dataset
        return decision
    column = decision.denied_columns[0]
    ended = session.scalars(
        select(Grant)
        .join(GrantColumn, GrantColumn.grant_id == Grant.id)
        .where(
            Grant.user_id == request.user_id,
            Grant.agreement_id == request.agreement_id,
            Grant.dataset_id == request.dataset_id,
            Grant.purpose == request.purpose,
            Grant.status.not_in(LIVE_GRANT_STATUSES),
            Grant.ended_at.is_not(None),
            GrantColumn.column_name == column,
        )
        .order_by(Grant.ended_at.desc(), Grant.id.desc())
        .limit(1)
    ).first()
    if ended is None or ended.ended_at is None:
        return decision
    how = "was revoked" if ended.status == GrantStatus.REVOKED else "expired"
    why = f": {ended.end_reason}" if ended.end_reason else "."
    return dataclasses.replace(
        decision,
        reason=f"Your grant of column {column!r} for {request.purpose} (grant {ended.id}) "
        f"{how} on {ended.ended_at:%Y-%m-%d}{why}",
        clause=CLAUSE_NO_GRANT,
    )
