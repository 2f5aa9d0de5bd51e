"""A request that only reads (a GET) no longer holds SQLite's one write lock while it reads and
renders: its transaction begins deferred and takes the lock at its first write. The attacker's
view: the audit chain must stay one line when many such requests record events at once, a
read snapshot must never decide a write, and a savepoint must survive the upgrade."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, make_url, select, text

from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType
from governance.audit.verify import verify_chain
from governance.identity.actors import System
from governance.kernel.db import reading_first
from governance.kernel.extensions import database

BY = System("test")


def _intact(app: Flask) -> None:
    db = database(app)
    with db.session() as session:
        settings = audit.settings_of(session)
    assert verify_chain(db.read_engine(), settings).intact


def _count(session: object) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)  # type: ignore[attr-defined]


def test_a_reader_does_not_hold_the_write_lock_until_it_writes(app: Flask) -> None:
    db = database(app)
    if not db.is_sqlite:
        pytest.skip("SQLite's database-wide write lock; PostgreSQL locks rows")
    # The other writer gives up after 200 ms instead of waiting the usual 30 s.
    other = sqlite3.connect(make_url(db.url).database or "", timeout=0.2, isolation_level=None)
    with reading_first(), db.session() as reader:
        before = _count(reader)  # a read: the transaction is open, deferred
        # This would fail with "database is locked" if the reader held the lock.
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE policy_epoch SET epoch = epoch + 1")
        other.execute("COMMIT")
        # The reader's first write takes the lock and sees the newest chain head, so its event
        # follows the other's change rather than forking from the head it could have read.
        audit.record(reader, AuditType.AUDIT_SEARCH, by=BY)
        reader.commit()
        assert _count(reader) == before + 1
    other.close()
    _intact(app)


def test_many_reading_requests_recording_at_once_keep_one_chain(app: Flask) -> None:
    db = database(app)
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(15):
                with reading_first(), db.session() as session:
                    _count(session)
                    audit.record(session, AuditType.AUDIT_SEARCH, by=BY)
                    session.commit()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=reader) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[:3]
    with db.session() as session:
        seqs = list(session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
        assert seqs == list(range(1, len(seqs) + 1))
        assert len(seqs) >= 90
    _intact(app)


def test_a_savepoint_survives_the_first_write(app: Flask) -> None:
    db = database(app)
    with reading_first(), db.session() as session:
        _count(session)
        with session.begin_nested():
            audit.record(session, AuditType.AUDIT_SEARCH, by=BY)
        nested = session.begin_nested()
        session.execute(text("UPDATE policy_epoch SET epoch = epoch + 1"))
        nested.rollback()
        session.commit()
    _intact(app)


def test_page_views_read_first_and_forms_do_not(app: Flask, tmp_path: Path) -> None:
    from governance.kernel import db as kernel_db

    seen: dict[str, bool] = {}

    @app.get("/_probe_read_first")
    def probe_get() -> str:
        from governance.kernel.extensions import db_session

        db_session()
        seen["GET"] = kernel_db._READING_FIRST.get()
        return ""

    @app.post("/_probe_read_first")
    def probe_post() -> str:
        from governance.kernel.extensions import db_session

        db_session()
        seen["POST"] = kernel_db._READING_FIRST.get()
        return ""

    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    client.get("/_probe_read_first")
    client.post("/_probe_read_first")
    assert seen == {"GET": True, "POST": False}
    assert kernel_db._READING_FIRST.get() is False
