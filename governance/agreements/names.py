"""Agreements as people name them: by reference (DUA-2026-001), for the audit trail's
sentences and filters (installed into `audit.directory` by the registry)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement

# Built once with one expanding parameter (see identity.names): asked at every audit search.
_REFERENCES_BY_ID = select(Agreement.id, Agreement.reference).where(
    Agreement.id.in_(bindparam("ids", expanding=True))
)


def references_by_id(session: Session, agreement_ids: Sequence[int]) -> dict[int, str]:
    rows = session.execute(_REFERENCES_BY_ID, {"ids": list(agreement_ids)})
    return {row[0]: row[1] for row in rows}
