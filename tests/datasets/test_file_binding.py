"""Each stored file's random file id is bound into its row and checked on every read.

An upload that crashes after its file is written but before its row commits leaves a file that
decrypts as the same dataset and version number as the next upload. Before, such a leftover,
swapped in for the real file (with the row's SHA-256 edited to match), was read as the version.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.datasets import datastore
from governance.datasets.datastore import DataIntegrityError
from governance.datasets.models import Dataset
from tests.datasets.test_datastore import FRAME, store
from tests.support import SETUP


def test_a_file_left_by_a_crashed_upload_cannot_stand_in_for_the_version(
    app: Flask, db: Session, arrests: Dataset
) -> None:
    directory = Path(app.config["DATA_DIR"])
    crashed = datastore.store_version(
        db, dataset=arrests, frame_or_table=FRAME.tail(1), source_filename="crashed", by=SETUP
    )
    leftover = (directory / crashed.storage_name).read_bytes()
    leftover_sha256 = crashed.sha256
    db.rollback()  # the process died here; the crash would have left the file behind
    version = store(db, arrests)
    assert version.number == crashed.number == 1
    # Someone with the data folder and the database swaps the leftover in.
    (directory / version.storage_name).write_bytes(leftover)
    version.sha256 = leftover_sha256
    db.commit()
    with pytest.raises(DataIntegrityError, match="not the one recorded"):
        datastore.read_columns(version, ["age"])
    assert datastore.verify_version(version) is False


def test_the_row_records_the_id_in_its_files_header(
    app: Flask, db: Session, arrests: Dataset
) -> None:
    from governance.datasets.datastore.crypto import read_header

    first, second = store(db, arrests), store(db, arrests)
    directory = Path(app.config["DATA_DIR"])
    for version in (first, second):
        assert version.file_id == read_header(directory / version.storage_name).file_id.hex()
    assert first.file_id != second.file_id
