"""Shared pieces of the dataset tests: a declared schema, good and bad files, file counting."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.models.dataset import Classification as K
from governance.models.dataset import ColumnType as T
from governance.models.dataset import DatasetVersion
from governance.services.datasets import ColumnSpec

COLUMNS = [
    ColumnSpec("person_id", T.STRING, K.DIRECT_IDENTIFIER, description="Agency person number"),
    ColumnSpec("age", T.INTEGER, K.QUASI_IDENTIFIER),
    ColumnSpec("arrest_date", T.DATE, K.GENERAL),
    ColumnSpec("offence", T.CATEGORY, K.SENSITIVE),
    ColumnSpec("released", T.BOOLEAN, K.GENERAL, required=False),
    ColumnSpec("bail", T.FLOAT, K.GENERAL, required=False),
]
HEADER = b"person_id,age,arrest_date,offence,released,bail\n"
GOOD_CSV = HEADER + (b"P1,34,2021-03-04,theft,yes,100.5\n"
                     b"P2,19,2022-11-30,assault,,\n"
                     b"P3,51,2020-01-01,=HYPERLINK(\"x\"),false,0\n")


def rows_csv(rows: int) -> bytes:
    body = b"".join(b"P%d,%d,2021-01-%02d,theft,no,1.5\n" % (i, 20 + i % 50, 1 + i % 28)
                    for i in range(rows))
    return HEADER + body


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def good_parquet() -> bytes:
    return parquet_bytes(pa.table({
        "person_id": ["P1", "P2"], "age": pa.array([34, 19], pa.int32()),
        "arrest_date": pa.array([18000, 18001], pa.date32()), "offence": ["theft", "fraud"],
        "bail": [1.0, None]}))


def data_files(app: Flask) -> list[Path]:
    """Every file in DATA_DIR, hidden partial files included."""
    directory = Path(app.config["DATA_DIR"])
    return sorted(p for p in directory.iterdir()) if directory.is_dir() else []


def version_count(db: Session, dataset_id: int) -> int:
    db.rollback()
    return db.scalar(select(func.count()).select_from(DatasetVersion)
                     .where(DatasetVersion.dataset_id == dataset_id)) or 0
