"""Agreements as people name them: by reference (DUA-2026-001), for the audit trail's
sentences and filters (installed into `audit.directory` by the registry)."""

from __future__ import annotations

from sqlalchemy import select

from governance.agreements.models import Agreement
from governance.kernel.one_of import one_of

# Built once with one parameter for the list (see identity.names): asked at every audit search.
REFERENCES_BY_ID = select(Agreement.id, Agreement.reference).where(
    one_of(Agreement.id, "agreement_ids")
)
