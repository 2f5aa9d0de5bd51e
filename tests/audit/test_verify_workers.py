"""The walk's worker processes: each is told only its stretch and reads that stretch's
checkpoints itself, workers started ahead by the command are used (or told to end), and the
checkpoints' HMAC with its key set up once is the one-shot HMAC.

Whatever a worker reads, the verdict and the fault it names must be those of one process
walking the whole trail with every checkpoint in hand.
"""

from __future__ import annotations

import hmac
import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from contextlib import ExitStack
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit import verify, verify_start
from governance.audit.format import signer
from governance.audit.verify import Verification, verify_chain
from governance.audit.walk import read_checkpoints
from governance.kernel.extensions import database
from tests.audit.test_walk_batches import SQLITE_ONLY, TAMPERING, _tamper

Intruder = Callable[..., None]
ROOT = Path(__file__).resolve().parents[2]  # the repository, wherever pytest was started


def _verify(app: Flask, db: Session, workers: int, **options: Any) -> Verification:
    return verify_chain(
        database(app).read_engine(),
        audit.settings_of(db),
        workers=workers,
        min_events_per_worker=5,
        **options,
    )


@pytest.mark.slow
@pytest.mark.parametrize("tampering", ["nothing", *TAMPERING])
def test_workers_reading_their_own_checkpoints_name_what_one_process_names(
    app: Flask, chain: int, intruder: Intruder, db: Session, tampering: str
) -> None:
    """Three and four stretches, so that checkpoints, the one before a stretch and the edits
    fall in every worker's share."""
    dialect = db.get_bind().dialect.name
    if dialect != "sqlite" and tampering in SQLITE_ONLY:
        pytest.skip("an edit only SQLite accepts")
    _tamper(tampering, intruder, chain, dialect)
    alone = _verify(app, db, workers=0)
    assert alone.intact is (tampering == "nothing"), alone.summary()
    for workers in (3, 4):
        assert _verify(app, db, workers=workers) == alone, workers


def test_a_stretch_reads_its_checkpoints_and_the_one_before_it(
    app: Flask, chain: int, db: Session
) -> None:
    with database(app).read_engine().connect() as connection:
        raw = connection.connection.dbapi_connection
        dialect = connection.dialect.name
        every = read_checkpoints(raw, dialect)
        assert len(every) >= 4
        seqs = sorted(every)
        start, end = seqs[1] + 1, seqs[3]  # from just after one checkpoint to the next but one
        stretch = read_checkpoints(raw, dialect, start, end)
        assert sorted(stretch) == [seq for seq in seqs if seqs[1] <= seq <= end]
        assert stretch == {seq: every[seq] for seq in stretch}
        # Before the first checkpoint there is none before it: the stretch's own only.
        assert sorted(read_checkpoints(raw, dialect, 1, seqs[0])) == [seqs[0]]


def test_a_workers_job_names_its_stretch_not_the_trails_checkpoints() -> None:
    """A job used to carry every checkpoint (8.5 MB for a million events), so the second
    worker waited while the first read its job; now it is the same few hundred bytes however
    long the trail."""
    pipes = [BytesIO(), BytesIO()]
    workers: Any = [(SimpleNamespace(stdin=pipe), None) for pipe in pipes]
    pipes[0].close = pipes[1].close = lambda: None  # type: ignore[method-assign]
    engine: Any = SimpleNamespace(
        dialect=SimpleNamespace(
            name="sqlite",
            create_connect_args=lambda url: (["trail.db"], {"timeout": 30, "factory": object}),
        ),
        url=None,
    )
    head = SimpleNamespace(format_since=1, seq=1_000_000)
    settings: Any = SimpleNamespace(keys={"k1": b"k" * 32})
    verify._send_jobs(engine, settings, head, 1_000_000, workers)
    jobs = [pickle.loads(pipe.getvalue()) for pipe in pipes]  # noqa: S301  (our own bytes)
    assert [(job.start, job.end, job.final) for job in jobs] == [
        (1, 500_000, False),
        (500_001, 1_000_000, True),
    ]
    assert jobs[0].connect_kwargs == {"timeout": 30}
    assert all(len(pipe.getvalue()) < 1_000 for pipe in pipes)


def test_workers_started_ahead_walk_or_end_without_being_killed(
    app: Flask, chain: int, db: Session
) -> None:
    dialect = db.get_bind().dialect.name
    with ExitStack() as stack:
        ahead = [verify_start.start(stack, dialect) for _ in range(3)]
        result = _verify(app, db, workers=2, ahead=ahead)
        assert result.intact, result.summary()
        assert result.events == chain
        # Two walked; the third was told to end (standard input closed without a job).
        assert [process.wait(timeout=30) for process, _ in ahead] == [0, 0, 0]
    with ExitStack() as stack:
        ahead = [verify_start.start(stack, dialect) for _ in range(2)]
        assert _verify(app, db, workers=0, ahead=ahead).intact
        assert [process.wait(timeout=30) for process, _ in ahead] == [0, 0]


def test_a_worker_told_to_end_ends_by_itself_when_its_command_finishes_first() -> None:
    """The command can finish before a worker it did not need has even started Python (a
    loaded machine): closing up then waits for it to end on its own rather than killing it."""
    with ExitStack() as stack:
        worker = verify_start.start(stack, "sqlite")
        verify_start.dismiss(worker)  # at once: its interpreter is still starting
    assert worker[0].returncode == 0


# The command as the console script runs it, with the workers' start watched: what had been
# imported when the first was started, and how many were.
PROBE = """
import json, sys
from governance.audit import verify_start
started, imported = [], []
real = verify_start.start
def start(stack, dialect):
    imported.append("governance.audit.verify" in sys.modules)
    started.append(real(stack, dialect))
    return started[-1]
verify_start.start = start
from governance.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "imported": imported,
                  "exits": [process.returncode for process, _ in started]}))
"""


def test_the_command_starts_its_workers_before_importing_the_verification(chain: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "audit", "verify", "--workers", "2"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=dict(os.environ),  # the test's database and instance folder (tests/audit/conftest)
    )
    ran = json.loads(done.stdout.strip().splitlines()[-1])
    # A short trail is walked by the command itself: both workers were told to end, and did.
    assert ran == {"code": 0, "imported": [False, False], "exits": [0, 0]}, done.stderr


@given(st.binary(max_size=150), st.text(max_size=300))
def test_a_signer_signs_as_the_one_shot_hmac(key: bytes, message: str) -> None:
    """Keys shorter and longer than SHA-256's block (64 bytes; longer ones are hashed first),
    any text (including lone surrogates' absence: `str.encode` refuses them in both)."""
    try:
        expected = hmac.digest(key, message.encode(), "sha256").hex()
    except UnicodeEncodeError:
        return
    assert signer(key)(message) == expected
