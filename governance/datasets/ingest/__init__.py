"""Checking uploads against a dataset's declared schema and turning them into Arrow batches.

`open_upload` picks the reader by file name (.csv, or .parquet/.pq), checks the header or schema
at once, and returns an `Upload` whose batches are checked lazily while the datastore writes
them; any problem raises `IngestionRefused` (a 422 listing the first problems) and the
datastore then leaves nothing behind. This package reads uploads only: stored data is the
datastore's.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO

import pandas as pd
import pyarrow as pa

from governance.datasets.datastore.parquet import DeclaredColumn, arrow_schema
from governance.datasets.ingest.csv_source import CsvUpload
from governance.datasets.ingest.problems import IngestionRefused, IngestLimits, Problem, refuse
from governance.datasets.ingest.typed_source import FrameStream, frame_batches, parquet_batches

__all__ = [
    "FORMATS",
    "FrameStream",
    "IngestLimits",
    "IngestionRefused",
    "Problem",
    "Upload",
    "frame_batches",
    "open_upload",
    "parse_csv_frame",
]

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass
class Upload:
    format: str
    batches: Iterator[pa.RecordBatch]


def open_upload(
    source: IO[bytes], filename: str, columns: Sequence[DeclaredColumn], limits: IngestLimits
) -> Upload:
    suffix = PurePath(filename).suffix.lower()
    kind = FORMATS.get(suffix)
    if kind is None:
        raise refuse("file", f"{filename!r} is neither a .csv nor a .parquet file")
    if kind == "csv":
        return Upload("csv", CsvUpload(source, columns, limits).batches())
    return Upload("parquet", parquet_batches(source, columns, limits))


def parse_csv_frame(
    data: bytes, columns: Sequence[DeclaredColumn], limits: IngestLimits | None = None
) -> pd.DataFrame:
    """Check CSV bytes and return them as a frame, or raise IngestionRefused (for tests and
    previews; ingestion itself streams batches to the datastore instead)."""
    upload = CsvUpload(io.BytesIO(data), columns, limits or IngestLimits())
    batches = list(upload.batches())
    return pa.Table.from_batches(batches, arrow_schema(list(columns))).to_pandas()
