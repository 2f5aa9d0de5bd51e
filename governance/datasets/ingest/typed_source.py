"""Reading typed uploads: Parquet files and data frames (the demo and the API call this path).

Column names are matched as for CSV; each column's Arrow type must be able to hold the declared
type (see convert.compatible), else the whole column is refused before any row is read. Text
columns are parsed by the CSV rules. Rows are numbered from 1 (there is no header row).
Parquet is read a batch at a time, so memory is one batch (plus pyarrow's decompression of the
row group it comes from), whatever the file's size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import IO

import pandas as pd
import pyarrow as pa

from governance.datasets.datastore import UnreadableParquet, UploadedParquet
from governance.datasets.datastore.parquet import ARROW_TYPES, DeclaredColumn, arrow_schema
from governance.datasets.ingest.convert import EXPECTED, ColumnChecker, compatible
from governance.datasets.ingest.problems import (
    IngestionRefused,
    IngestLimits,
    Problem,
    ProblemLog,
    refuse,
)
from governance.datasets.ingest.schema_check import check_header
from governance.datasets.models import ColumnType


class TypedUpload:
    """Checked batches from typed columns (an Arrow schema plus a source of batches)."""

    def __init__(
        self, schema: pa.Schema, columns: Sequence[DeclaredColumn], limits: IngestLimits
    ) -> None:
        self.limits = limits
        self.columns = list(columns)
        self.schema = arrow_schema(self.columns)
        if len(schema.names) > limits.max_columns:
            raise refuse(
                "file",
                f"it has {len(schema.names):,} columns; a dataset may have at "
                f"most {limits.max_columns:,}",
            )
        self.index_of = check_header(schema.names, self.columns, limits, header_row=False)
        problems = []
        for position, column in enumerate(self.columns, start=1):
            index = self.index_of.get(column.name)
            kind = schema.field(index).type if index is not None else None
            if kind is not None and not compatible(kind, ColumnType(column.type)):
                problems.append(
                    Problem(
                        0,
                        position,
                        f"column {column.name}",
                        f"{EXPECTED[ColumnType(column.type)]}, but the file's column holds {kind}",
                    )
                )
        if problems:
            raise IngestionRefused(
                f"{len(problems)} column(s) have the wrong type.",
                problems[: limits.max_problems],
                len(problems),
            )
        self.file_columns = [schema.names[i] for i in sorted(self.index_of.values())]

    def checked(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        checker = self.checker()
        for batch in batches:
            converted = checker.check(batch)
            if converted is not None:
                yield converted
        checker.finish()

    def checker(self) -> BatchChecker:
        """A checker of this upload's batches as they arrive, one after another."""
        return BatchChecker(self)


class BatchChecker:
    """Checks and converts an upload's batches in order (rows numbered across them); problems
    are gathered across the whole upload and refused together by `finish`."""

    def __init__(self, upload: TypedUpload) -> None:
        self.upload = upload
        self.limits = upload.limits
        self.problems = ProblemLog(self.limits.max_problems)
        self.checkers = [
            ColumnChecker(c, i + 1, self.limits, self.problems, header_row=False)
            for i, c in enumerate(upload.columns)
        ]
        self.first_row = 1

    def check(self, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        """The batch in the dataset's schema, or None once any problem was found (nothing
        more is worth storing; the checks go on so that the refusal lists the problems)."""
        if self.first_row - 1 + batch.num_rows > self.limits.max_rows:
            raise self.limits.too_many_rows(row=self.limits.max_rows + 1)
        rows = pa.array(range(self.first_row, self.first_row + batch.num_rows), pa.int64())
        self.first_row += batch.num_rows
        arrays = []
        for column, checker in zip(self.upload.columns, self.checkers, strict=True):
            if column.name in self.upload.index_of:
                arrays.append(checker.from_typed(batch.column(column.name), rows))
            else:
                arrays.append(pa.nulls(batch.num_rows, ARROW_TYPES[checker.type]))
        if self.problems:
            return None
        return pa.RecordBatch.from_arrays(arrays, schema=self.upload.schema)

    def finish(self) -> None:
        if self.problems:
            raise self.problems.refusal()
        if self.first_row == 1:
            raise refuse("file", "it has no rows")


def parquet_batches(
    source: IO[bytes], columns: Sequence[DeclaredColumn], limits: IngestLimits
) -> Iterator[pa.RecordBatch]:
    """Check an uploaded Parquet file (a seekable stream) and yield its batches."""
    source.seek(0, 2)
    if source.tell() > limits.max_bytes:
        raise refuse(
            "file",
            f"it is larger than the {limits.max_upload_label} limit for one "
            "upload; split it or ask an administrator",
        )
    try:
        parquet = UploadedParquet(source)
    except UnreadableParquet as error:
        raise refuse("file", f"it is not a Parquet file this service can read ({error})") from error
    upload = TypedUpload(parquet.schema, columns, limits)
    if parquet.num_rows > limits.max_rows:
        # The footer says so: refused before a row is decompressed (and again while
        # converting, which does not trust the footer).
        raise limits.too_many_rows(row=limits.max_rows + 1)
    batches = parquet.iter_batches(upload.file_columns, limits.batch_rows)
    return _translated(upload.checked(batches))


def _translated(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    try:
        yield from batches
    except UnreadableParquet as error:
        raise refuse("file", f"part of the Parquet file cannot be read ({error})") from error


def frame_table(frame: pd.DataFrame) -> pa.Table:
    """A data frame as Arrow, or the refusal a user sees when it cannot be one."""
    if not all(isinstance(name, str) for name in frame.columns):
        raise refuse("frame", "every column name must be text")
    try:
        table: pa.Table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, ValueError, TypeError) as error:
        raise refuse("frame", f"it cannot be converted to Arrow ({error})") from error
    return table


class FrameStream:
    """Data frames checked as they arrive, one part of an upload after another (streamed
    ingestion: a register generated or exported in chunks): each part is checked as
    `frame_batches` checks a whole frame, with rows numbered across the parts, and every part
    must have the first part's columns."""

    def __init__(self, columns: Sequence[DeclaredColumn], limits: IngestLimits) -> None:
        self.columns = list(columns)
        self.limits = limits
        self.file_columns: list[str] | None = None
        self._checker: BatchChecker | None = None

    def batches(self, frame: pd.DataFrame) -> Iterator[pa.RecordBatch]:
        """This part's checked batches (none once a problem was found)."""
        table = frame_table(frame)
        upload = TypedUpload(table.schema, self.columns, self.limits)
        if self._checker is None:
            self._checker, self.file_columns = upload.checker(), upload.file_columns
        elif upload.file_columns != self.file_columns:
            raise refuse("frame", "a part's columns differ from the first part's")
        checker = self._checker
        for batch in table.select(upload.file_columns).to_batches(
            max_chunksize=self.limits.batch_rows
        ):
            converted = checker.check(batch)
            if converted is not None:
                yield converted

    def finish(self) -> None:
        """Refuse the upload if any part had a problem, or there were no rows."""
        if self._checker is None:
            raise refuse("file", "it has no rows")
        self._checker.finish()


def frame_batches(
    frame: pd.DataFrame, columns: Sequence[DeclaredColumn], limits: IngestLimits
) -> Iterator[pa.RecordBatch]:
    """Check a data frame (as the demo and services pass) and yield its batches."""
    table = frame_table(frame)
    upload = TypedUpload(table.schema, columns, limits)
    return upload.checked(
        table.select(upload.file_columns).to_batches(max_chunksize=limits.batch_rows)
    )
