"""Partner cohort files: stored encrypted like dataset versions, read only through the door.

A cohort file (name, date of birth, sex, intervention dates) identifies people, so it gets the
same protection as a dataset version: Parquet encrypted with AES-256-GCM under the data key,
every chunk bound to what it belongs to. Its binding uses `COHORT_DOMAIN` in place of a dataset
id (no dataset has that id), so a cohort file can never pass for a dataset version or the
reverse. Files live in DATA_DIR/cohorts/, which the dataset orphan sweep does not scan.

`ledger_key` derives, from the data key, the one service-wide key of the differencing ledger's
member hashes (HKDF-SHA256 with its own label, 256 bits): it never leaves the server.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session, object_session

from governance.datastore import files
from governance.datastore.crypto import (
    Binding,
    DataIntegrityError,
    DecryptingReader,
    EncryptingWriter,
)
from governance.datastore.parquet import arrow_schema, read_table, write_parquet
from governance.datastore.store import DataUnavailable
from governance.models.analysis import CohortFile
from governance.models.dataset import ColumnType
from governance.models.types import utcnow

COHORT_DOMAIN = 2**63
SUBDIRECTORY = "cohorts"


@dataclass(frozen=True)
class CohortColumn:
    """A column of the stored cohort: text as the partner typed it (the engine parses it)."""

    name: str
    required: bool = True
    type: ColumnType = ColumnType.STRING


COHORT_COLUMNS = (
    CohortColumn("name"), CohortColumn("date_of_birth"), CohortColumn("sex"),
    CohortColumn("intervention_start"), CohortColumn("intervention_end", required=False),
)


def _directory(session: Session) -> Path:
    return files.config_of(session).data_dir / SUBDIRECTORY


def _path(session: Session, storage_name: str) -> Path:
    config = files.config_of(session)
    return config.path_of(storage_name).parent / SUBDIRECTORY / storage_name


def store_cohort(session: Session, *, cohort: CohortFile, frame: pd.DataFrame) -> CohortFile:
    """Encrypt `frame` (the cohort columns, text) as `cohort`'s file; the row is added, flushed
    (its id binds the file) and completed with the file's SHA-256 and row count. The file is
    removed again if the transaction does not commit."""
    config = files.config_of(session)
    key = config.key()
    cohort.storage_name = files.new_storage_name()
    cohort.sha256 = ""
    cohort.row_count = 0
    session.add(cohort)
    session.flush()
    schema = arrow_schema(COHORT_COLUMNS)
    table = pa.Table.from_pandas(
        frame.reindex(columns=[c.name for c in COHORT_COLUMNS]).astype("string"),
        schema=schema, preserve_index=False)
    directory = _directory(session)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    final = directory / cohort.storage_name
    partial = directory / f".{cohort.storage_name}{files.PARTIAL}"
    try:
        with files.create_exclusive(partial) as out:
            sink = EncryptingWriter(out, key, Binding(COHORT_DOMAIN, cohort.id))
            rows = write_parquet(sink, schema, table.to_batches())
            sink.finish()
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, final)
        files.fsync_dir(directory)
    except BaseException:
        files.remove_quietly(partial)
        files.remove_quietly(final)
        raise
    files.track_pending(session, final)
    cohort.sha256 = sink.sha256
    cohort.row_count = rows
    return cohort


def read_cohort(cohort: CohortFile, columns: Sequence[str]) -> pd.DataFrame:
    """Decrypt the cohort file and return `columns` as text; checks the SHA-256 first.

    Called only by the data door (services/data_access.py), which records the read."""
    session = object_session(cohort)
    if session is None:
        raise RuntimeError("read the cohort through a session")
    if cohort.destroyed_at is not None:
        raise DataUnavailable(f"Cohort file {cohort.id} was destroyed on "
                              f"{cohort.destroyed_at:%Y-%m-%d}.")
    known = {c.name for c in COHORT_COLUMNS}
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise ValueError(f"a cohort file has no column(s) {', '.join(unknown)}")
    path = _path(session, cohort.storage_name)
    key = files.config_of(session).key()
    with DecryptingReader(path, key, Binding(COHORT_DOMAIN, cohort.id)) as reader:
        digest = reader.sha256()
        if digest != cohort.sha256:
            raise DataIntegrityError(f"Cohort file {cohort.id} does not match its recorded "
                                     "SHA-256.")
        reader.seek(0)
        table = read_table(reader, list(columns), None)
    return table.to_pandas()


def destroy_cohort(cohort: CohortFile, *, now: dt.datetime | None = None) -> bool:
    """Delete the cohort's file and record when; True if there was a file to delete."""
    session = object_session(cohort)
    if session is None:
        raise RuntimeError("destroy the cohort through a session")
    path = _path(session, cohort.storage_name)
    existed = path.exists()
    path.unlink(missing_ok=True)
    cohort.destroyed_at = now or utcnow()
    return existed


LEDGER_KEY_LABEL = b"governance differencing ledger v1"


def ledger_key(session: Session) -> bytes:
    """The differencing ledger's key: HKDF-SHA256 of the data key under its own label, full
    256-bit output, so the ledger never shares a key with file encryption. One small function
    so it can move to the key ring's ``derive(label)`` unchanged in meaning."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=LEDGER_KEY_LABEL).derive(files.config_of(session).key())
