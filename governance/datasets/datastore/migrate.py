"""Moving dataset versions stored in the earlier whole-file format to Parquet modular encryption.

The earlier format (crypto.py) encrypted a whole Parquet file as opaque chunks, which only this
service could read and which had to be decrypted in full to check its hash. This module is the
only dataset reader of that format left: `migrate_version` checks the old file against the
SHA-256 its row records (the hash the audit trail names), streams its rows into a new file
with modular encryption under a new key of its own (written to a hidden name, fsynced, renamed),
and points the row at the new file, recording the new file's content hash beside the old
SHA-256, which stays. The old file is deleted once the transaction commits; if it does not, the
new file is deleted instead. A crash at any point leaves the row on its old, good file (a
renamed but unrecorded new file is an orphan that `sweep_orphans` removes), so the migration
can simply be run again, and a version already migrated is skipped.

Cohort files move the same way (`migrate_cohort`), and their new key goes under their
agreement's key file for them rather than the data key ring (cohorts.py); the SHA-256 the
audit trail named them by at upload stays on the row beside the new content hash.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from governance.datasets.cohort_model import CohortFile
from governance.datasets.datastore import agreement_keys, cohorts, envelope, files, pme, store
from governance.datasets.datastore.crypto import Binding, DataIntegrityError, DecryptingReader
from governance.datasets.datastore.parquet import ROW_GROUP_ROWS, plaintext_batches
from governance.datasets.datastore.store import forget_cached, open_file, write_encrypted
from governance.datasets.models import DatasetVersion


@dataclass(frozen=True)
class Migrated:
    """What a migration changed, for its audit event."""

    sha256: str
    content_sha256: str
    old_format: str
    key_fingerprint: str | None


def versions_to_migrate(session: Session) -> list[int]:
    """Ids of the live dataset versions still in the earlier format, oldest first."""
    return list(
        session.scalars(
            select(DatasetVersion.id)
            .where(
                DatasetVersion.destroyed_at.is_(None),
                DatasetVersion.storage_format != pme.FORMAT,
            )
            .order_by(DatasetVersion.id)
        )
    )


def _open_old(
    session: Session, config: files.StoreConfig, version: DatasetVersion, binding: Binding
) -> DecryptingReader:
    """The old file, with its key from the agreements' wraps when they hold it."""
    path = config.path_of(version.storage_name)
    if envelope.is_legacy(version) or version.wrapped_key is not None:
        return open_file(config, path, version, binding)
    key, file_id = agreement_keys.file_key(session, version)
    return DecryptingReader(path, key, binding, file_id=file_id)


def migrate_version(version: DatasetVersion) -> Migrated:
    """Re-store one version with modular encryption (see the module's docstring)."""
    session = object_session(version)
    if session is None:
        raise RuntimeError("migrate the version through a session")
    if version.storage_format == pme.FORMAT:
        raise ValueError("the version is already stored with Parquet modular encryption")
    config = files.config_of(session)
    binding = Binding(version.dataset_id, version.number)
    old_path = config.path_of(version.storage_name)
    old_format = version.storage_format
    what = f"Version {version.number} of dataset {version.dataset_id}"
    with _open_old(session, config, version, binding) as reader:
        new_name, file_key, content, byte_size = _rewrite(
            session,
            config,
            reader,
            binding,
            what,
            version.sha256,
            version.row_count,
            config.path_of,
        )
    files.remove_after_commit(session, old_path)
    forget_cached(version.storage_name)
    version.storage_name = new_name
    version.storage_format = pme.FORMAT
    version.content_sha256 = content
    version.byte_size = byte_size
    file_key.record_on(version)
    session.flush()
    # Agreements that held the old key hold the new one instead (and the ring none).
    agreement_keys.rewrap_new_key(session, version, file_key.key)
    return Migrated(version.sha256, content, old_format, store.key_fingerprint(version))


def _rewrite(
    session: Session,
    config: Any,
    reader: Any,
    binding: Binding,
    what: str,
    sha256: str,
    row_count: int,
    path_of: Callable[[str], Path],
) -> tuple[str, Any, str, int]:
    """Check the old file against its recorded SHA-256, write its rows again with modular
    encryption under a new file key, and check the rows written against the recorded count
    (the new file is removed if they differ): the new storage name, file key, content hash and
    size. Nothing about the old file changes here."""
    if reader.sha256() != sha256:
        raise DataIntegrityError(
            f"{what} does not match its recorded SHA-256; it was left as it was."
        )
    reader.seek(0)
    schema, batches = plaintext_batches(reader, ROW_GROUP_ROWS)
    file_key = envelope.new_file_key(config.ring, binding)
    new_name = files.new_storage_name()
    new_path = path_of(new_name)
    rows, content, byte_size = write_encrypted(new_path, file_key, binding, schema, batches)
    if rows != row_count:
        files.remove_quietly(new_path)
        raise DataIntegrityError(
            f"{what} holds {rows} rows, not the {row_count} recorded; it was left as it was."
        )
    files.track_pending(session, new_path)
    return new_name, file_key, content, byte_size


def cohorts_to_migrate(session: Session) -> list[int]:
    """Ids of the live cohort files still in the earlier format, oldest first."""
    return list(
        session.scalars(
            select(CohortFile.id)
            .where(CohortFile.destroyed_at.is_(None), CohortFile.storage_format != pme.FORMAT)
            .order_by(CohortFile.id)
        )
    )


def migrate_cohort(cohort: CohortFile) -> Migrated:
    """Re-store one cohort file with modular encryption under a key its agreement holds."""
    session = object_session(cohort)
    if session is None:
        raise RuntimeError("migrate the cohort file through a session")
    if cohort.storage_format == pme.FORMAT:
        raise ValueError("the cohort file is already stored with Parquet modular encryption")
    config = files.config_of(session)
    binding = cohorts.binding_of(cohort)
    old_path = config.cohort_path_of(cohort.storage_name)
    old_format = cohort.storage_format
    with open_file(config, old_path, cohort, binding) as reader:
        new_name, file_key, content, _ = _rewrite(
            session,
            config,
            reader,
            binding,
            f"Cohort file {cohort.id}",
            cohort.sha256,
            cohort.row_count,
            config.cohort_path_of,
        )
    files.remove_after_commit(session, old_path)
    cohort.storage_name = new_name
    cohort.storage_format = pme.FORMAT
    cohort.content_sha256 = content
    cohorts.hold_for_agreement(session, cohort, file_key.key, file_key.file_id)
    session.flush()
    return Migrated(cohort.sha256, content, old_format, cohorts.cohort_key_fingerprint(cohort))
