"""SQLite's writers queue in the kernel for the write lock instead of polling for it.

Every transaction on the service's SQLite database begins IMMEDIATE (kernel/db.py): one writer
at a time. A second writer used to wait in SQLite's busy handler, which sleeps in growing steps
(1, 2, 5, 10 ... 100 ms) and looks again, rather than waking when the lock frees: under a few
dozen concurrent reads (each audited, so each a writer) a waiter that had slept long kept
losing to newcomers, and one read in a hundred waited about a second. Now each writer first
takes this lock, a `flock` on a file beside the database (`<database>.writer-lock`, empty,
owner-only) behind a thread lock of its process, and only then sends BEGIN IMMEDIATE; the
kernel wakes the next waiter the moment the lock is released, after COMMIT or ROLLBACK.

SQLite's own lock still decides: a process that does not take this lock (the sqlite3 shell)
is waited for by the busy handler as before. Threads of one process wait at most
`WAIT_S`, as the busy timeout allowed, and then fail as SQLite would ("database is locked");
a process holding the file lock holds it only for its transaction, and the kernel releases
it if the process dies. Durability is unchanged: WAL, `synchronous=FULL`.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

#: Seconds a thread waits for another thread of its process, as SQLite's busy timeout (30 s).
WAIT_S = 30.0
SUFFIX = ".writer-lock"


class WriterLock:
    """One writing transaction at a time on one SQLite file, across threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pid = -1
        self._threads = threading.Lock()
        self._fd = -1

    def _for_this_process(self) -> None:
        # A forked child (a gunicorn worker of the arbiter that checked the settings) shares
        # its parent's open file, and so its flock: each process opens its own, once.
        if self._pid == os.getpid():
            return
        with _locks_guard:
            if self._pid != os.getpid():
                self._threads = threading.Lock()
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                self._pid = os.getpid()

    def acquire(self) -> None:
        self._for_this_process()
        if not self._threads.acquire(timeout=WAIT_S):
            raise sqlite3.OperationalError("database is locked")
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()


_locks: dict[Path, WriterLock] = {}
_locks_guard = threading.Lock()


def _after_fork_in_child() -> None:
    global _locks_guard
    _locks_guard = threading.Lock()  # another thread of the parent may have held it


os.register_at_fork(after_in_child=_after_fork_in_child)


def writer_lock(database: Path) -> WriterLock:
    """The process's one lock for `database` (every engine on the file shares it, so two
    sessions of one thread wait for each other as SQLite would, not forever)."""
    path = Path(os.path.realpath(database)).with_name(Path(database).name + SUFFIX)
    with _locks_guard:
        return _locks.setdefault(path, WriterLock(path))


class LockingConnection(sqlite3.Connection):
    """A pysqlite connection that releases its writer lock when its transaction ends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.writer_lock: WriterLock | None = None
        self._holding = False

    def begin_writing(self) -> None:
        """BEGIN IMMEDIATE, after waiting for this connection's turn."""
        if self.writer_lock is not None and not self._holding:
            self.writer_lock.acquire()
            self._holding = True
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        if self._holding and self.writer_lock is not None:
            self._holding = False
            self.writer_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()
