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


def test_the_server_empties_the_directory_at_start(tmp_path: Path) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_12345.db").write_bytes(b"an earlier run")
    previous = os.environ.get(telemetry.MULTIPROC_ENV)
    try:
        telemetry.use_directory(directory, clean=True)
        assert list(directory.iterdir()) == []
        assert os.environ[telemetry.MULTIPROC_ENV] == str(directory)
    finally:
        if previous is None:
            os.environ.pop(telemetry.MULTIPROC_ENV, None)
        else:
            os.environ[telemetry.MULTIPROC_ENV] = previous
