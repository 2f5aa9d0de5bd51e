"""Re-keying stored files: file keys re-wrapped under a new data key, and files from before
per-file keys re-encrypted.

`rewrap_keys` serves `governance keys rotate --purpose data`: every live file key is unwrapped
and wrapped again under the new data key, in the caller's transaction. Files are not touched:
their own keys do not change, so rotating is quick whatever the volume of data.

`reencrypt_legacy` serves `governance datastore rewrap`, which upgrades files stored before
per-file keys (encrypted under the data key itself, so destroying them could not erase their
copies). Each is decrypted chunk by chunk (every chunk authenticated), its SHA-256 checked
against the row, and written to a new file under a new random key and file id. The row points
at the new file once the transaction commits, and the old file is deleted then; if the
transaction does not commit, the new file is deleted instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from governance.datasets.attachment_model import Attachment
from governance.datasets.cohort_model import CohortFile
from governance.datasets.datastore import documents, envelope, files
from governance.datasets.datastore.cohorts import binding_of
from governance.datasets.datastore.crypto import (
    Binding,
    DataIntegrityError,
    EncryptingWriter,
    key_id,
    read_header,
)
from governance.datasets.datastore.store import forget_cached, open_file
from governance.datasets.models import DatasetVersion

StoredRow = DatasetVersion | CohortFile | Attachment


def _binding(row: StoredRow) -> Binding:
    if isinstance(row, DatasetVersion):
        return Binding(row.dataset_id, row.number)
    if isinstance(row, Attachment):
        return documents.binding_of(row)
    return binding_of(row)


def _path(config: files.StoreConfig, row: StoredRow) -> Path:
    if isinstance(row, DatasetVersion):
        return config.path_of(row.storage_name)
    if isinstance(row, Attachment):
        return config.attachment_path_of(row.storage_name)
    return config.cohort_path_of(row.storage_name)


def live_rows(session: Session) -> Iterator[StoredRow]:
    """Every stored dataset version, cohort file and attachment that is not destroyed."""
    yield from session.scalars(
        select(DatasetVersion)
        .where(DatasetVersion.destroyed_at.is_(None))
        .order_by(DatasetVersion.id)
    )
    yield from session.scalars(
        select(CohortFile).where(CohortFile.destroyed_at.is_(None)).order_by(CohortFile.id)
    )
    yield from session.scalars(
        select(Attachment).where(Attachment.destroyed_at.is_(None)).order_by(Attachment.id)
    )


def legacy_rows(session: Session) -> list[StoredRow]:
    """Live rows whose files were stored before per-file keys."""
    return [row for row in live_rows(session) if envelope.is_legacy(row)]


def rewrap_keys(session: Session, *, to_key_id: str) -> int:
    """Wrap every live file key again under the data key `to_key_id` (already in the ring);
    returns how many were re-wrapped."""
    config = files.config_of(session)
    count = 0
    for row in live_rows(session):
        if envelope.is_legacy(row) or row.wrapping_key_id == to_key_id:
            continue
        if row.wrapped_key is None or row.wrapping_key_id is None:
            # A version whose key only its holders' key files wrap (agreement_keys.py), or a
            # cohort file whose key its agreement's does (cohorts.py): not the ring's.
            continue
        binding = _binding(row)
        current = envelope.unwrap(config.ring, row, binding)
        envelope.wrap(
            config.ring, current.key, binding, current.file_id, wrapping_key_id=to_key_id
        ).record_on(row)
        count += 1
    session.flush()
    return count


def files_needing(session: Session, data_key_id: str) -> int:
    """How many live files cannot be read without the data key `data_key_id`: those whose file
    key it wraps, and those from before per-file keys encrypted under it directly."""
    config = files.config_of(session)
    kek = config.ring.key(data_key_id)
    count = 0
    for row in live_rows(session):
        if envelope.is_legacy(row):
            path = _path(config, row)
            try:
                count += read_header(path).key_id == key_id(kek)
            except DataIntegrityError:
                continue  # a missing file needs no key
        else:
            count += row.wrapping_key_id == data_key_id
    return count


def reencrypt_legacy(row: StoredRow) -> None:
    """Re-encrypt a file from before per-file keys under a new key of its own (see above)."""
    session = object_session(row)
    if session is None:
        raise RuntimeError("re-encrypt the file through a session")
    if not envelope.is_legacy(row):
        raise ValueError("the file already has its own key")
    config = files.config_of(session)
    binding = _binding(row)
    old_path = _path(config, row)
    file_key = envelope.new_file_key(config.ring, binding)
    new_name = files.new_storage_name()
    new_path = old_path.parent / new_name
    partial = files.partial_path(new_path)
    try:
        with (
            open_file(config, old_path, row, binding) as reader,
            files.create_exclusive(partial) as out,
        ):
            sink = EncryptingWriter(out, file_key.key, binding, file_id=file_key.file_id)
            for chunk in reader.plaintext_chunks():
                sink.write(chunk)
            sink.finish()
            out.flush()
            os.fsync(out.fileno())
        if sink.sha256 != row.sha256:
            raise DataIntegrityError(
                f"The stored file {row.storage_name} does not match its "
                "recorded SHA-256; it was not re-encrypted."
            )
        os.replace(partial, new_path)
        files.fsync_dir(new_path.parent)
    except BaseException:
        files.remove_quietly(partial)
        files.remove_quietly(new_path)
        raise
    files.track_pending(session, new_path)
    files.remove_after_commit(session, old_path)
    forget_cached(row.storage_name)
    row.storage_name = new_name
    file_key.record_on(row)
    session.flush()
