"""Destroying stored data when an agreement closes, and certifying it.

The agreements workflow decides which datasets no other active agreement still covers and
calls `destroy_uncovered` with them; this destroys every stored version of those datasets
(deleting each version's own file key, which makes every copy of its file unreadable, and the
file), records each destruction in the audit trail, and issues a certificate (a record and a
PDF for the partner) listing the datasets, versions, SHA-256 hashes, row counts and the
fingerprints of the destroyed keys, the partner cohort files uploaded for matching under the
agreement and destroyed with it, the date and who certified it. The PDF's own SHA-256 is
stored and audited, so a replaced PDF is detectable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from jinja2 import FileSystemLoader
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from governance import authz
from governance.agreements import attachments as attachments_service
from governance.agreements.destruction_model import (
    DestroyedKey,
    DestroyedVersion,
    DestructionCertificate,
)
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.datasets import datastore
from governance.datasets.attachment_model import Attachment
from governance.datasets.cohort_model import CohortFile
from governance.datasets.models import Dataset, DatasetVersion
from governance.identity.actors import Actor
from governance.identity.models import User
from governance.kernel.config import PROJECT_ROOT
from governance.kernel.errors import NotFound, ValidationFailed
from governance.kernel.reports import pdf
from governance.kernel.reports.tabular import chain_head_line

TEMPLATE = "reports/destruction_certificate.html"
KEY_NOTE = (
    "While stored, each version was encrypted with AES-256-GCM (Parquet modular encryption, "
    "a key per column) under keys derived from a random key of the version's own, kept in the "
    "service's database only encrypted under a key of each agreement covering it (or, while no "
    "agreement covered it, under a key of the dataset's own), one key per holder and version, "
    "held outside the database. Destruction deleted this agreement's keys, every key of each "
    "destroyed version, and the wrapped version keys: no copy of a file listed as destroyed, in "
    "a backup or on a disk, can be decrypted with what remains, database backups included. "
    "Partner cohort files were held the same way under the agreement's keys. The key "
    "fingerprints identify the deleted keys without revealing them. (A version stored "
    "before keys per agreement, never wrapped for a holder, stays readable from a "
    "database backup until the master key is rotated and discarded.) The SHA-256 values "
    "identify exactly which data was destroyed."
)


METHOD = (
    'Cryptographic erasure (NIST SP 800-88 "purge"): the AES-256-GCM key of each '
    "version was deleted, then its encrypted file was deleted from the data store."
)


@dataclass(frozen=True)
class CertifiedAgreement:
    """The ended agreement whose data the certificate covers, as its provider files it: the
    reference and parties, and the statement the certifier typed (what was destroyed, how,
    and their own certificate reference). Passed in by the agreements workflow, so that this
    module does not read the agreements tables."""

    reference: str
    provider: str
    recipient: str
    statement: str


@dataclass(frozen=True)
class DatasetLine:
    """One dataset on the certificate, with why no version was destroyed now when none was."""

    name: str
    provider: str
    destroyed_now: int
    why_none: str


@dataclass(frozen=True)
class CohortLine:
    """A partner's cohort file destroyed with the agreement, as it was stored."""

    id: int
    label: str
    source_filename: str
    row_count: int
    sha256: str
    stored_at: dt.datetime
    destroyed_at: dt.datetime
    key_fingerprint: str | None


def certifier_label(by: Actor) -> str:
    if isinstance(by, User):
        return f"{by.name} ({by.email})"
    return by.email


def destroy_uncovered(
    session: Session,
    *,
    dataset_ids: Iterable[int],
    attachments: Sequence[Attachment] = (),
    by: Actor,
    now: dt.datetime,
    agreement_id: int | None = None,
    agreement: CertifiedAgreement | None = None,
    cohorts: Sequence[CohortFile] = (),
) -> DestructionCertificate:
    """Destroy every stored version of these datasets, these partner cohort files and these
    agreement attachments, and issue the certificate that lists them."""
    ids = sorted(set(dataset_ids))
    authz.require(
        by,
        Permission.AGREEMENT_CERTIFY_DESTRUCTION,
        audit={
            "event_type": AuditType.DATASET_CERTIFY_DESTRUCTION,
            "target_type": "agreement",
            "target_id": agreement_id,
            "agreement_id": agreement_id,
        },
    )
    # The close of an agreement always has its certificate, even with nothing left to destroy.
    if not ids and not attachments and not cohorts and agreement is None:
        raise ValidationFailed("Name at least one dataset whose data is to be destroyed.")
    datasets = [session.get(Dataset, dataset_id) for dataset_id in ids]
    missing = [i for i, d in zip(ids, datasets, strict=True) if d is None]
    if missing:
        raise NotFound(f"There is no dataset {', '.join(map(str, missing))}.")
    live = list(
        session.scalars(
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id.in_(ids), DatasetVersion.destroyed_at.is_(None))
            .order_by(DatasetVersion.dataset_id, DatasetVersion.number)
        )
    )
    names = {d.id: (d.name, d.provider.name) for d in datasets if d is not None}
    certificate = DestructionCertificate(
        agreement_id=agreement_id,
        certified_by_id=by.id,
        certified_by=certifier_label(by),
        certified_at=now,
        pdf=b"",
        pdf_sha256="",
    )
    certificate.items = [
        DestroyedVersion(
            dataset_id=v.dataset_id,
            dataset_name=names[v.dataset_id][0],
            provider_name=names[v.dataset_id][1],
            version_id=v.id,
            version_number=v.number,
            sha256=v.sha256,
            row_count=v.row_count,
            stored_at=v.created_at,
            destroyed_at=now,
            file_removed=False,
            key_fingerprint=datastore.key_fingerprint(v),
        )
        for v in live
    ]
    # The closed agreement's keys and every version key it wrapped are destroyed too: the
    # versions listed above with it, and those another live agreement still covers (then only
    # that agreement's key opens them); so are the keys of every holder of a destroyed version
    # (the dataset's own key for a version no agreement covered).
    destroyed_ids = {v.id for v in live}
    wraps = {
        (w.holder, w.version_id): w
        for w in [
            *(datastore.agreement_wraps(session, agreement_id) if agreement_id else []),
            *datastore.version_wraps(session, sorted(destroyed_ids)),
        ]
    }
    certificate.keys = [
        DestroyedKey(
            holder=w.holder,
            agreement_key_id=w.agreement_key_id,
            agreement_key_fingerprint=w.agreement_key_fingerprint,
            dataset_id=w.dataset_id,
            version_id=w.version_id,
            version_number=w.version_number,
            wrap_fingerprint=w.wrap_fingerprint,
            version_destroyed=w.version_id in destroyed_ids,
        )
        for w in wraps.values()
    ]
    session.add(certificate)
    session.flush()
    # The PDF is rendered before any file is deleted: if rendering fails, nothing is lost.
    lines = [
        DatasetLine(
            name=names[i][0],
            provider=names[i][1],
            destroyed_now=sum(1 for v in live if v.dataset_id == i),
            why_none=_why_none(session, i),
        )
        for i in ids
    ]
    cohort_lines = [
        CohortLine(
            id=c.id,
            label=c.label,
            source_filename=c.source_filename,
            row_count=c.row_count,
            sha256=c.sha256,
            stored_at=c.created_at,
            destroyed_at=now,
            key_fingerprint=datastore.cohort_key_fingerprint(c),
        )
        for c in cohorts
    ]
    rendered = render_certificate(
        certificate,
        lines,
        agreement=agreement,
        head=audit.chain_head(session),
        attachments=[(a, datastore.attachment_key_fingerprint(a)) for a in attachments],
        cohorts=cohort_lines,
    )
    certificate.pdf, certificate.pdf_sha256 = rendered.content, rendered.sha256
    for version, item in zip(live, certificate.items, strict=True):
        item.file_removed = datastore.destroy_version(version, now=now)
        audit.record(
            session,
            AuditType.DATASET_DESTROY,
            by=by,
            dataset_id=version.dataset_id,
            agreement_id=agreement_id,
            target_type="dataset_version",
            target_id=version.id,
            now=now,
            detail={
                "version": version.number,
                "sha256": version.sha256,
                "rows": version.row_count,
                "file_removed": item.file_removed,
                "key_fingerprint": item.key_fingerprint,
                "certificate_id": certificate.id,
            },
        )
    fingerprints = (
        datastore.release_agreement(session, agreement_id) if agreement_id is not None else []
    )
    if fingerprints or certificate.keys:
        audit.record(
            session,
            AuditType.DATASET_DESTROY_AGREEMENT_KEY,
            by=by,
            agreement_id=agreement_id,
            target_type="agreement" if agreement_id is not None else "destruction_certificate",
            target_id=agreement_id if agreement_id is not None else certificate.id,
            now=now,
            detail={
                # Every key file of the agreement's (its versions' and its cohort files').
                "agreement_key_fingerprints": fingerprints,
                "certificate_id": certificate.id,
                "wraps": [
                    {
                        "holder": k.holder,
                        "dataset_id": k.dataset_id,
                        "version": k.version_number,
                        "key_fingerprint": k.agreement_key_fingerprint,
                        "wrap_fingerprint": k.wrap_fingerprint,
                        "version_destroyed": k.version_destroyed,
                    }
                    for k in certificate.keys
                ],
            },
        )
    attachments_service.destroy(
        session, list(attachments), certificate_id=certificate.id, by=by, now=now
    )
    for cohort, line in zip(cohorts, cohort_lines, strict=True):
        datastore.destroy_cohort(cohort, now=now)
        audit.record(
            session,
            AuditType.DATASET_DESTROY,
            by=by,
            agreement_id=agreement_id,
            target_type="cohort_file",
            target_id=cohort.id,
            now=now,
            detail={
                "label": cohort.label,
                "sha256": cohort.sha256,
                "rows": cohort.row_count,
                "key_fingerprint": line.key_fingerprint,
                "certificate_id": certificate.id,
            },
        )
    session.flush()
    audit.record(
        session,
        AuditType.DATASET_CERTIFY_DESTRUCTION,
        by=by,
        agreement_id=agreement_id,
        target_type="destruction_certificate",
        target_id=certificate.id,
        now=now,
        detail={
            "datasets": ids,
            "attachments": [
                {"id": a.id, "kind": a.kind, "version": a.version, "sha256": a.sha256}
                for a in attachments
            ],
            "pdf_sha256": certificate.pdf_sha256,
            "versions": [
                {"dataset_id": i.dataset_id, "version": i.version_number, "sha256": i.sha256}
                for i in certificate.items
            ],
            "cohort_files": [{"id": c.id, "sha256": c.sha256} for c in cohort_lines],
            "destroyed_keys": [
                {
                    "holder": k.holder,
                    "agreement_key_fingerprint": k.agreement_key_fingerprint,
                    "version_id": k.version_id,
                    "wrap_fingerprint": k.wrap_fingerprint,
                }
                for k in certificate.keys
            ],
        },
    )
    return certificate


def _why_none(session: Session, dataset_id: int) -> str:
    """Why a dataset had no stored version left to destroy: destroyed earlier, or never
    stored. Only read when the dataset has no live version (said on the certificate)."""
    earlier = list(
        session.scalars(
            select(DatasetVersion)
            .where(
                DatasetVersion.dataset_id == dataset_id, DatasetVersion.destroyed_at.is_not(None)
            )
            .order_by(DatasetVersion.number)
        )
    )
    if not earlier:
        return "No data of this dataset was ever stored in the service."
    certificates = sorted(
        set(
            session.scalars(
                select(DestroyedVersion.certificate_id).where(
                    DestroyedVersion.version_id.in_([v.id for v in earlier])
                )
            )
        )
    )
    last = max(v.destroyed_at for v in earlier if v.destroyed_at is not None)
    listed = (
        f", listed on certificate{'s' if len(certificates) > 1 else ''} "
        f"{', '.join(map(str, certificates))}"
        if certificates
        else ""
    )
    return (
        f"All {len(earlier)} stored version{'s' if len(earlier) > 1 else ''} had already "
        f"been destroyed, the last on {last:%Y-%m-%d}{listed}."
    )


def render_certificate(
    certificate: DestructionCertificate,
    datasets: list[DatasetLine],
    *,
    agreement: CertifiedAgreement | None,
    head: tuple[int, str],
    attachments: Sequence[tuple[Attachment, str | None]] = (),
    cohorts: Sequence[CohortLine] = (),
) -> pdf.RenderedPDF:
    env = pdf.report_environment(FileSystemLoader(str(PROJECT_ROOT / "templates")))
    if agreement is not None:
        named = [
            ("Agreement", agreement.reference),
            ("Provider", agreement.provider),
            ("Recipient", agreement.recipient),
        ]
    else:
        named = [("Agreement", "not recorded")]
    return pdf.render_pdf(
        env,
        TEMPLATE,
        {
            "title": "Certificate of data destruction",
            "subtitle": (
                f"Certificate {certificate.id}"
                + (f" · agreement {agreement.reference}" if agreement else "")
            ),
            "facts": [
                ("Certificate", str(certificate.id)),
                *named,
                ("Date", certificate.certified_at.strftime("%Y-%m-%d %H:%M UTC")),
                ("Certified by", certificate.certified_by),
            ],
            "author": certificate.certified_by,
            "audit_chain_head": "Audit trail before this destruction: " + chain_head_line(*head),
            "footer_note": f"Destruction certificate {certificate.id}"
            + (f" · {agreement.reference}" if agreement else ""),
            "certificate": certificate,
            "datasets": datasets,
            "attachments": attachments,
            "cohorts": cohorts,
            "key_note": KEY_NOTE,
            "method": METHOD,
            "agreement": agreement,
        },
        stylesheet=pdf.load_stylesheet(env),
        strict=True,
    )


def certificates_query() -> Select[tuple[DestructionCertificate]]:
    """Every destruction certificate, for the certificates page to page through."""
    return select(DestructionCertificate)


def require_certificate_reader(by: Actor) -> None:
    """Certificates are for those who certify destruction and those who audit it."""
    if not (
        authz.can(by, Permission.AGREEMENT_CERTIFY_DESTRUCTION)
        or authz.can(by, Permission.AUDIT_READ)
    ):
        authz.require(by, Permission.AGREEMENT_CERTIFY_DESTRUCTION)


def get_certificate(session: Session, certificate_id: int, *, by: Actor) -> DestructionCertificate:
    require_certificate_reader(by)
    certificate = session.get(DestructionCertificate, certificate_id)
    if certificate is None:
        raise NotFound(f"There is no destruction certificate {certificate_id}.")
    return certificate
