"""Partner cohort files: stored like dataset versions, read only through the door.

A cohort file (name, date of birth, sex, intervention dates) identifies people, so it gets the
same protection as a dataset version: Parquet with modular encryption (pme.py, a key per
column) under a random key of its own, and that key wrapped under a key file of the agreement
it was uploaded for (key_files.py: `agreement-<A>/cohort-<C>-<key id>.key`, outside the
database). Destroying the cohort file deletes that key file; closing the agreement deletes all
of its key files: every copy of the file, database backups included, is then unreadable. Its
binding uses `COHORT_DOMAIN` in place of a dataset id (no dataset has that id), so a cohort
file can never pass for a dataset version or the reverse. Files live in DATA_DIR/cohorts/.

Cohort files stored before (the chunked format of crypto.py, key wrapped by the data key ring)
stay readable until `governance datastore migrate-encryption` moves them (migrate.py).
"""

from __future__ import annotations

import datetime as dt
import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from governance.datasets.cohort_model import CohortFile
from governance.datasets.datastore import envelope, files, key_files, pme
from governance.datasets.datastore.crypto import NONCE_SIZE, Binding, DataIntegrityError
from governance.datasets.datastore.parquet import arrow_schema, read_stream_table, read_table
from governance.datasets.datastore.store import (
    DataUnavailable,
    open_file,
    reading,
    version_keys,
    write_encrypted,
)
from governance.datasets.models import ColumnType
from governance.kernel.types import utcnow

COHORT_DOMAIN = 2**63
WRAP_LABEL = b"governance agreement cohort key v1\0"
_CONTEXT = struct.Struct(">QQ")


@dataclass(frozen=True)
class CohortColumn:
    """A column of the stored cohort: text as the partner typed it (the engine parses it)."""

    name: str
    required: bool = True
    type: ColumnType = ColumnType.STRING


COHORT_COLUMNS = (
    CohortColumn("name"),
    CohortColumn("date_of_birth"),
    CohortColumn("sex"),
    CohortColumn("intervention_start"),
    CohortColumn("intervention_end", required=False),
)


def binding_of(cohort: CohortFile) -> Binding:
    return Binding(COHORT_DOMAIN, cohort.id)


def _holder(cohort: CohortFile) -> str:
    return key_files.holder_of(cohort.agreement_id, 0)


def _subject(cohort: CohortFile) -> str:
    return f"cohort-{cohort.id}"


def _context(cohort: CohortFile, file_id: bytes) -> bytes:
    return WRAP_LABEL + _CONTEXT.pack(cohort.agreement_id, cohort.id) + file_id


def hold_for_agreement(session: Session, cohort: CohortFile, key: bytes, file_id: bytes) -> None:
    """Record the cohort file's key on its row, wrapped under a new key file of its
    agreement's (never by the data key ring)."""
    kid, kek = key_files.create(session, _holder(cohort), _subject(cohort))
    nonce = secrets.token_bytes(NONCE_SIZE)
    cohort.file_id = file_id.hex()
    cohort.wrapped_key = nonce + AESGCM(kek).encrypt(nonce, key, _context(cohort, file_id))
    cohort.wrapping_key_id = None
    cohort.agreement_key_id = kid


def _key_file(session: Session, cohort: CohortFile) -> tuple[Path, bytes] | None:
    assert cohort.agreement_key_id is not None
    return key_files.find(session, _holder(cohort), _subject(cohort), cohort.agreement_key_id)


def cohort_key(session: Session, cohort: CohortFile) -> tuple[bytes, bytes]:
    """The cohort file's own key and file id, through its agreement's key file."""
    found = _key_file(session, cohort) if cohort.agreement_key_id else None
    if found is None or cohort.wrapped_key is None or cohort.file_id is None:
        raise DataIntegrityError(
            f"Cohort file {cohort.id} has no key left: its agreement's key for it was destroyed."
        )
    file_id = bytes.fromhex(cohort.file_id)
    blob = bytes(cohort.wrapped_key)
    try:
        key = AESGCM(found[1]).decrypt(
            blob[:NONCE_SIZE], blob[NONCE_SIZE:], _context(cohort, file_id)
        )
    except InvalidTag:
        raise DataIntegrityError(
            f"Cohort file {cohort.id}'s key does not unwrap with its agreement's key: the row "
            "was altered or belongs to another cohort file."
        ) from None
    return key, file_id


def store_cohort(session: Session, *, cohort: CohortFile, frame: pd.DataFrame) -> CohortFile:
    """Encrypt `frame` (the cohort columns, text) as `cohort`'s file; the row is added, flushed
    (its id binds the file) and completed with the content hash and row count. The file and
    its key file are removed again if the transaction does not commit."""
    config = files.config_of(session)
    cohort.storage_name = files.new_storage_name()
    cohort.sha256 = ""
    cohort.row_count = 0
    session.add(cohort)
    session.flush()
    schema = arrow_schema(COHORT_COLUMNS)
    table = pa.Table.from_pandas(
        frame.reindex(columns=[c.name for c in COHORT_COLUMNS]).astype("string"),
        schema=schema,
        preserve_index=False,
    )
    config.cohort_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    final = config.cohort_path_of(cohort.storage_name)
    file_key = envelope.new_file_key(config.ring, binding_of(cohort))
    rows, content, _ = write_encrypted(
        final, file_key, binding_of(cohort), schema, table.to_batches()
    )
    files.track_pending(session, final)
    cohort.sha256 = content
    cohort.content_sha256 = content
    cohort.storage_format = pme.FORMAT
    cohort.row_count = rows
    hold_for_agreement(session, cohort, file_key.key, file_key.file_id)
    return cohort


def read_cohort(cohort: CohortFile, columns: Sequence[str]) -> pd.DataFrame:
    """Decrypt the cohort file and return `columns` as text; checks its hash first.

    Called only by the data door (access/data_door.py), which records the read."""
    session = object_session(cohort)
    if session is None:
        raise RuntimeError("read the cohort through a session")
    if cohort.destroyed_at is not None:
        raise DataUnavailable(
            f"Cohort file {cohort.id} was destroyed on {cohort.destroyed_at:%Y-%m-%d}."
        )
    known = {c.name for c in COHORT_COLUMNS}
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise ValueError(f"a cohort file has no column(s) {', '.join(unknown)}")
    config = files.config_of(session)
    path = config.cohort_path_of(cohort.storage_name)
    if cohort.storage_format != pme.FORMAT:
        with open_file(config, path, cohort, binding_of(cohort)) as reader:
            if reader.sha256() != cohort.sha256:
                raise DataIntegrityError(
                    f"Cohort file {cohort.id} does not match its recorded SHA-256."
                )
            reader.seek(0)
            return read_stream_table(reader, list(columns)).to_pandas()
    key, file_id = cohort_key(session, cohort)
    keys = version_keys(key, binding_of(cohort), file_id)
    # A cohort file is small (a partner's caseload): every column is decrypted and hashed so
    # that the content is checked against its recorded hash on every read.
    with reading(f"Cohort file {cohort.id}"):
        table = read_table(path, [c.name for c in COHORT_COLUMNS], None, keys.decryption())
    content = pme.ContentHash(table.schema)
    for batch in table.to_batches():
        content.update(batch)
    if content.hexdigest() != cohort.content_sha256:
        raise DataIntegrityError(f"Cohort file {cohort.id} does not match its recorded hash.")
    return table.select(list(columns)).to_pandas()


def destroy_cohort(cohort: CohortFile, *, now: dt.datetime | None = None) -> bool:
    """Delete the cohort's key file and wrapped key (which makes every copy of the file
    unreadable, database backups included) and its file, and record when; True if there was a
    file to delete. The caller records the destruction, with `cohort_key_fingerprint(cohort)`
    taken before, in the same transaction."""
    session = object_session(cohort)
    if session is None:
        raise RuntimeError("destroy the cohort through a session")
    if cohort.agreement_key_id is not None:
        key_files.unlink_now(
            [
                key_files.key_path(
                    session, _holder(cohort), _subject(cohort), cohort.agreement_key_id
                )
            ]
        )
    path = files.config_of(session).cohort_path_of(cohort.storage_name)
    return files.shred(cohort, path, now=now or utcnow())


def cohort_key_fingerprint(cohort: CohortFile) -> str | None:
    """As `key_fingerprint` for dataset versions: names the cohort file's key, never shows it:
    the fingerprint of its agreement's key file for it (or, for a file the migration has not
    reached, of its wrapped key and the data key that wrapped it)."""
    if cohort.agreement_key_id is None:
        return envelope.fingerprint(cohort)
    session = object_session(cohort)
    found = _key_file(session, cohort) if session is not None else None
    return key_files.fingerprint(found[1]) if found else None


def referenced_keys(session: Session) -> set[tuple[str, str, str]]:
    """(holder, file, key id) of every live cohort file's key, for the key sweep."""
    return {
        (key_files.holder_of(agreement_id, 0), f"cohort-{cohort_id}", str(kid))
        for agreement_id, cohort_id, kid in session.execute(
            select(CohortFile.agreement_id, CohortFile.id, CohortFile.agreement_key_id).where(
                CohortFile.agreement_key_id.is_not(None), CohortFile.destroyed_at.is_(None)
            )
        )
    }
