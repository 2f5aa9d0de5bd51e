"""Rotating and discarding keys, and upgrading stored files to per-file keys: the host
operator's work, each step recorded in the audit trail.

Only the host operator (a `System` actor, i.e. the CLI) may do these: whoever runs them already
holds the key files. Rotation happens in three steps so that no moment leaves a key missing:
`rotate_key` stages the new key (every process can read with it from now on) and, for the data
key, re-wraps every file key under it, with its audit event; the caller commits, then calls
`Rotation.promote()` to make the new key current and keep the old one as retired.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.datasets import datastore
from governance.datasets.cohort_model import CohortFile
from governance.datasets.models import DatasetVersion
from governance.identity.actors import Actor, System
from governance.kernel import keys
from governance.kernel.errors import InvalidTransition, PermissionDenied
from governance.kernel.keys import KeyPurpose, KeyRing

# What else needs a retired data key, beyond the stored files: each answers why the key must be
# kept, or None. Filled by the registry (the differencing ledger, which sits above datasets).
KeyKeeper = Callable[[Session, str], str | None]
DATA_KEY_KEEPERS: list[KeyKeeper] = []


def keep_data_keys_for(keeper: KeyKeeper) -> KeyKeeper:
    """Register a check that may refuse a data key's discard (installing twice is once)."""
    if keeper not in DATA_KEY_KEEPERS:
        DATA_KEY_KEEPERS.append(keeper)
    return keeper


def _require_operator(by: Actor, what: str) -> None:
    if not isinstance(by, System):
        raise PermissionDenied(f"Only the host operator (the `governance` command) may {what}.")


@dataclass
class Rotation:
    ring: KeyRing
    old_id: str
    new_id: str
    rewrapped: int

    def promote(self) -> None:
        """After the commit: the new key becomes current; the old one stays, retired."""
        keys.promote(self.ring, self.new_id)


def rotate_key(session: Session, *, purpose: KeyPurpose, by: Actor) -> Rotation:
    """Stage a new key for `purpose`; for the data key, re-wrap every file key under it."""
    _require_operator(by, "rotate keys")
    ring = keys.rings_of(session).of(purpose)
    new_id = keys.stage_new_key(ring)
    rewrapped = 0
    if purpose == KeyPurpose.DATA:
        try:
            rewrapped = datastore.rewrap_keys(session, to_key_id=new_id)
        except datastore.DatastoreError as error:
            raise InvalidTransition(
                f"A stored file's key cannot be re-wrapped, so the data "
                f"key was not rotated: {error}"
            ) from error
    audit.record(
        session,
        AuditType.KEY_ROTATE,
        by=by,
        target_type="key",
        target_id=new_id,
        detail={
            "purpose": str(purpose),
            "retired_key_id": ring.current_id,
            "new_key_id": new_id,
            "file_keys_rewrapped": rewrapped,
        },
    )
    return Rotation(ring, ring.current_id, new_id, rewrapped)


def discard_key(session: Session, *, purpose: KeyPurpose, key_id: str, by: Actor) -> KeyRing:
    """Check that a retired data key may go and record it; the caller commits, then deletes
    the key file with `keys.discard`. Discarding the key that wrapped a destroyed file's key
    is what finally makes that file unreadable from database backups taken before."""
    _require_operator(by, "discard keys")
    ring = keys.rings_of(session).of(purpose)
    if purpose == KeyPurpose.AUDIT:
        raise InvalidTransition(
            "Retired audit keys are kept: the checkpoints they signed are "
            "verified with them for as long as the audit trail exists."
        )
    if key_id == ring.current_id:
        raise InvalidTransition(f"{key_id} is the current data key; rotate first, then discard it.")
    if key_id not in ring.retired_ids:
        raise InvalidTransition(
            f"There is no retired data key {key_id} (retired: "
            f"{', '.join(ring.retired_ids) or 'none'})."
        )
    for keeper in DATA_KEY_KEEPERS:
        reason = keeper(session, key_id)
        if reason:
            raise InvalidTransition(reason)
    needing = datastore.files_needing(session, key_id)
    if needing:
        raise InvalidTransition(
            f"{needing} stored file(s) still need data key {key_id}; "
            "rotate the data key (and run `governance datastore rewrap` "
            "for files stored before per-file keys) first."
        )
    audit.record(
        session,
        AuditType.KEY_DISCARD,
        by=by,
        target_type="key",
        target_id=key_id,
        detail={"purpose": str(purpose), "key_id": key_id},
    )
    return ring


def rewrap_legacy(session: Session, *, row: DatasetVersion | CohortFile, by: Actor) -> None:
    """Re-encrypt one file stored before per-file keys under a key of its own, recorded; the
    caller commits."""
    _require_operator(by, "re-encrypt stored files")
    datastore.reencrypt_legacy(row)
    if isinstance(row, DatasetVersion):
        audit.record(
            session,
            AuditType.DATASET_REWRAP,
            by=by,
            dataset_id=row.dataset_id,
            target_type="dataset_version",
            target_id=row.id,
            detail={
                "version": row.number,
                "sha256": row.sha256,
                "data_key_id": row.wrapping_key_id,
            },
        )
    else:
        audit.record(
            session,
            AuditType.DATASET_REWRAP,
            by=by,
            agreement_id=row.agreement_id,
            target_type="cohort_file",
            target_id=row.id,
            detail={"sha256": row.sha256, "data_key_id": row.wrapping_key_id},
        )


def migrate_encryption(session: Session, *, row: DatasetVersion | CohortFile, by: Actor) -> None:
    """Move one version or cohort file from the earlier whole-file format to Parquet modular
    encryption, recorded with both its hashes: the SHA-256 the audit trail has named it by
    (checked against the old file) and the content hash checked from now on. The caller
    commits."""
    _require_operator(by, "re-encrypt stored files")
    if isinstance(row, DatasetVersion):
        migrated = datastore.migrate_version(row)
        where: dict[str, Any] = {
            "dataset_id": row.dataset_id,
            "target_type": "dataset_version",
            "target_id": row.id,
        }
        detail: dict[str, Any] = {"version": row.number, "data_key_id": row.wrapping_key_id}
    else:
        migrated = datastore.migrate_cohort(row)
        where = {
            "agreement_id": row.agreement_id,
            "target_type": "cohort_file",
            "target_id": row.id,
        }
        detail = {"agreement_key_id": row.agreement_key_id}
    audit.record(
        session,
        AuditType.DATASET_MIGRATE_ENCRYPTION,
        by=by,
        **where,
        detail={
            **detail,
            "sha256": migrated.sha256,
            "content_sha256": migrated.content_sha256,
            "from_format": migrated.old_format,
            "to_format": row.storage_format,
            "key_fingerprint": migrated.key_fingerprint,
        },
    )
