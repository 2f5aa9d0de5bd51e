"""Each stored file's random file id is bound into its row and checked on every read.

An upload that crashes after its file is written but before its row commits leaves a file that
decrypts as the same dataset and version number as the next upload. Before, such a leftover,
swapped in for the real file (with the row's SHA-256 edited to match), was read as the version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.datasets import datastore
from governance.datasets.datastore import DataIntegrityError
from governance.datasets.datastore import store as store_module
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


def test_the_file_id_the_row_records_is_bound_into_the_files_keys(
    db: Session, arrests: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = store(db, arrests), store(db, arrests)
    assert first.file_id != second.file_id
    # The file id is part of what derives the column keys: read with another one (the row's
    # wrapped key is bound to its file id too, so only the reading side is changed here),
    # nothing in the file unwraps.
    keys_of = store_module.version_keys

    def other_file_id(key: bytes, binding: Any, file_id: bytes) -> Any:
        return keys_of(key, binding, bytes(16))

    monkeypatch.setattr(store_module, "version_keys", other_file_id)
    store_module.forget_cached(first.storage_name)
    with pytest.raises(DataIntegrityError, match="not the one recorded"):
        datastore.read_columns(first, ["age"])
