"""Shared pieces of the fault and hostile-input tests (issue 9): a world with stored rows and a
grant, API tokens, audit counting and chain verification, and processes started in their own
process group so that a test can SIGKILL exactly what it started.

Import the fixtures into a test module (`from tests.reliability.fixtures import read_world`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.access import requests
from governance.access.models import Grant
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.audit.verify import verify_chain
from governance.datasets.ingestion import ingest_frame
from governance.datasets.models import DatasetSteward
from governance.identity import tokens
from governance.identity.models import User
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from tests.access.test_data_door import ROWS
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets, approved, make_datasets
from tests.conftest import fresh
from tests.support import SETUP, People


@dataclass
class ReadWorld:
    """Arrests with 30 stored rows; an active agreement; the analyst holds a descriptive grant
    of `sex` and `age_at_arrest` and an API token."""

    datasets: Datasets
    agreement: Agreement
    grant_id: int
    token: str

    @property
    def rows_path(self) -> str:
        return (
            f"/api/v1/datasets/{self.datasets.arrests.id}/rows?"
            f"agreement={self.agreement.id}&purpose=descriptive"
        )

    @property
    def view_path(self) -> str:
        return (
            f"/data/view?agreement={self.agreement.id}&dataset={self.datasets.arrests.id}"
            "&purpose=descriptive"
        )

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def api_token(db: Session, user: User) -> str:
    fresh(db)  # leave any older read snapshot: SQLite refuses to upgrade a stale one to write
    created = tokens.create_token(
        db, user_id=user.id, name="reliability", days=None, by=SETUP, now=utcnow()
    )
    db.commit()
    return created.secret


@pytest.fixture
def read_world(db: Session, people: People) -> ReadWorld:
    made = make_datasets(db, people)
    for dataset in (made.arrests, made.probation):
        db.add(DatasetSteward(dataset_id=dataset.id, user_id=people.steward.id))
    db.commit()
    ingest_frame(
        db, dataset_id=made.arrests.id, frame=ROWS, source_filename="arrests.csv", by=SETUP
    )
    db.commit()
    agreement = approved(db, people, made)
    request = ask(db, people, agreement, made, columns=("sex", "age_at_arrest"))
    requests.steward_approve(
        db,
        request_id=request.id,
        columns=["sex", "age_at_arrest"],
        comment="",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    grant_id = fresh(db).scalars(select(Grant.id)).one()
    return ReadWorld(
        datasets=made, agreement=agreement, grant_id=grant_id, token=api_token(db, people.analyst)
    )


def count_events(db: Session, kind: AuditType, outcome: Outcome | None = None) -> int:
    fresh(db)
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.event_type == kind)
    if outcome is not None:
        query = query.where(AuditEvent.outcome == outcome)
    return int(db.scalar(query) or 0)


def last_event(db: Session, kind: AuditType) -> AuditEvent:
    fresh(db)
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == kind).order_by(AuditEvent.seq.desc())
    ).first()
    assert event is not None, f"no {kind} event"
    return event


def assert_chain_intact(app: Flask) -> None:
    """Every event hash, checkpoint and the head row check out."""
    db = database(app)
    result = verify_chain(db.read_engine(), db.info["audit"])
    assert result.fault is None, result.summary


def stored_files(instance: Path, app: Flask) -> list[Path]:
    """Every file in DATA_DIR (hidden partial files included)."""
    directory = Path(app.config["DATA_DIR"])
    return sorted(directory.iterdir()) if directory.is_dir() else []


def governance_process(
    args: list[str],
    *,
    instance: Path,
    database_url: str,
    log: Path,
    env: dict[str, str] | None = None,
    entry: tuple[str, ...] = ("-m", "governance.cli"),
) -> subprocess.Popen[bytes]:
    """`governance ARGS` in its own session (so its whole group can be killed), logging to
    `log`; the test's database and instance directory, never the test variable. `entry` may
    name a test harness that installs hooks before running the command."""
    environment = {
        **os.environ,
        "GOVERNANCE_INSTANCE_PATH": str(instance),
        "GOVERNANCE_DATABASE_URL": database_url,
        **(env or {}),
    }
    environment.pop("GOVERNANCE_TEST_DATABASE_URL", None)
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, *entry, *args],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process's own group (it and every child it started), then reap it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def children(pid: int) -> list[int]:
    """The pids of a process's direct children (Linux /proc)."""
    found: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    if not task_dir.is_dir():
        return found
    for task in task_dir.iterdir():
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def wait_until(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"waited {seconds} s for {what}")


def later(seconds: float) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=seconds)
