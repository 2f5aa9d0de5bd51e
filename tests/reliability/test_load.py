"""Load (issue 9): 32 concurrent clients against `governance serve` with 4 worker processes.

The clients, each with its own API token or logged-in session, mix granted reads of dataset
rows (API and pages), refused reads (a column the agreement does not cover; a dataset without
a grant), new access requests, and two stewards racing to approve them. Afterwards: no answer
was a 5xx or anything else unexpected; the audit trail holds exactly one `dataset:read` event
per read answered, allowed or denied, for each person; every approval answered 200 made one
grant and one event (two stewards never both approve a request); and the chain verifies.

60 s per database with GOVERNANCE_RELIABILITY=full (`make reliability`), 8 s otherwise.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.access.models import AccessRequest, Grant
from governance.audit.models import AuditEvent, AuditType
from tests.conftest import fresh
from tests.live import LiveServer
from tests.reliability.conftest import FULL
from tests.reliability.load_world import GRANTED, NOT_COVERED, REQUESTED, LoadWorld, build
from tests.support import PASSWORD

DURATION_S = 60.0 if FULL else 8.0
API_READERS, PAGE_READERS, REQUESTERS, STEWARDS = 20, 4, 6, 2
CLIENTS = API_READERS + PAGE_READERS + REQUESTERS + STEWARDS
assert CLIENTS == 32
WORKERS = 4
TIMEOUT_S = 60


@dataclass
class Tally:
    """What one client did and what it was answered."""

    reads: Counter[tuple[str, str]] = field(default_factory=Counter)  # (email, outcome)
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)  # (kind, status)
    unexpected: list[str] = field(default_factory=list)
    created: int = 0
    approved: list[int] = field(default_factory=list)


@dataclass
class Plan:
    server: LiveServer
    world: LoadWorld
    stop_at: float

    def query(self, dataset_id: int, columns: tuple[str, ...], page: int) -> str:
        parts = [
            f"agreement={self.world.agreement.id}",
            "purpose=descriptive",
            *(f"columns={c}" for c in columns),
            f"page={page}",
        ]
        return "&".join(parts)


def _check(tally: Tally, kind: str, response: requests.Response, expected: set[int]) -> None:
    tally.answers[(kind, response.status_code)] += 1
    if response.status_code not in expected:
        tally.unexpected.append(f"{kind}: {response.status_code} {response.text[:300]}")


def _read(tally: Tally, email: str, kind: str, response: requests.Response, outcome: str) -> None:
    """A read answered 200 is an allowed read, 403 a refused one; nothing else may come."""
    expected = 200 if outcome == "allowed" else 403
    _check(tally, kind, response, {expected})
    if response.status_code in (200, 403):
        tally.reads[(email, "allowed" if response.status_code == 200 else "denied")] += 1


def api_reader(plan: Plan, secret: str, email: str, seed: int, tally: Tally) -> None:
    world, rng = plan.world, random.Random(seed)
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {secret}"
    base = f"{plan.server.url}/api/v1/datasets"
    arrests, probation = world.datasets.arrests.id, world.datasets.probation.id
    first = True
    while first or time.monotonic() < plan.stop_at:
        # Each client's first read is of a fixed kind, so that every kind is made even when
        # a loaded machine answers only a few requests in the short run.
        roll = (0.0, 0.75, 0.9)[seed % 3] if first else rng.random()
        page, first = rng.randint(1, 20), False
        if roll < 0.7:
            url = f"{base}/{arrests}/rows?{plan.query(arrests, GRANTED, page)}"
            _read(tally, email, "api granted read", http.get(url, timeout=TIMEOUT_S), "allowed")
        elif roll < 0.85:
            url = f"{base}/{arrests}/rows?{plan.query(arrests, ('sex', NOT_COVERED), page)}"
            _read(tally, email, "api refused column", http.get(url, timeout=TIMEOUT_S), "denied")
        else:
            url = f"{base}/{probation}/rows?{plan.query(probation, ('sex',), page)}"
            _read(tally, email, "api refused dataset", http.get(url, timeout=TIMEOUT_S), "denied")


def logged_in(base: str, email: str) -> requests.Session:
    http = requests.Session()
    form = http.get(f"{base}/login", timeout=TIMEOUT_S)
    token = re.search(r'name="csrf-token" content="([^"]+)"', form.text)
    assert token, "no CSRF token on the login page"
    login = http.post(
        f"{base}/login",
        timeout=TIMEOUT_S,
        allow_redirects=False,
        data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert login.status_code == 302, login.text[:500]
    return http


def page_reader(plan: Plan, http: requests.Session, email: str, seed: int, tally: Tally) -> None:
    rng = random.Random(seed)
    arrests = plan.world.datasets.arrests.id
    first = True
    while first or time.monotonic() < plan.stop_at:
        refused, first = not first and rng.random() < 0.25, False
        columns = ("sex", NOT_COVERED) if refused else GRANTED
        url = (
            f"{plan.server.url}/data/view?dataset={arrests}&"
            f"{plan.query(arrests, columns, rng.randint(1, 20))}"
        )
        _read(
            tally,
            email,
            "page refused column" if refused else "page granted read",
            http.get(url, timeout=TIMEOUT_S),
            "denied" if refused else "allowed",
        )


def requester(plan: Plan, secret: str, tally: Tally) -> None:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {secret}"
    body = {
        "agreement_id": plan.world.agreement.id,
        "dataset_id": plan.world.datasets.arrests.id,
        "columns": [REQUESTED],
        "purpose": "descriptive",
        "justification": "The offence mix of the cohort.",
        "end_date": plan.world.agreement.current_version.expiry_date.isoformat(),
    }
    while time.monotonic() < plan.stop_at:
        response = http.post(
            f"{plan.server.url}/api/v1/access-requests", json=body, timeout=TIMEOUT_S
        )
        _check(tally, "access request", response, {201})
        if response.status_code == 201:
            tally.created += 1
        time.sleep(0.1)


def steward(plan: Plan, secret: str, tally: Tally) -> None:
    """Both stewards work the same queue, so they often race for the same request: one
    approval wins, the other is told the request is no longer waiting (409)."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {secret}"
    api = f"{plan.server.url}/api/v1/access-requests"
    while time.monotonic() < plan.stop_at:
        listing = http.get(f"{api}?status=submitted&per_page=20&sort=id", timeout=TIMEOUT_S)
        _check(tally, "request list", listing, {200})
        waiting = listing.json()["items"] if listing.status_code == 200 else []
        if not waiting:
            time.sleep(0.1)
        for item in waiting:
            if time.monotonic() >= plan.stop_at:
                break
            response = http.post(
                f"{api}/{item['id']}/approve",
                timeout=TIMEOUT_S,
                json={"columns": [REQUESTED], "comment": "Needed."},
            )
            _check(tally, "approval", response, {200, 409})
            if response.status_code == 200:
                tally.approved.append(item["id"])


def run_clients(clients: list[Callable[[], None]]) -> list[str]:
    """Run every client in its own thread; return the errors they raised."""
    errors: list[str] = []

    def guarded(client: Callable[[], None]) -> None:
        try:
            client()
        except Exception as error:  # a transport error or a failed assumption
            errors.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=guarded, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.fixture
def world(app: Flask, db: Session) -> LoadWorld:
    return build(db, app, analysts=API_READERS + PAGE_READERS)


@pytest.fixture
def server(
    world: LoadWorld, database_url: str, instance_path: Path, tmp_path: Path
) -> Iterator[LiveServer]:
    live = LiveServer(database_url, instance_path, tmp_path / "server.log", workers=WORKERS)
    yield live
    live.stop()


def test_32_clients_get_no_5xx_and_every_read_is_recorded_once(
    db: Session, world: LoadWorld, server: LiveServer, database_url: str, instance_path: Path
) -> None:
    readers = world.analysts
    sessions = [logged_in(server.url, readers[API_READERS + j].email) for j in range(PAGE_READERS)]
    plan = Plan(server=server, world=world, stop_at=time.monotonic() + DURATION_S)
    tallies = [Tally() for _ in range(CLIENTS)]
    clients: list[Callable[[], None]] = []
    for i in range(API_READERS):
        user = readers[i]
        clients.append(
            lambda u=user, n=i: api_reader(plan, world.tokens[u.id][0], u.email, n, tallies[n])
        )
    for j in range(PAGE_READERS):
        user, n = readers[API_READERS + j], API_READERS + j
        clients.append(
            lambda u=user, n=n, j=j: page_reader(plan, sessions[j], u.email, n, tallies[n])
        )
    for k in range(REQUESTERS):
        # Requesters use the API readers' people (their second line of work).
        user, n = readers[k], API_READERS + PAGE_READERS + k
        clients.append(lambda u=user, n=n: requester(plan, world.tokens[u.id][1], tallies[n]))
    for m, person in enumerate(world.stewards):
        n = API_READERS + PAGE_READERS + REQUESTERS + m
        clients.append(lambda p=person, n=n: steward(plan, world.tokens[p.id][0], tallies[n]))

    started = time.monotonic()
    errors = run_clients(clients)
    elapsed = time.monotonic() - started

    answers: Counter[tuple[str, int]] = sum((t.answers for t in tallies), Counter())
    reads: Counter[tuple[str, str]] = sum((t.reads for t in tallies), Counter())
    unexpected = [u for t in tallies for u in t.unexpected]
    log = server.log.read_text()
    summary = (
        f"{elapsed:.1f} s, {sum(answers.values())} answers "
        f"({sum(answers.values()) / elapsed:.0f}/s): "
        + ", ".join(f"{k} {s}: {c}" for (k, s), c in sorted(answers.items()))
    )
    print(summary)
    assert errors == [], summary
    assert unexpected == [], summary
    assert not [s for (_, s) in answers if s >= 500], summary
    for needle in ("Traceback", "database is locked", "AUDIT WRITE FAILED"):
        assert needle not in log, f"{needle!r} in the server log:\n{log[-4000:]}"
    assert answers[("api granted read", 200)] > 0
    assert answers[("api refused column", 403)] > 0
    assert answers[("api refused dataset", 403)] > 0
    assert answers[("page granted read", 200)] > 0

    # Exactly one decision event per read answered, per person and outcome.
    session = fresh(db)
    recorded = Counter(
        {
            (email, str(outcome)): count
            for email, outcome, count in session.execute(
                select(AuditEvent.actor_email, AuditEvent.outcome, func.count())
                .where(AuditEvent.event_type == AuditType.DATASET_READ)
                .group_by(AuditEvent.actor_email, AuditEvent.outcome)
            )
        }
    )
    assert recorded == reads

    # Every request created was recorded once; every approval answered 200 made one grant,
    # and no request was approved twice.
    created = sum(t.created for t in tallies)
    approvals = [request_id for t in tallies for request_id in t.approved]
    assert len(approvals) == len(set(approvals))
    submitted = session.scalar(
        select(func.count()).where(AuditEvent.event_type == AuditType.ACCESS_REQUEST_SUBMIT)
    )
    assert submitted == created + len(readers)  # the world's own requests too
    approve_events = session.scalar(
        select(func.count()).where(AuditEvent.event_type == AuditType.ACCESS_REQUEST_APPROVE)
    )
    assert approve_events == len(approvals) + len(readers)
    grants = session.scalar(select(func.count()).select_from(Grant))
    granted_requests = session.scalar(
        select(func.count()).where(AccessRequest.grant_id.is_not(None))
    )
    assert grants == granted_requests == len(approvals) + len(readers)

    verify = subprocess.run(
        [sys.executable, "-m", "governance.cli", "audit", "verify"],
        capture_output=True,
        text=True,
        timeout=300,
        env=_cli_env(database_url, instance_path),
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def _cli_env(database_url: str, instance_path: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "GOVERNANCE_INSTANCE_PATH": str(instance_path),
        "GOVERNANCE_DATABASE_URL": database_url,
    }
    env.pop("GOVERNANCE_TEST_DATABASE_URL", None)
    return env
