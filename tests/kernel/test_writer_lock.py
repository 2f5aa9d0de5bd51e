"""SQLite's writers take turns on the file lock beside the database (kernel/writer_lock.py):
across forked processes and their threads none is lost, none waits on SQLite's busy handler,
and a thread that already writes on one connection is refused on a second, as SQLite did."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from governance.kernel import writer_lock
from governance.kernel.db import make_engine

PROCESSES = 3
THREADS = 4
WRITES = 25


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT n FROM counter")) or 0)


def _writer(engine: Engine, failures: list[str]) -> None:
    for _ in range(WRITES):
        try:
            with engine.begin() as connection:
                # Read, then write what was read: a lost update would show in the count.
                n = connection.scalar(text("SELECT n FROM counter"))
                connection.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        except Exception as error:
            failures.append(repr(error))


def _process(url: str, queue: multiprocessing.Queue[list[str]]) -> None:
    engine = make_engine(url)
    failures: list[str] = []
    threads = [threading.Thread(target=_writer, args=(engine, failures)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    queue.put(failures)


def test_writers_of_forked_processes_and_their_threads_take_turns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'turns.db'}"
    engine = make_engine(url)  # the parent opens the lock before forking, as gunicorn's arbiter
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE counter (n INTEGER)"))
        connection.execute(text("INSERT INTO counter VALUES (0)"))
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [context.Process(target=_process, args=(url, queue)) for _ in range(PROCESSES)]
    for process in processes:
        process.start()
    failures = [failure for _ in processes for failure in queue.get(timeout=120)]
    for process in processes:
        process.join(timeout=60)
    assert failures == []
    assert _count(engine) == PROCESSES * THREADS * WRITES
    lock_file = tmp_path / f"turns.db{writer_lock.SUFFIX}"
    assert lock_file.stat().st_mode & 0o777 == 0o600
    assert lock_file.stat().st_size == 0
    engine.dispose()


def test_a_second_connection_of_a_writing_thread_is_refused_not_stuck(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_lock, "WAIT_S", 0.2)
    url = f"sqlite:///{tmp_path / 'nested.db'}"
    first, second = make_engine(url), make_engine(url)
    with first.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
        with (
            pytest.raises(Exception, match="database is locked") as refused,
            second.begin() as other,
        ):
            other.execute(text("INSERT INTO t VALUES (1)"))
        assert isinstance(refused.value.__cause__ or refused.value, sqlite3.OperationalError)
    with second.begin() as other:  # the first transaction ended: the lock is free again
        other.execute(text("INSERT INTO t VALUES (1)"))
    first.dispose()
    second.dispose()
    assert os.path.exists(tmp_path / f"nested.db{writer_lock.SUFFIX}")
