"""Agreements as people name them: by reference (DUA-2026-001), for the audit trail's
sentences and filters (installed into `audit.directory` by the registry)."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from governance.agreements.models import Agreement

# Built once with one expanding parameter (see identity.names): asked at every audit search.
REFERENCES_BY_ID = select(Agreement.id, Agreement.reference).where(
    Agreement.id.in_(bindparam("agreement_ids", expanding=True))
)
