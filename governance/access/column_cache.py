"""Decoded columns of the current dataset versions, kept in each worker process for the door.

A page of 50 rows used to rebuild pandas columns of the whole version from the datastore on
every read (Arrow to pandas for every row: a tenth of a read's time, docs/benchmarks.md). The
door now asks the datastore once per column of a version and keeps the decoded column here,
bounded in bytes, least recently used first out.

What it keeps and for how long:
- only what the door itself read through `datastore.read_columns`, after the decision allowed
  the read; it is consulted only after the decision of the read it serves has allowed it and
  before that read's audit event is written, so every read is still decided and recorded;
- keyed by the version row's id and everything that names its file and key (storage name,
  SHA-256, file id, wrapped key): a new version, a re-keyed or re-wrapped file is a new key;
- one version per dataset: reading another version of a dataset drops the columns of the
  one before, and a destroyed version is never current (`data_door.current_version`), so
  its plaintext leaves memory at the next read of the dataset at the latest;
- per process, in memory only, never written anywhere; a forked child starts empty.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import pandas as pd

from governance.datasets.models import DatasetVersion

# Per worker process. pandas holds strings as Python objects, several times their Arrow size:
# 10,000 rows of ten columns take about 10 MB.
BUDGET_BYTES = 256 * 1024 * 1024

VersionKey = tuple[int, str, str, str]


def version_key(version: DatasetVersion) -> VersionKey:
    material = b"\0".join(
        [
            (version.file_id or "").encode(),
            (version.wrapping_key_id or "").encode(),
            bytes(version.wrapped_key or b""),
        ]
    )
    return (
        version.id,
        version.storage_name,
        version.sha256,
        hashlib.sha256(material).hexdigest(),
    )


class ColumnCache:
    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._columns: OrderedDict[tuple[VersionKey, str], tuple[pd.Series, int]] = OrderedDict()
        self._current: dict[int, VersionKey] = {}
        self._bytes = 0

    def columns(
        self,
        version: DatasetVersion,
        names: Sequence[str],
        read: Callable[[list[str]], pd.DataFrame],
    ) -> pd.DataFrame:
        """`names` of `version`, from memory where kept; the others through `read` (the
        datastore), kept for next time."""
        key = version_key(version)
        with self._lock:
            self._enter(version.dataset_id, key)
            found = {n: self._get((key, n)) for n in names}
        missing = [n for n, series in found.items() if series is None]
        if missing:
            frame = read(missing)
            with self._lock:
                self._enter(version.dataset_id, key)
                for name in missing:
                    series = frame[name]
                    found[name] = series
                    self._put((key, name), series)
        return pd.DataFrame({n: found[n] for n in names})

    def clear(self) -> None:
        with self._lock:
            self._columns.clear()
            self._current.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def _enter(self, dataset_id: int, key: VersionKey) -> None:
        if self._pid != os.getpid():  # forked: the parent's columns are not this process's
            self._pid = os.getpid()
            self._columns.clear()
            self._current.clear()
            self._bytes = 0
        previous = self._current.get(dataset_id)
        if previous is not None and previous != key:
            for stale in [k for k in self._columns if k[0] == previous]:
                self._drop(stale)
        self._current[dataset_id] = key

    def _get(self, key: tuple[VersionKey, str]) -> pd.Series | None:
        held = self._columns.get(key)
        if held is None:
            return None
        self._columns.move_to_end(key)
        return held[0]

    def _put(self, key: tuple[VersionKey, str], series: pd.Series) -> None:
        size = int(series.memory_usage(index=True, deep=True))
        if size > self.budget or key in self._columns:
            return
        while self._bytes + size > self.budget and self._columns:
            self._drop(next(iter(self._columns)))
        self._columns[key] = (series, size)
        self._bytes += size

    def _drop(self, key: tuple[VersionKey, str]) -> None:
        held = self._columns.pop(key, None)
        if held is not None:
            self._bytes -= held[1]


cache = ColumnCache(BUDGET_BYTES)
