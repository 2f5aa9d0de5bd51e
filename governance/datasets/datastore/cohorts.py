"""Partner cohort files: stored encrypted like dataset versions, read only through the door.

A cohort file (name, date of birth, sex, intervention dates) identifies people, so it gets the
same protection as a dataset version: Parquet encrypted with AES-256-GCM under a key of its
own, wrapped by the data key in its row (envelope.py) and deleted when it is destroyed, every
chunk bound to what it belongs to. Its binding uses `COHORT_DOMAIN` in place of a dataset id
(no dataset has that id), so a cohort file can never pass for a dataset version or the
reverse. Files live in DATA_DIR/cohorts/.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
from sqlalchemy.orm import Session, object_session

from governance.datasets.cohort_model import CohortFile
from governance.datasets.datastore import envelope, files
from governance.datasets.datastore.crypto import Binding, DataIntegrityError, EncryptingWriter
from governance.datasets.datastore.parquet import arrow_schema, read_stream_table, write_parquet
from governance.datasets.datastore.store import DataUnavailable, open_file
from governance.datasets.models import ColumnType
from governance.kernel.types import utcnow

COHORT_DOMAIN = 2**63


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


def store_cohort(session: Session, *, cohort: CohortFile, frame: pd.DataFrame) -> CohortFile:
    """Encrypt `frame` (the cohort columns, text) as `cohort`'s file; the row is added, flushed
    (its id binds the file) and completed with the file's SHA-256 and row count. The file is
    removed again if the transaction does not commit."""
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
    directory = config.cohort_dir
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    final = config.cohort_path_of(cohort.storage_name)
    partial = directory / f".{cohort.storage_name}{files.PARTIAL}"
    file_key = envelope.new_file_key(config.ring, binding_of(cohort))
    try:
        with files.create_exclusive(partial) as out:
            sink = EncryptingWriter(out, file_key.key, binding_of(cohort), file_id=file_key.file_id)
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
    file_key.record_on(cohort)
    return cohort


def read_cohort(cohort: CohortFile, columns: Sequence[str]) -> pd.DataFrame:
    """Decrypt the cohort file and return `columns` as text; checks the SHA-256 first.

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
    with open_file(
        config, config.cohort_path_of(cohort.storage_name), cohort, binding_of(cohort)
    ) as reader:
        digest = reader.sha256()
        if digest != cohort.sha256:
            raise DataIntegrityError(
                f"Cohort file {cohort.id} does not match its recorded SHA-256."
            )
        reader.seek(0)
        table = read_stream_table(reader, list(columns))
    return table.to_pandas()


def destroy_cohort(cohort: CohortFile, *, now: dt.datetime | None = None) -> bool:
    """Delete the cohort's file key (which makes every copy of the file unreadable) and its
    file, and record when; True if there was a file to delete. The caller records the
    destruction, with `envelope.fingerprint(cohort)` taken before, in the same transaction."""
    session = object_session(cohort)
    if session is None:
        raise RuntimeError("destroy the cohort through a session")
    path = files.config_of(session).cohort_path_of(cohort.storage_name)
    return files.shred(cohort, path, now=now or utcnow())


def cohort_key_fingerprint(cohort: CohortFile) -> str | None:
    """As `key_fingerprint` for dataset versions: names the cohort file's key, never shows it."""
    return envelope.fingerprint(cohort)
