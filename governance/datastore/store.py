"""Storing, reading, verifying and destroying dataset versions: the datastore's public functions.

These are the only functions that write, decrypt or delete stored data. They check nothing
about who is asking: `store_version` is called by the ingestion service after its permission
checks, `read_columns` by the one door that decides and audits every read of dataset rows,
`destroy_version` by the destruction service.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from typing import Any, TypeAlias

import pandas as pd
import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from governance.datastore import files
from governance.datastore.crypto import (
    Binding,
    DataIntegrityError,
    DatastoreError,
    DecryptingReader,
    EncryptingWriter,
)
from governance.datastore.parquet import arrow_schema, read_table, stored_schema, write_parquet
from governance.models.dataset import Dataset, DatasetVersion
from governance.models.types import utcnow
from governance.services.actors import Actor


class DataUnavailable(DatastoreError):
    """The version's data was destroyed; it can no longer be read."""


# A DataFrame, an Arrow table, or batches already in the dataset's schema (pandas and pyarrow
# ship without type information, so mypy sees the first two as Any).
TableLike: TypeAlias = pd.DataFrame | pa.Table | Iterable[pa.RecordBatch]


def _batches(data: TableLike, schema: pa.Schema) -> Iterable[pa.RecordBatch]:
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(data, schema=schema, preserve_index=False)
    if isinstance(data, pa.Table):
        batches: list[pa.RecordBatch] = data.select(schema.names).cast(schema).to_batches()
        return batches
    return data


def store_version(session: Session, *, dataset: Dataset, frame_or_table: TableLike,
                  source_filename: str, by: Actor) -> DatasetVersion:
    """Encrypt and store a new version of `dataset`; the row is added to the session.

    `frame_or_table` is a DataFrame, an Arrow table, or (for streamed ingestion) an iterable of
    record batches already in the dataset's schema; an exception raised while iterating it
    leaves no file behind. The file is removed again if the transaction does not commit.
    """
    config = files.config_of(session)
    key = config.key()
    # One upload at a time per dataset, so two uploads cannot both become version N.
    session.execute(select(Dataset.id).where(Dataset.id == dataset.id).with_for_update())
    latest = session.scalar(select(func.max(DatasetVersion.number))
                            .where(DatasetVersion.dataset_id == dataset.id))
    number = (latest or 0) + 1
    schema = arrow_schema(dataset.columns)
    storage_name = files.new_storage_name()
    final = config.path_of(storage_name)
    partial = files.partial_path(config, storage_name)
    config.ensure_dir()
    try:
        with files.create_exclusive(partial) as out:
            sink = EncryptingWriter(out, key, Binding(dataset.id, number))
            rows = write_parquet(sink, schema, _batches(frame_or_table, schema))
            sink.finish()
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, final)
        files.fsync_dir(config.data_dir)
    except BaseException:
        files.remove_quietly(partial)
        files.remove_quietly(final)
        raise
    files.track_pending(session, final)
    version = DatasetVersion(
        dataset_id=dataset.id, number=number, sha256=sink.sha256, row_count=rows,
        byte_size=sink.plaintext_size, storage_name=storage_name,
        source_filename=source_filename[:255], uploaded_by_id=by.id)
    try:
        session.add(version)
        session.flush()
    except BaseException:
        files.forget_pending(session, final)
        files.remove_quietly(final)
        raise
    return version


def _open(version: DatasetVersion) -> DecryptingReader:
    session = object_session(version)
    if session is None:
        raise RuntimeError("read the version through a session: the datastore takes its "
                           "settings from the session that loaded it")
    if version.destroyed_at is not None:
        raise DataUnavailable(
            f"Version {version.number} of dataset {version.dataset_id} was destroyed on "
            f"{version.destroyed_at:%Y-%m-%d}.")
    config = files.config_of(session)
    return DecryptingReader(config.path_of(version.storage_name), config.key(),
                            Binding(version.dataset_id, version.number))


def _filter_columns(filters: Any) -> set[str]:
    """Column names in a DNF filter: [(col, op, value), ...] or [[(col, op, value), ...], ...]."""
    if not isinstance(filters, list) or not filters:
        raise ValueError("filters must be a non-empty list of (column, operator, value) "
                         "tuples, or a list of such lists")
    groups = filters if all(isinstance(f, list) for f in filters) else [filters]
    names = set()
    for group in groups:
        for condition in group:
            if not (isinstance(condition, tuple) and len(condition) == 3
                    and isinstance(condition[0], str)):
                raise ValueError(f"filter {condition!r} is not (column, operator, value)")
            names.add(condition[0])
    return names


def read_columns(version: DatasetVersion, columns: list[str], *,
                 filters: list[Any] | None = None) -> pd.DataFrame:
    """Decrypt `version` and return only `columns` (in that order), rows matching `filters`.

    The SHA-256 of the decrypted Parquet is checked against the version row first (one
    streaming pass, one chunk in memory), then only the chunks holding the requested columns
    are decrypted. Extra memory beyond the result is about the compressed size of the
    requested columns plus four 1 MiB chunks. Filters use pyarrow's DNF form and may only name
    requested columns, so a filter cannot reveal a column the caller may not read. A column
    declared after this version was stored comes back as nulls.

    Raises DataIntegrityError when the file is missing, altered, moved or under another key,
    DataUnavailable when the version was destroyed, ValueError for unknown columns.
    """
    declared = set(version.dataset.column_names)
    unknown = [c for c in columns if c not in declared]
    if unknown:
        raise ValueError(f"dataset {version.dataset_id} has no column(s) {', '.join(unknown)}")
    if len(set(columns)) != len(columns):
        raise ValueError("a column is requested twice")
    if filters is not None:
        outside = _filter_columns(filters) - set(columns)
        if outside:
            raise ValueError(f"filters may only use requested columns, not {sorted(outside)}")
    with _open(version) as reader:
        digest = reader.sha256()
        if digest != version.sha256:
            raise DataIntegrityError(
                f"Version {version.number} of dataset {version.dataset_id} does not match its "
                f"recorded SHA-256 ({version.sha256[:12]}…, found {digest[:12]}…).")
        present = set(stored_schema(_rewound(reader)).names)
        if filters is not None and _filter_columns(filters) - present:
            raise ValueError("a filtered column was added after this version was stored")
        table = read_table(_rewound(reader), [c for c in columns if c in present], filters)
    full_schema = arrow_schema(version.dataset.columns)
    for name in columns:
        if name not in present:
            table = table.append_column(full_schema.field(name).with_nullable(True),
                                        pa.nulls(table.num_rows, full_schema.field(name).type))
    return table.select(columns).to_pandas()


def _rewound(reader: DecryptingReader) -> DecryptingReader:
    reader.seek(0)
    return reader


def verify_version(version: DatasetVersion) -> bool:
    """True when the stored file decrypts and its SHA-256 matches the version row."""
    try:
        with _open(version) as reader:
            return reader.sha256() == version.sha256
    except DatastoreError:
        return False


def destroy_version(version: DatasetVersion, *, now: dt.datetime | None = None) -> bool:
    """Delete the stored file and record `destroyed_at`; True if a file was there to delete.

    The file is simply unlinked. Overwriting it first would be theatre on journalling and
    copy-on-write filesystems and on SSDs, which write the new bytes elsewhere; what makes a
    deleted file's leftover blocks useless is that they were only ever ciphertext. The file
    goes before the transaction commits: if the commit then fails, the version still looks
    live but its data is gone (the failure errs towards destruction, and a retry records
    it), rather than a committed certificate for data that still exists.
    """
    session = object_session(version)
    if session is None:
        raise RuntimeError("destroy the version through a session")
    config = files.config_of(session)
    path = config.path_of(version.storage_name)
    existed = path.exists()
    path.unlink(missing_ok=True)
    if config.data_dir.is_dir():
        files.fsync_dir(config.data_dir)
    version.destroyed_at = now or utcnow()
    return existed

