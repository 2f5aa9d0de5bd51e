"""Faults (issue 9): processes killed, the database gone, a failed write, damaged policy files,
the clock moved. Each test says what it proves; docs/decisions/reliability-faults.md lists them.

Already covered elsewhere and not repeated here: a damaged policy file stops `create_app`
(tests/authz/test_policy_files.py), a failed rename or flush in the datastore and a failed
rename through the upload page (tests/datasets/test_datastore.py, test_upload_pages.py), and a
`governance worker` killed with SIGKILL mid-run, retried by the next worker or failed after its
last attempt (tests/analysis/test_worker.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from governance import create_app
from governance.access import eligibility as access_eligibility
from governance.access.models import Grant, GrantStatus
from governance.agreements.models import Agreement, AgreementStatus
from governance.analysis.models import AnalysisRun, RunStatus
from governance.audit.models import AuditType, Outcome
from governance.authz import DEFAULT_POLICY_DIR
from governance.datasets.models import DatasetVersion
from governance.kernel.extensions import database
from tests.conftest import Browser, fresh
from tests.datasets.conftest import arrests
from tests.datasets.support import GOOD_CSV
from tests.live import LiveServer
from tests.reliability.fixtures import (
    ReadWorld,
    api_token,
    assert_chain_intact,
    children,
    count_events,
    governance_process,
    kill_group,
    last_event,
    read_world,
    stored_files,
    wait_until,
)
from tests.support import PASSWORD, People
from tests.workers import free_port

__all__ = ["arrests", "read_world"]  # fixtures, imported for pytest


# --- a gunicorn worker killed mid-request ------------------------------------------------


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _http_workers(master: int) -> list[int]:
    """gunicorn's workers are forks of the arbiter (same command line); the periodic-jobs
    process is a multiprocessing spawn (another command line)."""
    own = _cmdline(master)
    return [pid for pid in children(master) if _cmdline(pid) == own]


def _read(url: str, headers: dict[str, str]) -> tuple[int | None, int]:
    """(status, rows) of one API read; status None when the connection broke, before the
    answer or in the middle of its body (a worker killed while sending it: `IncompleteRead`)."""
    try:
        request = urllib.request.Request(url, headers=headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
            return response.status, len(json.load(response)["items"])
    except urllib.error.HTTPError as error:
        return error.code, 0
    except (OSError, http.client.HTTPException):
        return None, 0


def test_a_killed_server_worker_loses_no_audit_event_and_the_server_keeps_serving(
    app: Flask,
    db: Session,
    people: People,
    read_world: ReadWorld,
    database_url: str,
    instance_path: Path,
    tmp_path: Path,
) -> None:
    """SIGKILL one gunicorn worker while clients read rows through the API. Proves: each
    client gets rows, an error status or a broken connection (never a hang); gunicorn
    replaces the worker and every later read succeeds; every answered read has its
    `dataset:read` event (reads answered <= events recorded; the surplus can only be reads
    whose worker died after the commit, before the answer left); the chain still verifies."""
    before = count_events(db, AuditType.DATASET_READ, Outcome.ALLOWED)
    server = LiveServer(database_url, instance_path, tmp_path / "server.log", workers=2)
    try:
        master = server.process.pid
        wait_until(lambda: len(_http_workers(master)) == 2, 30, "two gunicorn workers")
        url = server.url + read_world.rows_path
        with ThreadPoolExecutor(max_workers=6) as pool:
            first = [pool.submit(_read, url, read_world.headers()) for _ in range(60)]
            wait_until(lambda: sum(f.done() for f in first) >= 10, 60, "the first reads")
            victim = _http_workers(master)[0]
            os.kill(victim, signal.SIGKILL)
            results = [f.result() for f in first]
        wait_until(
            lambda: len(_http_workers(master)) == 2 and victim not in _http_workers(master),
            30,
            "gunicorn to replace the killed worker",
        )
        after = [_read(url, read_world.headers()) for _ in range(10)]
        assert server.process.poll() is None, "the arbiter must survive a worker's death"
    finally:
        server.stop()
    assert all(status in {200, 500, 502, 503, None} for status, _ in results), results
    assert all(rows == 30 for status, rows in results if status == 200)
    assert after == [(200, 30)] * 10, "the server must keep serving after the kill"
    answered = sum(1 for status, _ in results + after if status == 200)
    recorded = count_events(db, AuditType.DATASET_READ, Outcome.ALLOWED) - before
    assert answered <= recorded <= len(results) + len(after)
    assert_chain_intact(app)


# --- the analysis worker killed mid-job --------------------------------------------------


def test_a_killed_analysis_worker_neither_loses_nor_strands_the_run_nor_its_reads(
    app: Flask, db: Session, people: People, instance_path: Path, tmp_path: Path, database_url: str
) -> None:
    """`governance worker` (consumer and worker process) SIGKILLed while a run is in flight,
    after it read its tables; then a new `governance worker` starts. Proves: the new worker's
    start-up reaper re-queues the stale run (`analysis:retry`) and runs it to success, so the
    run is neither lost nor left `running`; the killed attempt's reads are still in the audit
    trail (each read is committed with its event before the engine starts), so the retry
    doubles the `dataset:read` events instead of hiding the first ones; the chain verifies.
    The retry budget running out (`failed`) and a lost queue message are tested in
    tests/analysis/test_worker.py."""
    from tests.analysis.conftest import grant_records, submit
    from tests.analysis.conftest import world as analysis_world

    world = analysis_world.__wrapped__(db, people)  # type: ignore[attr-defined]
    grant_records(db, people, world, "descriptive")
    run = submit(db, people, world, "descriptive", {"group_by": ["sex"]})
    env = {"GOVERNANCE_ANALYSIS_HEARTBEAT_TIMEOUT": "2"}
    first = governance_process(
        ["worker", "--workers", "1"],
        instance=instance_path,
        database_url=database_url,
        log=tmp_path / "worker-1.log",
        env=env,
        entry=("-m", "tests.analysis.paused_worker", "120"),
    )
    second = None
    try:

        def status() -> tuple[str, int]:
            current = fresh(db).get(AnalysisRun, run.id)
            assert current is not None
            return current.status, current.progress

        wait_until(
            lambda: status()[0] == RunStatus.RUNNING and status()[1] > 0,
            120,
            "the first worker to start the run",
        )
        reads_before_kill = count_events(db, AuditType.DATASET_READ, Outcome.ALLOWED)
        assert reads_before_kill >= 1
        kill_group(first)
        time.sleep(3)  # past the heartbeat timeout
        assert status()[0] == RunStatus.RUNNING  # nobody has noticed yet
        second = governance_process(
            ["worker", "--workers", "1"],
            instance=instance_path,
            database_url=database_url,
            log=tmp_path / "worker-2.log",
            env=env,
        )
        wait_until(
            lambda: status()[0] not in {RunStatus.RUNNING, RunStatus.QUEUED},
            180,
            "the run to finish after the retry",
        )
    finally:
        for process in (first, second):
            if process is not None:
                kill_group(process)
    done = fresh(db).get(AnalysisRun, run.id)
    assert done is not None
    assert done.status == RunStatus.SUCCEEDED, (
        done.reason,
        (tmp_path / "worker-2.log").read_text()[-2000:],
    )
    assert done.attempts == 2
    assert count_events(db, AuditType.ANALYSIS_RETRY) == 1
    assert count_events(db, AuditType.DATASET_READ, Outcome.ALLOWED) == 2 * reads_before_kill
    assert_chain_intact(app)


# --- the database unreachable ------------------------------------------------------------


class Proxy:
    """A TCP relay in front of PostgreSQL that a test can cut (every connection dropped, the
    port closed) and restore on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not (Linux).
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()


class Outage:
    """Makes the database unreachable for a second app, and brings it back.

    PostgreSQL: the app connects through `Proxy`; cutting it drops every connection and
    refuses new ones (as a server restart or a network cut does). SQLite: the database file is
    moved away and a directory put in its place, so every new connection fails to open it
    ("unable to open database file", as when its volume is gone); pooled connections are
    dropped first."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.sqlite = parsed.get_backend_name() == "sqlite"
        self.proxy: Proxy | None = None
        if self.sqlite:
            self.path = Path(str(parsed.database))
            self.url = url
        else:
            self.proxy = Proxy(parsed.host or "127.0.0.1", parsed.port or 5432)
            self.url = parsed.set(host="127.0.0.1", port=self.proxy.port).render_as_string(
                hide_password=False
            )
        self.app: Flask | None = None

    def start(self, app: Flask) -> None:
        self.app = app
        database(app).dispose()
        if self.proxy is not None:
            self.proxy.cut()
        else:
            self.path.rename(self.path.with_name(self.path.name + ".away"))
            self.path.mkdir()

    def end(self) -> None:
        if self.proxy is not None:
            self.proxy.restore()
        else:
            self.path.rmdir()
            self.path.with_name(self.path.name + ".away").rename(self.path)


@pytest.fixture
def outage(database_url: str) -> Iterator[Outage]:
    made = Outage(database_url)
    yield made
    if made.app is not None:
        database(made.app).dispose()
    if made.proxy is not None:
        made.proxy.cut()


def test_an_unreachable_database_is_a_clear_503_no_data_and_recovery(
    app: Flask, db: Session, people: People, read_world: ReadWorld, outage: Outage
) -> None:
    """The database goes away (PostgreSQL: every connection cut and the port closed; SQLite:
    the file gone). Proves: API reads answer 503 JSON and page views a 503 page that says the
    database cannot be reached, with no rows in either; nothing was recorded as read (no
    access happened, so none is unaudited); when the database returns the same app, without a
    restart, serves and records reads again (stale pooled connections are replaced)."""
    served = create_app({"TESTING": True, "DATABASE_URL": outage.url})
    api = served.test_client()
    page = Browser(served.test_client())
    assert page.login(people.analyst.email, PASSWORD).status_code == 302
    assert api.get(read_world.rows_path, headers=read_world.headers()).status_code == 200
    assert page.get(read_world.view_path).status_code == 200
    reads = count_events(db, AuditType.DATASET_READ, Outcome.ALLOWED)
    assert reads == 2

    outage.start(served)
    try:
        refused = api.get(read_world.rows_path, headers=read_world.headers())
        assert refused.status_code == 503
        body = refused.get_json()
        assert body["status"] == 503
        assert "database cannot be reached" in body["message"]
        assert "items" not in body
        shown = page.get(read_world.view_path)
        assert shown.status_code == 503
        text = shown.get_data(as_text=True)
        assert "Temporarily unavailable" in text
        assert "no data was read" in text
        assert "SECRET" not in text
        assert "age_at_arrest" not in text
    finally:
        outage.end()

    assert count_events(db, AuditType.DATASET_READ, Outcome.ALLOWED) == reads
    again = api.get(read_world.rows_path, headers=read_world.headers())
    assert again.status_code == 200, again.get_data(as_text=True)
    assert len(again.get_json()["items"]) == 30
    assert page.get(read_world.view_path).status_code == 200
    assert count_events(db, AuditType.DATASET_READ, Outcome.ALLOWED) == reads + 2
    assert_chain_intact(app)


def test_a_connection_lost_before_the_commit_releases_no_rows(
    app: Flask,
    db: Session,
    people: People,
    read_world: ReadWorld,
    outage: Outage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL: the connection is cut after the rows were read and the read event written,
    before the commit. Proves: the answer is a 503 with no rows and, as the transaction never
    committed, no event either — rows leave only after their audit event is durable."""
    if outage.sqlite:
        pytest.skip("a SQLite file cannot lose its connection mid-transaction")
    from governance.access import api_rows as api_datasets
    from governance.access import data_door as data_access

    served = create_app({"TESTING": True, "DATABASE_URL": outage.url})
    outage.app = served  # disposed by the fixture
    api = served.test_client()
    original = data_access.read_rows

    def read_then_cut(*args: Any, **kwargs: Any) -> Any:
        page = original(*args, **kwargs)
        assert outage.proxy is not None
        outage.proxy.cut()
        return page

    monkeypatch.setattr(api_datasets.data_access, "read_rows", read_then_cut)
    reads = count_events(db, AuditType.DATASET_READ)
    try:
        refused = api.get(read_world.rows_path, headers=read_world.headers())
        assert refused.status_code == 503
        assert "items" not in refused.get_json()
    finally:
        assert outage.proxy is not None
        outage.proxy.restore()
    assert count_events(db, AuditType.DATASET_READ) == reads
    monkeypatch.setattr(api_datasets.data_access, "read_rows", original)
    assert api.get(read_world.rows_path, headers=read_world.headers()).status_code == 200
    assert count_events(db, AuditType.DATASET_READ) == reads + 1
    assert_chain_intact(app)


# --- a failed write during ingestion ----------------------------------------------------


def _api_upload(
    client: Any, token: str, dataset_id: int, content: bytes, name: str = "arrests.csv"
) -> Any:
    import io

    return client.post(
        f"/api/v1/datasets/{dataset_id}/versions",
        headers={"Authorization": f"Bearer {token}"},
        data={"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


@pytest.fixture
def steward_token(db: Session, people: People) -> str:
    return api_token(db, people.steward)


def test_disk_full_midway_through_an_upload_leaves_nothing(
    app: Flask,
    db: Session,
    people: People,
    arrests: Any,
    steward_token: str,
    instance_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The disk fills after part of the encrypted file was written (the write raises ENOSPC
    mid-stream). Proves: the API answers 503 naming the store; no version row, no file (not
    even the hidden partial one); the failure is recorded; the next upload succeeds."""
    import errno

    from governance.datasets.datastore import store

    written = {"bytes": 0}
    original = store.ParquetSink

    class FillingUp:
        """The encrypted file being written, on a disk that fills after 64 bytes."""

        def __init__(self, raw: Any) -> None:
            self.raw = raw

        def write(self, data: Any) -> Any:
            written["bytes"] += len(data)
            if written["bytes"] > 64:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.raw.write(data)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.raw, name)

    def filling_up(out: Any, *args: Any, **kwargs: Any) -> Any:
        return original(FillingUp(out), *args, **kwargs)

    monkeypatch.setattr(store, "ParquetSink", filling_up)
    response = _api_upload(app.test_client(), steward_token, arrests.id, GOOD_CSV)
    assert response.status_code == 503, response.get_data(as_text=True)
    assert "could not be written to the data store" in response.get_json()["message"]
    assert written["bytes"] > 64, "the write must have started before it failed"
    assert fresh(db).scalars(select(DatasetVersion)).all() == []
    assert stored_files(instance_path, app) == []
    failure = last_event(db, AuditType.DATASET_INGEST)
    assert failure.outcome == Outcome.FAILURE
    assert "storage failed: OSError" in failure.detail["reason"]
    monkeypatch.setattr(store, "ParquetSink", original)
    assert _api_upload(app.test_client(), steward_token, arrests.id, GOOD_CSV).status_code == 201
    assert len(stored_files(instance_path, app)) == 1


def test_a_failed_commit_after_the_file_was_stored_leaves_nothing(
    app: Flask,
    db: Session,
    people: People,
    arrests: Any,
    steward_token: str,
    instance_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The file is written and renamed into place, the version row and its audit event are
    flushed, then the database refuses the COMMIT. Proves: 503; the rollback removes the
    stored file; no version row; nothing half-stored remains."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session as OrmSession

    from governance.datasets.datastore import files

    def refuse_commit(session: OrmSession) -> None:
        if session.info.get(files.PENDING_KEY):
            assert stored_files(instance_path, app), "the file exists before the commit"
            raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    event.listen(OrmSession, "before_commit", refuse_commit)
    try:
        response = _api_upload(app.test_client(), steward_token, arrests.id, GOOD_CSV)
    finally:
        event.remove(OrmSession, "before_commit", refuse_commit)
    assert response.status_code == 503
    assert fresh(db).scalars(select(DatasetVersion)).all() == []
    assert stored_files(instance_path, app) == []


# --- damaged policy files at start-up ---------------------------------------------------


@pytest.mark.parametrize("damage", ["missing model", "garbled model", "empty roles"])
def test_governance_serve_refuses_to_start_on_damaged_policy_files(
    app: Flask, database_url: str, instance_path: Path, tmp_path: Path, damage: str
) -> None:
    """`governance serve` as a real process with a damaged POLICY_DIR. Proves: it exits
    non-zero within seconds, with a message naming the policy problem, and never answers a
    request (so it cannot allow everything). create_app's refusal of every kind of damage is
    in tests/authz/test_policy_files.py; these three are the kinds (absent, unparsable,
    empty) a process start must survive."""
    policies = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, policies)
    if damage == "missing model":
        (policies / "model.conf").unlink()
    elif damage == "garbled model":
        (policies / "model.conf").write_text("[matchers]\nm = (((\n")
    else:
        (policies / "roles.csv").write_text("# nothing\n")
    log = tmp_path / "serve.log"
    port = free_port()
    process = governance_process(
        ["serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        instance=instance_path,
        database_url=database_url,
        log=log,
        env={"GOVERNANCE_POLICY_DIR": str(policies)},
    )
    try:
        code = process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise AssertionError(f"serve kept running: {log.read_text()[-2000:]}") from None
    output = log.read_text()
    assert code != 0, output
    assert "polic" in output.lower(), output[-2000:]
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "nothing may listen"


# --- the clock moved past the agreement's expiry ----------------------------------------


def test_access_stops_at_the_agreements_expiry_without_the_expiry_job(
    app: Flask, db: Session, people: People, read_world: ReadWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock (`utcnow`, read per request by the data pages and the API) moves one second
    past the end of the agreement's expiry day; the periodic expiry job does not run. Proves:
    the very next page view and API read are refused (403) and each refusal is recorded with
    the expiry clause — the grant's Casbin line carries the agreement's end, so no job has to
    revoke anything first — while the agreement and grant rows still say active."""
    from governance.access import api_rows as api_datasets
    from governance.access import web_data as data_pages

    agreement = fresh(db).get(Agreement, read_world.agreement.id)
    assert agreement is not None
    assert agreement.current_version is not None
    end = access_eligibility.end_of_day(agreement.current_version.expiry_date)
    browser = Browser(app.test_client())
    browser.login(people.analyst.email, PASSWORD)
    assert browser.get(read_world.view_path).status_code == 200

    moved = end + dt.timedelta(seconds=1)
    for module in (data_pages, api_datasets):
        monkeypatch.setattr(module, "utcnow", lambda: moved)
    page = browser.get(read_world.view_path)
    assert page.status_code == 403
    assert "SECRET" not in page.get_data(as_text=True)
    # With no columns named, the page asks for the columns granted now: there are none left.
    assert last_event(db, AuditType.DATASET_READ).outcome == Outcome.DENIED
    api = app.test_client().get(f"{read_world.rows_path}&columns=sex", headers=read_world.headers())
    assert api.status_code == 403
    assert "expired" in api.get_json()["message"]
    denied = last_event(db, AuditType.DATASET_READ)
    assert denied.outcome == Outcome.DENIED
    assert denied.clause == "access.valid_until"
    assert count_events(db, AuditType.DATASET_READ, Outcome.DENIED) == 2
    assert fresh(db).get(Agreement, read_world.agreement.id).status == (  # type: ignore[union-attr]
        AgreementStatus.ACTIVE
    )
    grant = db.get(Grant, read_world.grant_id)
    assert grant is not None
    assert grant.status == GrantStatus.ACTIVE
    assert grant.valid_until <= end


# --- PostgreSQL ends the pooled connections (a restart, an administrator) ---------------


def _end_backends(url: str) -> None:
    """Terminate every other backend of the test database, as a restart does, and wait until
    they are gone (the server has then sent each its notice and closed its socket)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    others = text(
        "SELECT pid FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    try:
        with engine.connect() as connection:
            pids = connection.scalars(others).all()
            assert pids, "the app has no pooled connection to end"
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM unnest(:pids) AS pid"),
                {"pids": list(pids)},
            )
            connection.commit()
            deadline = time.monotonic() + 10
            while set(connection.scalars(others).all()) & set(pids):
                connection.commit()
                assert time.monotonic() < deadline, "backends not terminated"
                time.sleep(0.02)
    finally:
        engine.dispose()


def test_ended_pooled_connections_are_replaced_before_a_read_uses_them(
    app: Flask, db: Session, people: People, read_world: ReadWorld, database_url: str
) -> None:
    """PostgreSQL ends every connection while they sit in the pool (pool_pre_ping's round
    trip is gone, kernel/db.py). Proves: the next read is served and audited on a fresh
    connection, without an error, and the chain stays one line."""
    if database_url.startswith("sqlite"):
        pytest.skip("a SQLite file has no server to end its connections")
    api = app.test_client()
    assert api.get(read_world.rows_path, headers=read_world.headers()).status_code == 200
    reads = count_events(db, AuditType.DATASET_READ, Outcome.ALLOWED)
    fresh(db)  # its connection goes back to the pool, to be ended with the others
    _end_backends(database_url)

    served = api.get(read_world.rows_path, headers=read_world.headers())
    assert served.status_code == 200, served.get_data(as_text=True)
    assert len(served.get_json()["items"]) == 30
    assert count_events(db, AuditType.DATASET_READ, Outcome.ALLOWED) == reads + 1
    assert_chain_intact(app)


def test_a_connection_ended_unseen_fails_one_read_cleanly_and_the_next_is_served(
    app: Flask,
    db: Session,
    people: People,
    read_world: ReadWorld,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As above, but the pool cannot see that the connections were ended (as when a host
    crashed and its goodbye never came). Proves: the read that meets a dead connection
    answers 503 with no rows and records nothing (no half-written event, no read without its
    event); the pool is invalidated, so the very next read is served and audited."""
    if database_url.startswith("sqlite"):
        pytest.skip("a SQLite file has no server to end its connections")
    from governance.kernel import db as kernel_db

    api = app.test_client()
    # Read before the connections die: the test's own session would meet a dead one too.
    path, headers = read_world.rows_path, read_world.headers()
    assert api.get(path, headers=headers).status_code == 200
    reads = count_events(db, AuditType.DATASET_READ)
    fresh(db)
    monkeypatch.setattr(kernel_db, "_ended_by_server", lambda _connection: False)
    _end_backends(database_url)

    refused = api.get(path, headers=headers)
    assert refused.status_code == 503
    assert "items" not in refused.get_json()
    assert count_events(db, AuditType.DATASET_READ) == reads

    served = api.get(path, headers=headers)
    assert served.status_code == 200, served.get_data(as_text=True)
    assert count_events(db, AuditType.DATASET_READ) == reads + 1
    assert_chain_intact(app)
