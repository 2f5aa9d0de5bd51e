"""The one cache of decoded dataset columns: per process, in memory, bounded in bytes.

Decrypting and decoding the same columns on every page of a paged table is wasted work, and
so is turning Arrow into pandas again for each read (a tenth of a granted read's time,
docs/benchmarks.md). `store.read_columns` keeps the pandas columns it decoded here, and the
next read of the same file, unchanged since, builds its frame from them.

What it keeps and for how long:
- only columns `read_columns` decoded for its caller, the door, which asks only after the
  read's decision allowed it and records the read in the same transaction; a hit is served by
  a later call of `read_columns`, so every read is still decided and recorded on its own, and a
  revoked grant refuses the next read in every process before the cache is consulted;
- keyed by the file (storage name and content hash) and valid for as long as the file's
  signature is the one seen when it was verified: device, inode, size, modification and
  change times, and a fingerprint of the key material the row records (file id, wrapped key,
  wrapping key id) and of its holders' wraps (agreement_keys.py). Any write to the file, a
  file moved into its place, or a re-keyed or re-wrapped row or wrap changes the signature and
  the next read opens the file again (and fails where it must); a destroyed version is refused
  on its row before the cache is consulted;
- one version per dataset: reading another version of a dataset drops the columns of the one
  before, so a replaced version's plaintext leaves memory at the next read of the dataset;
- at most `budget` bytes (pandas' deep size), least recently used first out; a column larger
  than the budget is never kept;
- per process, never written anywhere; a forked child starts empty.

Beside a file's columns, its entry keeps the pages cut from them (`Pages`: the door's plain
pages of 50 rows, at most `PAGES_PER_FILE` per file): cutting and converting a page's cells
cost more than deciding and recording the read. They are the same plaintext as the columns,
held by the same entry, so they leave memory with it (a new version, a changed signature, a
fork, the budget); like the columns they are served only by a call the door makes after the
read was decided and recorded. Their bytes are not counted in the budget (a page of 50 rows
is tens of kilobytes, so at most a few megabytes per file).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

# device, inode, size, mtime, ctime (the device mixed with the key material's fingerprint)
FileSignature = tuple[int, int, int, int, int]
FileKey = tuple[str, str]  # (storage name, content hash)
#: Pages kept per file, least recently used dropped first.
PAGES_PER_FILE = 256


class Pages:
    """What readers cut from one file's columns (pages of rows), by what they asked: kept
    with the file's entry and dropped with it. Values are shared between reads: never change
    one."""

    def __init__(self, size: int = PAGES_PER_FILE) -> None:
        self.size = size
        self._kept: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
            return found

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._kept[key] = value
            self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)

    def __len__(self) -> int:
        return len(self._kept)


@dataclass
class Verified:
    """A stored file as it was when its footer was last opened (authenticated) here."""

    signature: FileSignature
    present: frozenset[str]
    rows: int
    columns: dict[str, pd.Series] = field(default_factory=dict)
    nbytes: int = 0
    pages: Pages = field(default_factory=Pages)


@dataclass(frozen=True)
class Columns:
    """Decoded columns of one file, in the order asked, each `rows` long. The series may be
    the cache's own: a caller reads them, or takes a frame, and never changes them."""

    series: dict[str, pd.Series]
    rows: int
    #: The pages cut from these columns, kept with them (a new, empty one when the columns
    #: were read without keeping them).
    pages: Pages = field(default_factory=Pages)

    def frame(self) -> pd.DataFrame:
        """A new frame over the columns without copying them: pandas' copy-on-write copies a
        column the caller changes, so what is kept stays as read."""
        if not self.series:
            return pd.DataFrame(index=pd.RangeIndex(self.rows))
        return pd.DataFrame(self.series, copy=False)


class ColumnCache:
    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._entries: OrderedDict[FileKey, Verified] = OrderedDict()
        self._current: dict[int, FileKey] = {}  # dataset id -> the file last read of it
        self._bytes = 0
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def get(self, dataset_id: int, key: FileKey, signature: FileSignature) -> Verified | None:
        """The file's entry if it is still the file verified; makes it the dataset's current
        file (dropping another version's columns)."""
        with self._lock:
            self._enter(dataset_id, key)
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.signature != signature:
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return entry

    def put(
        self, dataset_id: int, key: FileKey, entry: Verified, columns: dict[str, pd.Series]
    ) -> None:
        """Keep `columns` of the file under `entry`, as far as the budget allows."""
        with self._lock:
            self._enter(dataset_id, key)
            current = self._entries.get(key)
            if current is not entry:
                if current is not None:
                    self._drop(key)
                self._entries[key] = entry
            for name, series in columns.items():
                if name in entry.columns:
                    continue
                size = int(series.memory_usage(index=True, deep=True))
                if self._bytes + size > self.budget and not self._evict(size, keep=key):
                    continue  # too large to keep: read from the file each time
                entry.columns[name] = series
                entry.nbytes += size
                self._bytes += size
            self._entries.move_to_end(key)

    def frame(self, entry: Verified, names: Sequence[str]) -> pd.DataFrame:
        """A new frame of kept columns (copies: a caller cannot change what is kept)."""
        return pd.DataFrame({name: entry.columns[name] for name in names})

    def forget(self, storage_name: str) -> None:
        with self._lock:
            for key in [k for k in self._entries if k[0] == storage_name]:
                self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._current.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def _enter(self, dataset_id: int, key: FileKey) -> None:
        if self._pid != os.getpid():  # forked: the parent's columns are not this process's
            self._pid = os.getpid()
            self._entries.clear()
            self._current.clear()
            self._bytes = 0
        previous = self._current.get(dataset_id)
        if previous is not None and previous != key:
            self._drop(previous)
        self._current[dataset_id] = key

    def _evict(self, size: int, *, keep: FileKey) -> bool:
        """Free room for `size` bytes, least recently used first; False if it cannot fit."""
        if size > self.budget:
            return False
        for key in [k for k in self._entries if k != keep]:
            if self._bytes + size <= self.budget:
                break
            self._drop(key)
        return self._bytes + size <= self.budget

    def _drop(self, key: FileKey) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.nbytes
