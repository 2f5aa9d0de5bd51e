"""The per-process cache of decoded columns (docs/decisions/reliability.md): a column is
decrypted once, and any change to the file, to its row's key, or destruction is seen on the
next read."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.datasets import datastore
from governance.datasets.datastore import DataIntegrityError, DataUnavailable, agreement_keys
from governance.datasets.datastore import store as store_module
from governance.datasets.models import Dataset
from tests.datasets.support import held_by_ring
from tests.datasets.test_datastore import FRAME, store


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    store_module._cache.clear()
    yield
    store_module._cache.clear()


def _count_decryptions(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The columns of each read that decrypted the file."""
    reads: list[list[str]] = []
    original = store_module.StoredFile.read

    def counted(self: store_module.StoredFile, columns: list[str], filters: Any) -> Any:
        reads.append(columns)
        return original(self, columns, filters)

    monkeypatch.setattr(store_module.StoredFile, "read", counted)
    return reads


def test_a_files_columns_are_decrypted_once_and_kept(
    db: Session, arrests: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = store(db, arrests)
    reads = _count_decryptions(monkeypatch)
    for _ in range(3):
        frame = datastore.read_columns(version, ["offence", "age"])
        assert frame["age"].tolist() == [34, 19, 51]
        assert frame["offence"].tolist() == FRAME["offence"].tolist()
    assert datastore.read_columns(version, ["person_id"])["person_id"].tolist() == [
        "P1",
        "P2",
        "P3",
    ]
    assert reads == [["offence", "age"], ["person_id"]]


def test_a_file_altered_after_it_was_cached_is_verified_again_and_refused(
    app: Flask, db: Session, arrests: Dataset
) -> None:
    version = store(db, arrests)
    assert datastore.read_columns(version, ["age"])["age"].tolist() == [34, 19, 51]
    path = Path(app.config["DATA_DIR"]) / version.storage_name
    time.sleep(0.02)  # past the filesystem clock's tick
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0x01
    path.write_bytes(bytes(content))
    with pytest.raises(DataIntegrityError):
        datastore.read_columns(version, ["age"])


def test_another_file_moved_into_place_after_caching_is_refused(
    app: Flask, db: Session, arrests: Dataset
) -> None:
    first, second = store(db, arrests), store(db, arrests)
    datastore.read_columns(second, ["age"])
    directory = Path(app.config["DATA_DIR"])
    os.replace(directory / first.storage_name, directory / second.storage_name)
    with pytest.raises(DataIntegrityError, match="not the one recorded"):
        datastore.read_columns(second, ["age"])


def test_a_version_whose_key_changed_after_caching_is_not_served_from_the_cache(
    db: Session, arrests: Dataset
) -> None:
    version = held_by_ring(db, store(db, arrests))
    datastore.read_columns(version, ["age"])
    assert version.wrapped_key is not None
    damaged = bytearray(version.wrapped_key)
    damaged[-1] ^= 0x01
    version.wrapped_key = bytes(damaged)
    with pytest.raises(DataIntegrityError, match="does not unwrap"):
        datastore.read_columns(version, ["age"])
    version.wrapped_key = None
    with pytest.raises(DataIntegrityError, match="destroyed"):
        datastore.read_columns(version, ["age"])


def test_a_destroyed_version_is_not_served_from_the_cache(db: Session, arrests: Dataset) -> None:
    version = store(db, arrests)
    datastore.read_columns(version, ["age"])
    datastore.destroy_version(version)
    db.commit()
    with pytest.raises(DataUnavailable):
        datastore.read_columns(version, ["age"])
    assert store_module._cache._entries == {}


def test_the_cache_keeps_within_its_budget(
    db: Session, arrests: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module._cache, "budget", 1)
    version = store(db, arrests)
    assert datastore.read_columns(version, ["age"])["age"].tolist() == [34, 19, 51]
    assert datastore.read_columns(version, ["age"])["age"].tolist() == [34, 19, 51]
    assert store_module._cache._bytes == 0


def test_the_cache_keeps_one_version_per_dataset_and_the_least_recently_used_go_first() -> None:
    from governance.datasets.datastore.column_cache import ColumnCache, Verified

    column = pd.Series(range(500))  # 4 kB
    size = int(column.memory_usage(index=True, deep=True))
    cache = ColumnCache(budget=2 * size)
    signature = (1, 2, 3, 4, 5)

    def keep(dataset_id: int, name: str) -> None:
        entry = Verified(signature, frozenset({"a"}), 500)
        cache.put(dataset_id, (name, "0" * 64), entry, {"a": column})

    keep(1, "v1")
    keep(1, "v2")  # a newer version of dataset 1: version 1's columns leave memory
    assert cache.nbytes == size
    assert cache.get(1, ("v1", "0" * 64), signature) is None
    keep(2, "w1")
    keep(3, "x1")
    assert cache.get(2, ("w1", "0" * 64), signature) is not None  # now the most recent
    keep(4, "y1")  # over budget: dataset 3's file, the least recently used, goes
    assert cache.nbytes <= cache.budget
    assert cache.get(3, ("x1", "0" * 64), signature) is None
    assert cache.get(2, ("w1", "0" * 64), signature) is not None
    # Another signature (the file changed) is a miss, and the stale entry is dropped.
    assert cache.get(2, ("w1", "0" * 64), (9, 9, 9, 9, 9)) is None
    cache.put(
        5,
        ("huge", "0" * 64),
        Verified(signature, frozenset({"a"}), 0),
        {"a": pd.Series(range(10 * 500))},
    )
    assert cache.nbytes <= cache.budget


def test_a_version_whose_holders_wrap_changed_after_caching_is_not_served_from_the_cache(
    db: Session, arrests: Dataset
) -> None:
    version = store(db, arrests)
    datastore.read_columns(version, ["age"])
    [wrap] = agreement_keys.wraps_of(db, version)
    damaged = bytearray(wrap.wrapped_key)
    damaged[-1] ^= 0x01
    wrap.wrapped_key = bytes(damaged)
    db.flush()
    with pytest.raises(DataIntegrityError, match="does not unwrap"):
        datastore.read_columns(version, ["age"])
    db.delete(wrap)
    db.flush()
    with pytest.raises(DataIntegrityError, match="no key left"):
        datastore.read_columns(version, ["age"])
    db.rollback()
