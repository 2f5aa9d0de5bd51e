"""When a privacy officer certifies the destruction of an ended agreement's data, destroy the
data that no other active agreement still covers, the partner cohort files uploaded under it
and the agreement's attachments, and issue the certificate listing them.

This listener runs inside the certifying transaction, so destruction is never certified while
the data survives unrecorded; the agreement closes afterwards, once its close-out holds.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements import attachments
from governance.agreements.destruction import CertifiedAgreement, destroy_uncovered
from governance.agreements.events import AgreementEvent
from governance.agreements.models import Agreement, AgreementStatus, AgreementVersion
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.datasets import datastore
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


def active_covering(session: Session, dataset_id: int) -> set[int]:
    """The active agreements whose version in force covers the dataset (a new version's key
    is wrapped for each: datastore/agreement_keys.py)."""
    return {
        a.id
        for a in session.scalars(
            select(Agreement).where(Agreement.status == AgreementStatus.ACTIVE)
        )
        if a.current_version is not None and dataset_id in a.current_version.covered_dataset_ids
    }


def key_on_cover(
    session: Session,
    *,
    agreement: Agreement,
    event: AgreementEvent,
    previous_version: AgreementVersion | None,
    new_version: AgreementVersion | None,
    by: Actor,
    now: dt.datetime,
) -> None:
    """An agreement comes into force or is amended: wrap the keys of the stored versions of
    the datasets it covers under the agreement's own keys, so that its closure can destroy
    them; an amendment that drops a dataset destroys the agreement's keys to its versions in
    the same transaction (recorded with their fingerprints), so that the agreement can no
    longer open them even from a database backup."""
    if event not in (AgreementEvent.ACTIVATED, AgreementEvent.AMENDED):
        return
    version = new_version or agreement.current_version
    if version is None:
        return
    if version.covered_dataset_ids:
        datastore.wrap_dataset_for(session, version.covered_dataset_ids, agreement.id)
    if event != AgreementEvent.AMENDED or previous_version is None:
        return
    dropped = sorted(set(previous_version.covered_dataset_ids) - set(version.covered_dataset_ids))
    released = datastore.release_cover(session, agreement.id, dropped) if dropped else []
    if released:
        audit.record(
            session,
            AuditType.DATASET_RELEASE_AGREEMENT_KEYS,
            by=by,
            agreement_id=agreement.id,
            agreement_version=version.number,
            target_type="agreement",
            target_id=agreement.id,
            now=now,
            detail={
                "datasets": dropped,
                "supersedes": previous_version.number,
                "wraps": [r.detail() for r in released],
            },
        )


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
    if event != AgreementEvent.DESTROYED:
        return
    version = new_version or previous_version or agreement.current_version
    if version is None:
        return
    uncovered = set(version.covered_dataset_ids) - still_covered(session, excluding=agreement.id)
    documents = attachments.live(session, agreement.id)
    # The partner's cohort files were shared for this agreement alone: they go with it, and
    # the certificate lists them.
    cohorts = list(
        session.scalars(
            select(CohortFile)
            .where(CohortFile.agreement_id == agreement.id, CohortFile.destroyed_at.is_(None))
            .order_by(CohortFile.id)
        )
    )
    # Always a certificate: the close-out needs one even when another agreement still covers
    # every dataset (it then lists the attachments and cohort files destroyed, or that nothing
    # was destroyed, and why).
    destroy_uncovered(
        session,
        dataset_ids=uncovered,
        attachments=documents,
        cohorts=cohorts,
        by=by,
        now=now,
        agreement_id=agreement.id,
        agreement=CertifiedAgreement(
            reference=agreement.reference,
            provider=agreement.provider.name,
            recipient=agreement.recipient.name,
            statement=agreement.destruction_statement or "",
        ),
    )
