"""The operators' /metrics: hidden without METRICS_TOKEN, 401 without the right bearer token,
and with it the request, audit, queue and checkpoint figures, summed across processes, and
nothing that names a person, an agreement, a dataset or a column."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.datasets.models import Dataset, DatasetColumn
from governance.identity.models import User
from governance.kernel import telemetry
from tests.conftest import Browser
from tests.metrics.conftest import History
from tests.support import PASSWORD, People

TOKEN = "operators-scrape-token-0123456789abcdef"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "METRICS_TOKEN": TOKEN}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_without_the_right_token_nothing_is_shown(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics").headers["WWW-Authenticate"].startswith("Bearer")
    wrong = {"Authorization": "Bearer " + "x" * len(TOKEN)}
    assert client.get("/metrics", headers=wrong).status_code == 401
    assert client.get("/metrics", headers={"Authorization": TOKEN}).status_code == 401
    body = client.get("/metrics", headers={"Authorization": "Basic " + TOKEN}).get_data()
    assert b"governance_" not in body


def test_the_figures_name_endpoints_and_nobody(
    app: Flask,
    browser: Browser,
    client: FlaskClient,
    db: Session,
    people: People,
    history: History,
) -> None:
    browser.login(people.privacy.email, PASSWORD)
    agreement_id = db.scalars(select(Agreement.id)).first()
    assert browser.get(f"/agreements/{agreement_id}").status_code == 200
    assert browser.get("/governance-metrics/").status_code == 200
    scrape = client.get("/metrics", headers=SCRAPE)
    assert scrape.status_code == 200
    assert scrape.headers["Content-Type"].startswith("text/plain")
    text = scrape.get_data(as_text=True)
    found = samples(text)
    detail = (("endpoint", "agreements.detail"), ("method", "GET"), ("status", "2xx"))
    assert found[("governance_http_requests_total", detail)] >= 1
    assert any(name == "governance_http_request_duration_seconds_count" for name, _ in found)
    assert found[("governance_audit_write_duration_seconds_count", ())] >= 1
    assert found[("governance_queue_pending_jobs", ())] >= 0
    assert 0 <= found[("governance_audit_checkpoint_age_seconds", ())] < 3600
    # Addresses with ids are counted under the route's name, never under the path.
    assert f"/agreements/{agreement_id}" not in text
    # Nothing sensitive: no e-mail, name, DUA reference or dataset name anywhere in the text,
    # and no column name as a label's value (a column may be a plain word, such as "name").
    distinctive: set[str] = set()
    for user in db.scalars(select(User)):
        distinctive |= {user.email, user.name}
    distinctive |= set(db.scalars(select(Agreement.reference)))
    distinctive |= set(db.scalars(select(Dataset.name)))
    assert "@" not in text
    # Endpoint labels are the code's route names ("admin.outbox", "access.steward_review"),
    # which other tests in the same process may have counted: a person called "Admin" or
    # "Steward" is not found in them, so they are left out of the search for people's words.
    searched = re.sub(r'endpoint="[^"]*"', 'endpoint=""', text).lower()
    assert sorted(w for w in distinctive if w.lower() in searched) == []
    values = {value for _, labels in found for _, value in labels}
    columns = set(db.scalars(select(DatasetColumn.name)))
    assert values & (columns | distinctive) == set()
    assert not any(any(ch.isdigit() for ch in v) and "/" in v for v in values)


def test_figures_are_summed_across_worker_processes(tmp_path: Path) -> None:
    """Two processes (as gunicorn's workers) count into the directory; a scrape adds them."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    count = (
        "from governance.kernel import telemetry\n"
        "telemetry.observe_request('dashboard.home', 'GET', 200, 0.01)\n"
        "telemetry.observe_audit_write(0.002)\n"
    )
    environment = {**os.environ, telemetry.MULTIPROC_ENV: str(directory)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], check=True, env=environment, timeout=120)
    assert len(list(directory.glob("*.db"))) >= 2  # one file per process and kind
    os.environ[telemetry.MULTIPROC_ENV] = str(directory)
    try:
        body, _ = telemetry.exposition()
    finally:
        del os.environ[telemetry.MULTIPROC_ENV]
    found = samples(body.decode())
    home = (("endpoint", "dashboard.home"), ("method", "GET"), ("status", "2xx"))
    assert found[("governance_http_requests_total", home)] == 2
    assert found[("governance_audit_write_duration_seconds_count", ())] == 2


def _count_in(directory: Path, code: str) -> None:
    """A process (a gunicorn or job worker) that counts into `directory`."""
    environment = {**os.environ, telemetry.MULTIPROC_ENV: str(directory)}
    program = f"from governance.kernel import telemetry\n{code}\n"
    subprocess.run([sys.executable, "-c", program], check=True, env=environment, timeout=120)


def _scrape(directory: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    os.environ[telemetry.MULTIPROC_ENV] = str(directory)
    try:
        body, _ = telemetry.exposition()
    finally:
        del os.environ[telemetry.MULTIPROC_ENV]
    return samples(body.decode())


HOME = (("endpoint", "dashboard.home"), ("method", "GET"), ("status", "2xx"))


def test_a_scrape_sums_its_own_servers_folder_and_the_job_workers_not_another_server(
    tmp_path: Path,
) -> None:
    parent = tmp_path / "prometheus"
    mine, other, jobs = (telemetry.claim(parent, kind) for kind in ("serve", "serve", "worker"))
    for _ in range(2):
        _count_in(mine, "telemetry.observe_request('dashboard.home', 'GET', 200, 0.01)")
    _count_in(other, "telemetry.observe_request('dashboard.home', 'GET', 200, 0.01)")
    _count_in(jobs, "telemetry.count_job_failure('audit.timestamps')")
    found = _scrape(mine)
    assert found[("governance_http_requests_total", HOME)] == 2
    assert found[("governance_job_failures_total", (("task", "audit.timestamps"),))] == 1
    assert _scrape(other)[("governance_http_requests_total", HOME)] == 1


HOLD = """
import sys, time
from pathlib import Path
from governance.kernel import telemetry
print(telemetry.claim(Path(sys.argv[1]), "serve"), flush=True)
if sys.argv[2] == "live":
    time.sleep(120)
"""


def test_a_new_server_removes_only_the_folders_of_processes_that_ended(tmp_path: Path) -> None:
    """Before, `governance serve` emptied the one shared folder at start: a second server on
    the instance deleted the first's live figures."""
    parent = tmp_path / "prometheus"
    live = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(parent), "live"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert live.stdout is not None
        running = Path(live.stdout.readline().strip())
        ended = subprocess.run(
            [sys.executable, "-c", HOLD, str(parent), "ended"],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout.strip()
        (running / "counter_1.db").write_bytes(b"a live server's")
        (Path(ended) / "counter_2.db").write_bytes(b"an ended server's")
        (parent / "counter_12345.db").write_bytes(b"the earlier, shared layout")
        (parent / "serve-orphan").mkdir()  # no lock: never a live server's
        new = telemetry.claim(parent, "serve")
        assert sorted(p.name for p in parent.iterdir() if p.is_dir()) == sorted(
            [running.name, new.name]
        )
        assert (running / "counter_1.db").exists()
        assert not Path(ended).exists()
        assert not (parent / f"{Path(ended).name}.lock").exists()
        assert not (parent / "counter_12345.db").exists()
    finally:
        live.kill()
        live.wait(timeout=30)
        if live.stdout is not None:
            live.stdout.close()
