"""Streamed ingestion: a register arriving in parts is stored as one version, never held whole.

What a user would notice: a version streamed a part at a time (`ingest_stream`, as the
register benchmark stores 100 million events) is the same version a one-shot upload of the
whole table makes (same content hash, same rows read back, same audit record); nothing in
plaintext reaches the disk while it is written; a refused part, an error in the caller's
loop or someone who is not the dataset's steward leaves no version and no file.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.datasets import datastore
from governance.datasets.datastore.parquet import ROW_GROUP_ROWS
from governance.datasets.ingest import IngestionRefused
from governance.datasets.ingestion import ingest_frame, ingest_stream
from governance.datasets.models import Dataset
from governance.kernel.errors import PermissionDenied
from tests.datasets.support import data_files, version_count
from tests.support import SETUP, People

MARKER = "plaintext-canary"


def register(rows: int) -> pd.DataFrame:
    """Rows of the test dataset, more than two row groups' worth, with text to look for."""
    numbers = np.arange(rows)
    return pd.DataFrame(
        {
            "person_id": [f"{MARKER}-{i}" for i in numbers],
            "age": 18 + numbers % 60,
            "arrest_date": pd.Timestamp("2020-01-01") + pd.to_timedelta(numbers % 900, unit="D"),
            "offence": np.where(numbers % 3 == 0, f"{MARKER}-theft", "assault"),
            "released": np.where(numbers % 7 == 0, None, numbers % 2 == 0),
            "bail": np.where(numbers % 5 == 0, np.nan, numbers * 0.5),
        }
    )


def parts(frame: pd.DataFrame, sizes: list[int]) -> list[pd.DataFrame]:
    bounds = np.cumsum([0, *sizes])
    assert bounds[-1] == len(frame)
    return [frame.iloc[a:b].reset_index(drop=True) for a, b in itertools.pairwise(bounds)]


def stream(
    db: Session, dataset: Dataset, frames: list[pd.DataFrame], by: Any = SETUP, then: Any = None
) -> None:
    """Stream `frames` as the next version; `then` is raised inside the block after them."""
    with ingest_stream(db, dataset_id=dataset.id, source_filename="streamed", by=by) as out:
        for frame in frames:
            out.write(frame)
        if then is not None:
            raise then


ROWS = 2 * ROW_GROUP_ROWS + 12_345
# Uneven parts: a single row, a part straddling a row group, the rest.
SIZES = [1, ROW_GROUP_ROWS + 7, 50_000, ROWS - 1 - (ROW_GROUP_ROWS + 7) - 50_000]


def test_a_version_streamed_in_parts_is_the_version_one_upload_makes(
    db: Session, arrests: Dataset
) -> None:
    frame = register(ROWS)
    whole = ingest_frame(db, dataset_id=arrests.id, frame=frame, source_filename="f", by=SETUP)
    db.commit()
    with ingest_stream(db, dataset_id=arrests.id, source_filename="streamed", by=SETUP) as out:
        for part in parts(frame, SIZES):
            out.write(part)
    db.commit()
    streamed = out.version
    assert streamed is not None
    assert streamed.number == whole.number + 1
    assert streamed.row_count == whole.row_count == ROWS
    # The content hash is of the rows, however they were batched: equal means equal content.
    assert streamed.sha256 == whole.sha256
    assert datastore.verify_version(streamed)
    columns = list(frame.columns)
    pd.testing.assert_frame_equal(
        datastore.read_columns(streamed, columns, keep=False),
        datastore.read_columns(whole, columns, keep=False),
    )
    recorded = db.scalars(
        select(AuditEvent).where(
            AuditEvent.event_type == AuditType.DATASET_INGEST,
            AuditEvent.target_id == str(streamed.id),
        )
    ).one()
    assert recorded.outcome == Outcome.SUCCESS
    assert recorded.detail["rows"] == ROWS
    assert recorded.detail["sha256"] == streamed.sha256


def test_nothing_in_plaintext_reaches_the_disk_while_a_version_streams_in(
    app: Flask, db: Session, arrests: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Temporary files would land here (Python's and native libraries' alike).
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    seen: list[Path] = []

    def no_plaintext() -> None:
        """Every file in the store (hidden partial ones included), the instance folder and
        the temporary folder holds ciphertext only."""
        folders = [scratch, Path(app.instance_path), Path(app.config["DATA_DIR"])]
        for path in {p for folder in folders for p in folder.rglob("*") if p.is_file()}:
            content = path.read_bytes()
            assert MARKER.encode() not in content, path
            assert b"PAR1" not in content, path
            seen.append(path)

    with ingest_stream(db, dataset_id=arrests.id, source_filename="streamed", by=SETUP) as out:
        for part in parts(register(ROWS), SIZES):
            out.write(part)
            no_plaintext()  # row groups are on disk by now, as the parts arrive
    db.commit()
    no_plaintext()
    assert any(p.name.startswith(".") for p in seen), "the partial file was looked at"
    stored = Path(app.config["DATA_DIR"]) / out.version.storage_name  # type: ignore[union-attr]
    assert stored in seen
    assert stored.read_bytes()[:4] == b"PARE"  # Parquet with an encrypted footer


def test_a_refused_part_leaves_no_version_and_no_file(
    app: Flask, db: Session, arrests: Dataset
) -> None:
    good, bad = parts(register(1_000), [600, 400])
    bad.loc[5, "person_id"] = None  # a required column without a value
    with pytest.raises(IngestionRefused) as refused:
        stream(db, arrests, [good, bad])
    # Rows are numbered across the parts, as in one file.
    assert refused.value.problems[0].row == 606
    assert refused.value.audit is not None
    assert refused.value.audit["outcome"] == Outcome.FAILURE
    db.rollback()
    assert version_count(db, arrests.id) == 0
    assert data_files(app) == []


def test_a_part_with_other_columns_is_refused(app: Flask, db: Session, arrests: Dataset) -> None:
    first, second = parts(register(100), [50, 50])
    with pytest.raises(IngestionRefused) as refused:
        stream(db, arrests, [first, second.drop(columns=["bail"])])
    assert "part's columns differ" in refused.value.problems[0].text
    db.rollback()
    assert version_count(db, arrests.id) == 0
    assert data_files(app) == []


def test_an_error_in_the_callers_loop_leaves_no_file(
    app: Flask, db: Session, arrests: Dataset
) -> None:
    # A row group is on disk already when the caller's loop fails.
    with pytest.raises(RuntimeError, match="generator failed"):
        stream(db, arrests, [register(ROW_GROUP_ROWS + 1)], then=RuntimeError("generator failed"))
    db.rollback()
    assert version_count(db, arrests.id) == 0
    assert data_files(app) == []


def test_only_the_datasets_stewards_may_stream_a_version(
    app: Flask, db: Session, arrests: Dataset, people: People
) -> None:
    with pytest.raises(PermissionDenied):
        stream(db, arrests, [register(10)], by=people.analyst)
    db.rollback()
    assert version_count(db, arrests.id) == 0
    assert data_files(app) == []
