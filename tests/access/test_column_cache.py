"""The one per-process cache of decoded columns (datastore/column_cache.py), seen from the
door: reads served from memory are still decided and recorded one by one, a revocation refuses
the very next read in another process, a new version is read from its own file, and a forked
process starts empty."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.access import data_door as door
from governance.access import grants
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.datasets.datastore import DataIntegrityError
from governance.datasets.datastore import store as store_module
from governance.datasets.ingestion import ingest_frame
from governance.kernel.errors import PermissionDenied
from governance.kernel.types import utcnow
from tests.access.test_data_door import ROWS, stored  # noqa: F401  (the fixture)
from tests.access.test_decisions_with_database import another_process
from tests.agreements.builders import Datasets
from tests.support import SETUP, People


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    store_module._cache.clear()
    yield
    store_module._cache.clear()


def _datastore_reads(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The columns of each read that decrypted and decoded the file."""
    calls: list[list[str]] = []
    original = store_module.StoredFile.read

    def counted(self: store_module.StoredFile, columns: list[str], filters: Any) -> Any:
        calls.append(list(columns))
        return original(self, columns, filters)

    monkeypatch.setattr(store_module.StoredFile, "read", counted)
    return calls


def _read(session: Session, people: People, agreement: Agreement, datasets: Datasets) -> Any:
    page = door.read_rows(
        session,
        by=session.merge(people.analyst),
        agreement_id=agreement.id,
        dataset_id=datasets.arrests.id,
        columns=["sex", "age_at_arrest"],
        purpose="descriptive",
        page=2,
        per_page=10,
        now=utcnow(),
    )
    session.commit()
    return page


def _allowed_reads(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                AuditEvent.event_type == AuditType.DATASET_READ,
                AuditEvent.outcome == Outcome.ALLOWED,
            )
        )
        or 0
    )


def test_cached_reads_are_each_decided_and_recorded_and_revocation_stops_the_next_one(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _datastore_reads(monkeypatch)
    other = another_process(app)
    with other.session() as session:
        before = _allowed_reads(session)
        pages = [_read(session, people, agreement, stored) for _ in range(3)]
        assert _allowed_reads(session) == before + 3
    assert len(calls) == 1  # decoded once, served from memory twice
    assert pages[0].rows == pages[2].rows
    assert pages[2].rows[0] == {"sex": ROWS["sex"][10], "age_at_arrest": ROWS["age_at_arrest"][10]}

    grants.revoke_grant(
        db,
        grant_id=_grant_id(db, stored),
        reason="No longer on the project.",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    with other.session() as session, pytest.raises(PermissionDenied):
        _read(session, people, agreement, stored)
    other.dispose()


def _grant_id(db: Session, datasets: Datasets) -> int:
    from governance.access.models import Grant

    grant_id = db.scalar(select(Grant.id).where(Grant.dataset_id == datasets.arrests.id))
    assert grant_id is not None
    return grant_id


def test_a_new_version_is_read_from_its_file_and_the_old_columns_leave_memory(
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,  # noqa: F811
) -> None:
    first = _read(db, people, agreement, stored)
    held = store_module._cache.nbytes
    assert held > 0
    changed = ROWS.assign(sex=["X"] * len(ROWS))
    ingest_frame(
        db, dataset_id=stored.arrests.id, frame=changed, source_filename="v2.csv", by=SETUP
    )
    db.commit()
    second = _read(db, people, agreement, stored)
    assert first.version == 1
    assert second.version == 2
    assert {row["sex"] for row in second.rows} == {"X"}
    # Only the second version's two columns are held now.
    assert store_module._cache.nbytes == pytest.approx(held, rel=0.5)


def test_a_forked_process_starts_with_nothing_in_memory(
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _read(db, people, agreement, stored)
    calls = _datastore_reads(monkeypatch)
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as a child of fork() sees itself
    _read(db, people, agreement, stored)
    assert calls == [["sex", "age_at_arrest"]]


def test_a_file_altered_after_a_read_is_refused_at_the_next_read_through_the_door(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    stored: Datasets,  # noqa: F811
) -> None:
    # One cache, below the door: a hit is served only while the file is the one verified.
    _read(db, people, agreement, stored)
    version = door.current_version(db, stored.arrests.id)
    path = Path(app.config["DATA_DIR"]) / version.storage_name
    time.sleep(0.02)  # past the filesystem clock's tick
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0x01
    path.write_bytes(bytes(content))
    with pytest.raises(DataIntegrityError):
        _read(db, people, agreement, stored)
