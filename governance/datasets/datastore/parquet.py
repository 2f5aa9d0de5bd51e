"""Parquet and the Arrow schema of stored data: the only importer of pyarrow.parquet.

Stored versions are Parquet with the dataset's declared columns in declared order, typed as
`ARROW_TYPES` says, zstd-compressed, in row groups of `ROW_GROUP_ROWS` rows (so a filtered read
can skip row groups by their statistics). Uploaded Parquet files are opened here too, so that
one package holds every Parquet reader in the codebase; see `UploadedParquet`.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from pathlib import Path
from typing import IO, Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pqe

from governance.datasets.models import ColumnType

ROW_GROUP_ROWS = 128 * 1024
# A Parquet footer describes every column of every row group; 16 MiB of footer is far beyond
# any file with the datastore's 2,000-column limit, and refusing it early keeps a hostile file
# from costing memory before its schema is even read.
MAX_FOOTER_BYTES = 16 * 1024 * 1024

ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    ColumnType.STRING: pa.string(),
    ColumnType.INTEGER: pa.int64(),
    ColumnType.FLOAT: pa.float64(),
    ColumnType.BOOLEAN: pa.bool_(),
    ColumnType.DATE: pa.date32(),
    ColumnType.CATEGORY: pa.dictionary(pa.int32(), pa.string()),
}


class DeclaredColumn(Protocol):
    """What the datastore needs of a declared column (a DatasetColumn or a ColumnSpec)."""

    @property
    def name(self) -> str: ...

    @property
    def type(self) -> ColumnType: ...

    @property
    def required(self) -> bool: ...


def arrow_schema(columns: Sequence[DeclaredColumn]) -> pa.Schema:
    """The Arrow schema every stored version of a dataset with these columns has."""
    return pa.schema(
        [
            pa.field(c.name, ARROW_TYPES[ColumnType(c.type)], nullable=not c.required)
            for c in columns
        ]
    )


class ParquetSink:
    """A Parquet file written as batches arrive (which must match `schema`), encrypted with
    `encryption` (pme.py): batches are gathered into row groups of `ROW_GROUP_ROWS`, so memory
    is one row group whatever the file's size. `close` writes the footer and returns the rows."""

    def __init__(
        self,
        sink: IO[bytes] | io.RawIOBase,
        schema: pa.Schema,
        *,
        encryption: pqe.FileEncryptionProperties | None = None,
    ) -> None:
        self.schema = schema
        self.rows = 0
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._writer = pq.ParquetWriter(
            sink,
            schema,
            compression="zstd",
            write_statistics=True,
            encryption_properties=encryption,
        )

    def write(self, batch: pa.RecordBatch) -> None:
        if not batch.schema.equals(self.schema):
            raise ValueError(f"a batch does not match the dataset's schema: {batch.schema}")
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        self._writer.write_table(
            pa.Table.from_batches(self._pending, self.schema), row_group_size=ROW_GROUP_ROWS
        )
        self.rows += self._pending_rows
        self._pending, self._pending_rows = [], 0

    def close(self) -> int:
        # A file with no rows still gets its (empty) row group, as a one-shot write gives.
        if self._pending_rows or not self.rows:
            self._flush()
        self._writer.close()
        return self.rows

    def abandon(self) -> None:
        """Stop after a failure: the writer lets go of the sink (the caller removes the file)."""
        self._pending = []
        with suppress(Exception):
            self._writer.close()


def write_parquet(
    sink: IO[bytes] | io.RawIOBase,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    *,
    encryption: pqe.FileEncryptionProperties | None = None,
) -> int:
    """Write batches (which must match `schema`) as Parquet to `sink`, encrypted with
    `encryption` (pme.py); returns the row count."""
    writer = ParquetSink(sink, schema, encryption=encryption)
    try:
        for batch in batches:
            writer.write(batch)
    except BaseException:
        writer.abandon()
        raise
    return writer.close()


def open_stored(path: Path, decryption: pqe.FileDecryptionProperties) -> pq.ParquetFile:
    """A stored version's file; reading its schema decrypts the footer only."""
    return pq.ParquetFile(path, decryption_properties=decryption)


def read_table(
    path: Path, columns: list[str], filters: Any, decryption: pqe.FileDecryptionProperties
) -> pa.Table:
    """The columns asked for; pyarrow decrypts the pages of those columns only."""
    table: pa.Table = pq.read_table(
        path, columns=columns, filters=filters, decryption_properties=decryption
    )
    return table


def read_stream_table(source: io.RawIOBase, columns: list[str]) -> pa.Table:
    """Columns of a plaintext Parquet stream (a cohort file, decrypted as it is read)."""
    table: pa.Table = pq.read_table(source, columns=columns)
    return table


def plaintext_batches(
    source: io.RawIOBase, batch_size: int
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The schema and rows of a plaintext Parquet stream (a version in the earlier format,
    decrypted chunk by chunk as it is read): the migration to modular encryption reads these."""
    stored = pq.ParquetFile(source)
    schema: pa.Schema = stored.schema_arrow
    return schema, stored.iter_batches(batch_size=batch_size, use_threads=False)


class UnreadableParquet(ValueError):
    """An uploaded file is not Parquet that pyarrow can read."""


class UploadedParquet:
    """An uploaded Parquet file (in a seekable temporary file, never under DATA_DIR)."""

    def __init__(self, stream: IO[bytes]) -> None:
        stream.seek(0, 2)
        size = stream.tell()
        if size < 12:
            raise UnreadableParquet("the file is too short to be Parquet")
        stream.seek(size - 8)
        tail = stream.read(8)
        stream.seek(0)
        if stream.read(4) != b"PAR1" or tail[4:] != b"PAR1":
            raise UnreadableParquet("the file does not start and end with Parquet's PAR1 marker")
        if int.from_bytes(tail[:4], "little") > MAX_FOOTER_BYTES:
            raise UnreadableParquet(
                "its footer (the schema and column index) is larger than "
                f"{MAX_FOOTER_BYTES // (1024 * 1024)} MiB"
            )
        stream.seek(0)
        try:
            self._file = pq.ParquetFile(stream)
            self.schema: pa.Schema = self._file.schema_arrow
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise UnreadableParquet(str(exc)) from exc

    @property
    def num_rows(self) -> int:
        rows: int = self._file.metadata.num_rows
        return rows

    def iter_batches(self, columns: list[str], batch_size: int) -> Iterator[pa.RecordBatch]:
        try:
            yield from self._file.iter_batches(
                batch_size=batch_size, columns=columns, use_threads=False
            )
        except (pa.ArrowException, OSError) as exc:
            raise UnreadableParquet(str(exc)) from exc
