"""Storing, reading, verifying and destroying dataset versions: the datastore's public functions.

Versions are stored as Parquet with modular encryption (pme.py); the chunked reader `open_file`
serves cohort files, attachments and the migration of versions stored before.

These are the only functions that write, decrypt or delete stored data. They check nothing
about who is asking: `store_version` is called by the ingestion service after its permission
checks, `read_columns` by the one door that decides and audits every read of dataset rows,
`destroy_version` by the destruction service. Each version's file has its own key, wrapped in
the version row (envelope.py); destroying the version deletes that key.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import struct
from collections.abc import Collection, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any, TypeAlias

import pandas as pd
import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from governance.authz.read_memo import remembered
from governance.datasets.datastore import agreement_keys, envelope, files, pme
from governance.datasets.datastore.column_cache import (
    ColumnCache,
    Columns,
    FileSignature,
    Verified,
)
from governance.datasets.datastore.crypto import (
    Binding,
    DataIntegrityError,
    DatastoreError,
    DecryptingReader,
)
from governance.datasets.datastore.parquet import (
    ParquetSink,
    arrow_schema,
    open_stored,
    read_table,
)
from governance.datasets.models import Dataset, DatasetVersion, VersionKeyWrap
from governance.identity.actors import Actor
from governance.kernel.types import utcnow


class DataUnavailable(DatastoreError):
    """The version's data was destroyed; it can no longer be read."""


# What binds a version's column keys to it: dataset id and version number, then the file id.
_CONTEXT = struct.Struct(">QQ")

# A DataFrame, an Arrow table, or one or more batches already in the dataset's schema (pandas
# and pyarrow ship without type information, so mypy sees the first two as Any).
TableLike: TypeAlias = pd.DataFrame | pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch]


# pandas' nullable integers for Arrow's. Arrow's own `to_pandas` turns an integer column with
# a missing value into float64: a page would show 38 as 38.0, and an integer beyond 2**53
# would lose its last digits (9007199254740993 read back as ...992). A column without one
# keeps numpy's int64, as before.
_NULLABLE_INTEGERS: dict[pa.DataType, Any] = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
}


def decoded(column: pa.ChunkedArray | pa.Array) -> pd.Series:
    """A stored column as pandas: as Arrow's `to_pandas` gives it, except that integers with
    a missing value stay integers (pandas' nullable type, the gaps `pd.NA`), every digit kept.
    Dates and booleans with gaps already come back as Python objects with None."""
    if column.null_count and column.type in _NULLABLE_INTEGERS:
        series: pd.Series = column.to_pandas(types_mapper=_NULLABLE_INTEGERS.get)
        return series
    plain: pd.Series = column.to_pandas()
    return plain


def decoded_frame(table: pa.Table) -> pd.DataFrame:
    """`table.to_pandas()` with each column as `decoded` makes it; a column with gaps is
    converted once, by `decoded`, not first as floats and again."""
    gaps = [
        (position, name)
        for position, (name, column) in enumerate(
            zip(table.column_names, table.columns, strict=True)
        )
        if column.null_count and column.type in _NULLABLE_INTEGERS
    ]
    if not gaps:
        plain: pd.DataFrame = table.to_pandas()
        return plain
    frame: pd.DataFrame = table.drop_columns([name for _, name in gaps]).to_pandas()
    for position, name in gaps:  # ascending, so each lands at its own position
        frame.insert(position, name, decoded(table.column(position)))
    return frame


def _batches(data: TableLike, schema: pa.Schema) -> Iterable[pa.RecordBatch]:
    if isinstance(data, pa.RecordBatch):
        return [data]
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(data, schema=schema, preserve_index=False)
    if isinstance(data, pa.Table):
        batches: list[pa.RecordBatch] = data.select(schema.names).cast(schema).to_batches()
        return batches
    return data


class VersionWriter:
    """A new version of `dataset` whose rows arrive over time (streamed ingestion): each
    `write` encrypts its rows into the version's file at once, a row group at a time, so a
    register far larger than memory is stored without ever being held whole; `finish` adds the
    version's row to the session. Used as a context manager, an exception before `finish`
    leaves no file behind; the file is removed again if the transaction does not commit.
    The rows go straight from memory into the encrypted file: no plaintext reaches the disk.
    """

    def __init__(
        self, session: Session, *, dataset: Dataset, source_filename: str, by: Actor
    ) -> None:
        config = files.config_of(session)
        # One upload at a time per dataset, so two uploads cannot both become version N.
        session.execute(select(Dataset.id).where(Dataset.id == dataset.id).with_for_update())
        latest = session.scalar(
            select(func.max(DatasetVersion.number)).where(DatasetVersion.dataset_id == dataset.id)
        )
        self.session, self.dataset, self.by = session, dataset, by
        self.source_filename = source_filename
        self.number = (latest or 0) + 1
        binding = Binding(dataset.id, self.number)
        self.file_key = envelope.new_file_key(config.ring, binding)
        self.schema = arrow_schema(dataset.columns)
        self.storage_name = files.new_storage_name()
        config.ensure_dir()
        self.final = config.path_of(self.storage_name)
        self._file = EncryptedWriter(self.final, self.file_key, binding, self.schema)
        self.version: DatasetVersion | None = None

    def write(self, data: TableLike) -> None:
        """Encrypt these rows (a DataFrame, an Arrow table or batches in the dataset's
        schema) into the version's file."""
        for batch in _batches(data, self.schema):
            self._file.write(batch)

    def finish(self) -> DatasetVersion:
        rows, content, byte_size = self._file.close()
        files.track_pending(self.session, self.final)
        version = DatasetVersion(
            dataset_id=self.dataset.id,
            number=self.number,
            sha256=content,
            content_sha256=content,
            storage_format=pme.FORMAT,
            row_count=rows,
            byte_size=byte_size,
            storage_name=self.storage_name,
            source_filename=self.source_filename[:255],
            uploaded_by_id=self.by.id,
        )
        self.file_key.record_on(version)
        try:
            self.session.add(version)
            self.session.flush()
            # The key goes to the agreements covering the dataset (and leaves the ring).
            agreement_keys.wrap_new_version(self.session, version)
        except BaseException:
            files.forget_pending(self.session, self.final)
            files.remove_quietly(self.final)
            raise
        self.version = version
        return version

    def abort(self) -> None:
        """Remove what was written (nothing is left under the live name or the hidden one)."""
        if self.version is None:
            self._file.discard()

    def __enter__(self) -> VersionWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            self.abort()


def store_version(
    session: Session,
    *,
    dataset: Dataset,
    frame_or_table: TableLike,
    source_filename: str,
    by: Actor,
) -> DatasetVersion:
    """Encrypt and store a new version of `dataset`; the row is added to the session.

    `frame_or_table` is a DataFrame, an Arrow table, or (for streamed ingestion) an iterable of
    record batches already in the dataset's schema; an exception raised while iterating it
    leaves no file behind. The file is removed again if the transaction does not commit.
    The rows go straight from memory into the encrypted file: no plaintext reaches the disk.
    (`VersionWriter` does the same for rows pushed to it as they arrive.)
    """
    with VersionWriter(session, dataset=dataset, source_filename=source_filename, by=by) as writer:
        writer.write(frame_or_table)
        return writer.finish()


def version_keys(key: bytes, binding: Binding, file_id: bytes) -> pme.VersionKeys:
    """The modular-encryption keys of one version's file, all derived from its own key."""
    context = _CONTEXT.pack(binding.dataset_id, binding.version_number) + file_id
    return pme.VersionKeys(lambda: key, context)


class EncryptedWriter:
    """A Parquet file with modular encryption under `file_key`, written as batches arrive: to
    a hidden name, then on `close` fsynced and renamed to `final` (so a crash never leaves a
    half-written file under a live name); `discard` removes it instead."""

    def __init__(
        self, final: Path, file_key: envelope.FileKey, binding: Binding, schema: pa.Schema
    ) -> None:
        self.final = final
        self.partial = files.partial_path(final)
        keys = version_keys(file_key.key, binding, file_key.file_id)
        self.content = pme.ContentHash(schema)
        self._out = files.create_exclusive(self.partial)
        try:
            self._sink = ParquetSink(self._out, schema, encryption=keys.encryption(schema))
        except BaseException:
            self._out.close()
            files.remove_quietly(self.partial)
            raise

    def write(self, batch: pa.RecordBatch) -> None:
        self._sink.write(batch)
        self.content.update(batch)

    def close(self) -> tuple[int, str, int]:
        """Finish the file under its live name; returns the rows, the content hash and the
        file's size."""
        try:
            rows = self._sink.close()
            self._out.flush()
            os.fsync(self._out.fileno())
            self._out.close()
            byte_size = self.partial.stat().st_size
            os.replace(self.partial, self.final)
            files.fsync_dir(self.final.parent)
        except BaseException:
            self.discard()
            raise
        return rows, self.content.hexdigest(), byte_size

    def discard(self) -> None:
        self._sink.abandon()
        with suppress(OSError):
            self._out.close()
        files.remove_quietly(self.partial)
        files.remove_quietly(self.final)


def write_encrypted(
    final: Path,
    file_key: envelope.FileKey,
    binding: Binding,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
) -> tuple[int, str, int]:
    """Write `batches` as a Parquet file with modular encryption under `file_key`
    (`EncryptedWriter`); returns the rows, the content hash and the file's size."""
    writer = EncryptedWriter(final, file_key, binding, schema)
    try:
        for batch in batches:
            writer.write(batch)
    except BaseException:
        writer.discard()
        raise
    return writer.close()


def _live_session(version: DatasetVersion) -> Session:
    """The session that loaded `version`, which must not be destroyed."""
    session = object_session(version)
    if session is None:
        raise RuntimeError(
            "read the version through a session: the datastore takes its "
            "settings from the session that loaded it"
        )
    if version.destroyed_at is not None:
        _cache.forget(version.storage_name)
        raise DataUnavailable(
            f"Version {version.number} of dataset {version.dataset_id} was destroyed on "
            f"{version.destroyed_at:%Y-%m-%d}."
        )
    return session


@contextmanager
def reading(what: str) -> Iterator[None]:
    """pyarrow's errors while reading a stored file with modular encryption, as the
    datastore's: `what` names the file (a version, a cohort file)."""
    try:
        yield
    except DatastoreError:
        raise
    except (pa.ArrowException, OSError) as error:
        raise DataIntegrityError(
            f"{what} failed decryption: its file was altered or truncated, or is not the file "
            f"stored for it ({error})."
        ) from None


class StoredFile:
    """A version's file and the keys to read it, whose column keys are unwrapped only as
    pyarrow reads their columns; pyarrow's errors become the datastore's."""

    def __init__(self, version: DatasetVersion) -> None:
        session = _live_session(version)
        config = files.config_of(session)
        self.version = version
        self.path = config.path_of(version.storage_name)
        if version.storage_format != pme.FORMAT:
            raise DatastoreError(
                f"Version {version.number} of dataset {version.dataset_id} is stored in the "
                "earlier encrypted format, which the service no longer reads; the host "
                "operator converts it with `governance datastore migrate-encryption`."
            )
        binding = Binding(version.dataset_id, version.number)
        key, file_id = agreement_keys.file_key(session, version)
        self.keys = version_keys(key, binding, file_id)
        if not self.path.exists():
            raise DataIntegrityError(f"The stored file {os.fspath(self.path)!r} is missing.")

    def reading(self) -> AbstractContextManager[None]:
        return reading(f"Version {self.version.number} of dataset {self.version.dataset_id}")

    def present(self) -> set[str]:
        """The stored columns' names (decrypts the footer only)."""
        with self.reading():
            names: list[str] = open_stored(self.path, self.keys.decryption()).schema_arrow.names
        return set(names)

    def read(self, columns: list[str], filters: list[Any] | None) -> pa.Table:
        with self.reading():
            return read_table(self.path, columns, filters, self.keys.decryption())

    def content_hash(self) -> str:
        """Decrypt every column, row group by row group, and hash the content."""
        with self.reading():
            stored = open_stored(self.path, self.keys.decryption())
            content = pme.ContentHash(stored.schema_arrow)
            for batch in stored.iter_batches(batch_size=pme.HASH_BATCH_ROWS, use_threads=False):
                content.update(batch)
        return content.hexdigest()


def open_file(
    config: files.StoreConfig, path: Path, row: envelope.KeyedFile, binding: Binding
) -> DecryptingReader:
    """Open a file in the chunked format (a cohort file or attachment, or a dataset version
    not yet migrated) with the key its row records (or, for a file from before per-file
    keys, the data key its header names), checking it is the file recorded for the row."""
    if envelope.is_legacy(row):
        return DecryptingReader(path, envelope.legacy_key(config.ring, path), binding)
    file_key = envelope.unwrap(config.ring, row, binding)
    return DecryptingReader(path, file_key.key, binding, file_id=file_key.file_id)


def _filter_columns(filters: Any) -> set[str]:
    """Column names in a DNF filter: [(col, op, value), ...] or [[(col, op, value), ...], ...]."""
    if not isinstance(filters, list) or not filters:
        raise ValueError(
            "filters must be a non-empty list of (column, operator, value) "
            "tuples, or a list of such lists"
        )
    groups = filters if all(isinstance(f, list) for f in filters) else [filters]
    names = set()
    for group in groups:
        for condition in group:
            if not (
                isinstance(condition, tuple)
                and len(condition) == 3
                and isinstance(condition[0], str)
            ):
                raise ValueError(f"filter {condition!r} is not (column, operator, value)")
            names.add(condition[0])
    return names


def read_columns(
    version: DatasetVersion,
    columns: list[str],
    *,
    filters: list[Any] | None = None,
    keep: bool = True,
    declared: Collection[str] | None = None,
) -> pd.DataFrame:
    """Decrypt `version` and return only `columns` (in that order), rows matching `filters`.

    Only the encrypted footer and the pages of the requested columns are decrypted, each
    authenticated by AES-GCM; the keys of other columns are never unwrapped (pme.py). Filters
    use pyarrow's DNF form and may only name requested columns, so a filter cannot reveal a
    column the caller may not read. A column declared after this version was stored comes back
    as nulls.

    Without filters, the decoded columns are kept in this process's cache (column_cache.py
    says what it keeps and for how long; `keep=False` for a one-off read that should not fill
    it): a later read of the same file, unchanged since, skips decrypting and decoding.

    Raises DataIntegrityError when the file is missing, altered, moved or under another key,
    DataUnavailable when the version was destroyed, DatastoreError for a version still in the
    earlier format, ValueError for unknown columns. `declared`: the dataset's declared column
    names when the caller has them (the door's, remembered behind the policy epoch), so the
    version's dataset need not be loaded to check `columns` against them.
    """
    _check_requested(version, columns, declared)
    if filters is None:
        return _read_cached(version, columns, keep=keep).frame()
    outside = _filter_columns(filters) - set(columns)
    if outside:
        raise ValueError(f"filters may only use requested columns, not {sorted(outside)}")
    return decoded_frame(_read_table(version, columns, filters))


def read_arrow(
    version: DatasetVersion, columns: list[str], *, declared: Collection[str] | None = None
) -> pa.Table:
    """`read_columns` for an engine that takes Arrow (DuckDB, Spark): the same columns,
    decrypted in memory (only their pages; the keys of other columns are never unwrapped) and
    returned as Arrow as stored, with no pandas copy and nothing kept in the cache: a
    register's hundred million rows would cost several times their size as pandas objects
    (a date a Python object) and be held twice. A column declared after this version was
    stored comes back as nulls. Raises as `read_columns` does."""
    _check_requested(version, columns)
    return _read_table(version, columns, None)


def _read_table(version: DatasetVersion, columns: list[str], filters: list[Any] | None) -> pa.Table:
    """`columns` in that order, from the file; those declared after the version was stored
    as nulls."""
    table, present = _read_file(version, columns, filters)
    added = [name for name in columns if name not in present]
    if added:
        full_schema = arrow_schema(version.dataset.columns)
        for name in added:
            table = table.append_column(
                full_schema.field(name).with_nullable(True),
                pa.nulls(table.num_rows, full_schema.field(name).type),
            )
    return table.select(columns)


def read_series(
    version: DatasetVersion, columns: list[str], *, declared: Collection[str] | None = None
) -> Columns:
    """`read_columns` without the frame: the decoded columns themselves (kept in this
    process's cache like theirs), for a caller that pages them (the door's plain page) and
    needs no frame to filter or sort. The series are the cache's own: never change them."""
    _check_requested(version, columns, declared)
    return _read_cached(version, columns, keep=True)


def _check_requested(
    version: DatasetVersion, columns: list[str], declared: Collection[str] | None = None
) -> None:
    if declared is None:
        declared = set(version.dataset.column_names)
    unknown = [c for c in columns if c not in declared]
    if unknown:
        raise ValueError(f"dataset {version.dataset_id} has no column(s) {', '.join(unknown)}")
    if len(set(columns)) != len(columns):
        raise ValueError("a column is requested twice")


def _read_file(
    version: DatasetVersion, columns: list[str], filters: list[Any] | None
) -> tuple[pa.Table, set[str]]:
    """Read the stored ones of `columns`; every page read is authenticated (AES-GCM)."""
    stored = StoredFile(version)
    present = stored.present()
    if filters is not None and _filter_columns(filters) - present:
        raise ValueError("a filtered column was added after this version was stored")
    return stored.read([c for c in columns if c in present], filters), present


# How many bytes of decoded columns each process keeps (least recently used go first).
# pandas holds strings as Python objects, several times their Arrow size: 10,000 rows of ten
# columns take about 10 MB.
CACHE_BYTES = 256 * 1024 * 1024
_cache = ColumnCache(CACHE_BYTES)


def forget_cached(storage_name: str) -> None:
    """Drop a file's cached columns (its row now points elsewhere or it was destroyed)."""
    _cache.forget(storage_name)


def _signature(path: str, row: envelope.KeyedFile, held: bytes = b"") -> FileSignature:
    try:
        stat = os.stat(path)
    except FileNotFoundError as exc:
        raise DataIntegrityError(f"The stored file {path!r} is missing.") from exc
    fingerprint = _fingerprint(
        row.file_id or "legacy", row.wrapping_key_id or "", bytes(row.wrapped_key or b""), held
    )
    return (
        stat.st_dev ^ fingerprint,
        stat.st_ino,
        stat.st_size,
        stat.st_mtime_ns,
        stat.st_ctime_ns,
    )


@functools.lru_cache(maxsize=256)
def _fingerprint(file_id: str, wrapping_key_id: str, wrapped_key: bytes, held: bytes) -> int:
    """The key material's part of a file's signature: a function of its arguments only, so
    worked out once per file and key material, not at every read (the material, and so the
    signature, changes whenever a key or a wrap does)."""
    material = "\0".join((file_id, wrapping_key_id)).encode() + b"\0" + wrapped_key + b"\0" + held
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "big")


def _read_cached(version: DatasetVersion, columns: list[str], *, keep: bool) -> Columns:
    """`columns` (in that order) from the cache where the file is unchanged since it was
    verified; the others verified and read from the file, and kept when `keep` is true.
    Columns declared after the version was stored come back as nulls."""
    session = _live_session(version)
    # The holders' wraps are key material too: a wrap taken away, altered or replaced since
    # the columns were kept sends the read back to the file and its keys.
    # Remembered per process behind the policy epoch, which every change to the wraps bumps
    # (authz/read_memo.py): a wrap deleted in any process is missing from the next read here.
    held = remembered(session, ("key_wraps", version.id), lambda: _held_wraps(session, version))
    signature = _signature(files.stored_path(session, version.storage_name), version, held)
    key = (version.storage_name, version.sha256)
    entry = _cache.get(version.dataset_id, key, signature) if keep else None
    fresh: dict[str, pd.Series] = {}
    if entry is None or any(c not in entry.columns for c in columns if c in entry.present):
        stored = StoredFile(version)
        if entry is None:
            with stored.reading():
                footer = open_stored(stored.path, stored.keys.decryption())
                entry = Verified(
                    signature, frozenset(footer.schema_arrow.names), footer.metadata.num_rows
                )
        missing = [c for c in columns if c in entry.present and c not in entry.columns]
        if missing:
            table = stored.read(missing, None)
            fresh = {name: decoded(table.column(name)) for name in missing}
        if keep:
            _cache.put(version.dataset_id, key, entry, fresh)
    series: dict[str, pd.Series] = {}
    schema: pa.Schema | None = None  # built once per read, and only if a column needs it
    for name in columns:
        if name in fresh:
            series[name] = fresh[name]
        elif name in entry.columns:
            series[name] = entry.columns[name]
        else:  # declared after this version was stored
            if schema is None:
                schema = arrow_schema(version.dataset.columns)
            series[name] = decoded(pa.nulls(entry.rows, schema.field(name).type))
    return Columns(series, entry.rows, entry.pages)


def _held_wraps(session: Session, version: DatasetVersion) -> bytes:
    return b"\0".join(
        f"{holder}:{kid}:".encode() + bytes(wrapped)
        for holder, kid, wrapped in session.execute(
            select(
                VersionKeyWrap.agreement_id,
                VersionKeyWrap.agreement_key_id,
                VersionKeyWrap.wrapped_key,
            )
            .where(VersionKeyWrap.version_id == version.id)
            .order_by(VersionKeyWrap.id)
        )
    )


def verify_version(version: DatasetVersion) -> bool:
    """True when the stored file decrypts in full and its content hash matches the row."""
    try:
        return StoredFile(version).content_hash() == version.content_sha256
    except DatastoreError:
        return False


def key_fingerprint(version: DatasetVersion) -> str | None:
    """The fingerprint a destruction certificate gives for the version's file key: a hash of
    the wrapped key and the id of the data key that wrapped it (never the key itself); for a
    version whose key agreements hold, a hash of their wraps' fingerprints."""
    session = object_session(version)
    wraps = agreement_keys.wraps_of(session, version) if session is not None else []
    if not wraps:
        return envelope.fingerprint(version)
    return hashlib.sha256(
        "\n".join(agreement_keys.wrap_fingerprint(w) for w in wraps).encode()
    ).hexdigest()


def release_agreement(session: Session, agreement_id: int) -> list[str]:
    """Destroy an agreement's key files and the version keys it wrapped (agreement_keys.py),
    and drop what this process decoded of those versions: a version no other agreement holds
    a key to is unreadable from now on. Returns the destroyed keys' fingerprints."""
    fingerprints, names = agreement_keys.release_agreement(session, agreement_id)
    for name in names:
        _cache.forget(name)
    return fingerprints


def release_cover(
    session: Session, agreement_id: int, dataset_ids: list[int]
) -> list[agreement_keys.ReleasedWrap]:
    """An amendment in force dropped these datasets from the agreement: its wraps of their
    versions and the key files under them go (agreement_keys.release_cover), and this
    process's decoded columns of them with them."""
    released = agreement_keys.release_cover(session, agreement_id, dataset_ids)
    for version_id in {r.version_id for r in released}:
        version = session.get(DatasetVersion, version_id)
        if version is not None:
            _cache.forget(version.storage_name)
    return released


def destroy_version(version: DatasetVersion, *, now: dt.datetime | None = None) -> bool:
    """Delete the version's file key and its file, and record `destroyed_at`; True if a file
    was there to delete.

    The wrapped file key is what erases the data: it leaves the row in the caller's
    transaction (with its audit event), and every copy of the file, in backups and disk images
    too, is ciphertext under a key that no longer exists. The file itself is simply unlinked:
    overwriting it would be theatre on journalling and copy-on-write filesystems and on SSDs,
    which write the new bytes elsewhere. The file goes before the transaction commits: if the
    commit then fails, the version still looks live but its data is gone (the failure errs
    towards destruction, and a retry records it), rather than a committed certificate for
    data that still exists.
    """
    session = object_session(version)
    if session is None:
        raise RuntimeError("destroy the version through a session")
    config = files.config_of(session)
    path = config.path_of(version.storage_name)
    _cache.forget(version.storage_name)
    agreement_keys.forget_wraps(session, version)
    return files.shred(version, path, now=now or utcnow())
