"""Agreements as people name them: by reference (DUA-2026-001), for the audit trail's
sentences and filters (installed into `audit.directory` by the registry)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement


def references_by_id(session: Session, agreement_ids: Sequence[int]) -> dict[int, str]:
    rows = session.execute(
        select(Agreement.id, Agreement.reference).where(Agreement.id.in_(list(agreement_ids)))
    )
    return {row[0]: row[1] for row in rows}
