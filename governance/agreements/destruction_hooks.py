"""When an agreement closes, destroy the data that no other active agreement still covers,
and the partner cohort files uploaded under it.

The agreement closes when a privacy officer certifies destruction; this listener runs inside
that same transaction, so the agreement is never closed while its data survives unrecorded.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.destruction import CertifiedAgreement, destroy_uncovered
from governance.agreements.events import AgreementEvent
from governance.agreements.models import Agreement, AgreementStatus, AgreementVersion
from governance.datasets.cohort_model import CohortFile
from governance.identity.actors import Actor


def still_covered(session: Session, *, excluding: int) -> set[int]:
    """Datasets covered by the version in force of any other active agreement."""
    covered: set[int] = set()
    others = session.scalars(
        select(Agreement).where(
            Agreement.status == AgreementStatus.ACTIVE, Agreement.id != excluding
        )
    )
    for other in others:
        if other.current_version is not None:
            covered |= set(other.current_version.covered_dataset_ids)
    return covered


def destroy_on_close(
    session: Session,
    *,
    agreement: Agreement,
    event: AgreementEvent,
    previous_version: AgreementVersion | None,
    new_version: AgreementVersion | None,
    by: Actor,
    now: dt.datetime,
) -> None:
    if event != AgreementEvent.CLOSED:
        return
    version = new_version or previous_version or agreement.current_version
    if version is None:
        return
    uncovered = set(version.covered_dataset_ids) - still_covered(session, excluding=agreement.id)
    # The partner's cohort files were shared for this agreement alone: they go with it, and
    # the certificate lists them.
    cohorts = list(
        session.scalars(
            select(CohortFile)
            .where(CohortFile.agreement_id == agreement.id, CohortFile.destroyed_at.is_(None))
            .order_by(CohortFile.id)
        )
    )
    if uncovered or cohorts:
        destroy_uncovered(
            session,
            dataset_ids=uncovered,
            by=by,
            now=now,
            agreement_id=agreement.id,
            agreement=CertifiedAgreement(
                reference=agreement.reference,
                provider=agreement.provider.name,
                recipient=agreement.recipient.name,
                statement=agreement.destruction_statement or "",
            ),
            cohorts=cohorts,
        )
