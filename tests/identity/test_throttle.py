"""Throttling per client address and per account stops an attacker before the victim's account
locks; a locked person unlocks through an e-mailed single-use link or an administrator."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import create_app
from governance.audit.models import AuditEvent, AuditType
from governance.identity.models import User
from governance.kernel.extensions import database
from tests import workers as per_worker
from tests.conftest import Browser, fresh
from tests.identity.conftest import Inbox, login_from, mail_settings
from tests.support import PASSWORD, People

ATTACKER = "203.0.113.66"
VICTIM = "192.0.2.10"
REDIS_VARIABLE = "GOVERNANCE_TEST_REDIS_URL"


def redis_url() -> str:
    configured = os.environ.get(REDIS_VARIABLE)
    if not configured:
        pytest.skip(f"Redis throttle run skipped: {REDIS_VARIABLE} is not set.")
    url = per_worker.redis_url(configured)  # each xdist worker its own database
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).flushdb()
    except Exception as error:
        pytest.skip(f"Redis throttle run skipped: {url} is unreachable ({error}).")
    return url


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest) -> str:
    return "memory://" if request.param == "memory" else redis_url()


@pytest.fixture
def app_config(database_url: str, smtp: tuple[Inbox, int], storage: str) -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "RATELIMIT_STORAGE_URL": storage,
        **mail_settings(smtp),
    }


WRONG = "a wrong guess"


def attempt(app: Flask, address: str, email: str, password: str = WRONG) -> Any:
    return login_from(app.test_client(), address, email, password)


def throttled_events(db: Session) -> list[AuditEvent]:
    return list(
        fresh(db).scalars(
            select(AuditEvent).where(AuditEvent.event_type == AuditType.LOGIN_THROTTLED)
        )
    )


def analyst(db: Session, people: People) -> User:
    user = fresh(db).get(User, people.analyst.id)
    assert user is not None
    return user


def test_an_attacker_meets_the_throttle_before_the_victims_account_locks(
    app: Flask, people: People, db: Session
) -> None:
    """Attack: anyone could lock any named account by trying five passwords. Now the fifth
    try from one address is refused (429) before it is checked, the account stays open,
    and its owner logs in from their own machine."""
    answers = [attempt(app, ATTACKER, people.analyst.email).status_code for _ in range(8)]
    assert answers == [200] * 4 + [429] * 4
    refusal = attempt(app, ATTACKER, people.analyst.email, PASSWORD)
    assert refusal.status_code == 429  # not even the right password gets through
    assert "Too many failed logins for this account" in refusal.get_data(as_text=True)
    assert int(refusal.headers["Retry-After"]) > 0
    assert analyst(db, people).locked_until is None
    assert AuditType.LOCKOUT not in {e.event_type for e in fresh(db).scalars(select(AuditEvent))}
    recorded = throttled_events(db)
    assert len(recorded) == 1  # once per address and period: knocking does not fill the trail
    assert recorded[0].outcome == "denied"
    assert recorded[0].actor_email == people.analyst.email
    assert recorded[0].detail["source"] == ATTACKER
    assert recorded[0].detail["scope"] == "account"
    assert attempt(app, VICTIM, people.analyst.email, PASSWORD).status_code == 302


def test_one_address_trying_many_accounts_is_throttled(
    app: Flask, people: People, db: Session
) -> None:
    limit = app.config["LOGIN_FAILURES_PER_ADDRESS"]
    accounts = [f"nobody{i}@test.example" for i in range(limit)]
    assert {attempt(app, ATTACKER, email).status_code for email in accounts} == {200}
    sprayed = attempt(app, ATTACKER, people.analyst.email)
    assert sprayed.status_code == 429
    assert "from your network address" in sprayed.get_data(as_text=True)
    assert throttled_events(db)[-1].detail["scope"] == "address"
    assert attempt(app, VICTIM, people.analyst.email, PASSWORD).status_code == 302


def test_successful_logins_are_not_counted(app: Flask, people: People) -> None:
    for _ in range(app.config["LOCKOUT_THRESHOLD"] + 2):
        assert attempt(app, VICTIM, people.analyst.email, PASSWORD).status_code == 302


def test_processes_sharing_redis_share_the_count(
    app: Flask, people: People, storage: str, instance_path: Any
) -> None:
    """Two server processes (here two apps) count one attacker together when the limits are
    kept in Redis, as RATELIMIT_STORAGE_URL is set in production."""
    if storage.startswith("memory"):
        pytest.skip("memory storage is counted by each process alone (documented)")
    other = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": app.config["DATABASE_URL"],
            "RATELIMIT_STORAGE_URL": storage,
        }
    )
    try:
        for server in (app, other, app, other):
            assert attempt(server, ATTACKER, people.analyst.email).status_code == 200
        assert attempt(app, ATTACKER, people.analyst.email).status_code == 429
        assert attempt(other, ATTACKER, people.analyst.email).status_code == 429
    finally:
        database(other).dispose()


def lock(app: Flask, people: People) -> None:
    """Five failures from two addresses (one address alone meets the throttle first)."""
    for address in ("203.0.113.1",) * 4 + ("203.0.113.2",):
        assert attempt(app, address, people.analyst.email).status_code == 200


def test_a_locked_person_unlocks_with_the_e_mailed_link_once(
    app: Flask, people: People, db: Session, inbox: Inbox
) -> None:
    lock(app, people)
    assert analyst(db, people).locked_until is not None
    subject, body = inbox.to(people.analyst.email)[-1]
    assert subject == "Your account was locked"
    assert "https://gov.test.example/unlock/" in body
    link = inbox.link(people.analyst.email, "unlock")
    person = app.test_client()
    page = person.get(link)  # a mail scanner opening the link must not use it up
    assert page.status_code == 200
    assert analyst(db, people).locked_until is not None
    assert Browser(person).post(link).status_code == 302
    assert analyst(db, people).locked_until is None
    assert person.get(link).status_code == 404
    unlocked = (
        fresh(db).scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.UNLOCK)).one()
    )
    assert (unlocked.actor_id, unlocked.detail["via"]) == (people.analyst.id, "e-mailed link")
    assert attempt(app, VICTIM, people.analyst.email, PASSWORD).status_code == 302


def test_an_administrator_unlocks_an_account(
    app: Flask, people: People, db: Session, inbox: Inbox
) -> None:
    lock(app, people)
    admin = Browser(app.test_client())
    login_from(admin.client, VICTIM, people.admin.email, PASSWORD)
    assert "Locked until" in admin.get(f"/admin/users/{people.analyst.id}").get_data(as_text=True)
    steward = Browser(app.test_client())
    login_from(steward.client, VICTIM, people.steward.email, PASSWORD)
    assert steward.post(f"/admin/users/{people.analyst.id}/unlock").status_code == 403
    assert admin.post(f"/admin/users/{people.analyst.id}/unlock").status_code == 302
    assert analyst(db, people).locked_until is None
    assert admin.post(f"/admin/users/{people.analyst.id}/unlock").status_code == 409
    # The e-mailed link was closed with the unlock.
    assert app.test_client().get(inbox.link(people.analyst.email, "unlock")).status_code == 404
    events = [
        (e.outcome, e.actor_id)
        for e in fresh(db).scalars(
            select(AuditEvent)
            .where(AuditEvent.event_type == AuditType.UNLOCK)
            .order_by(AuditEvent.seq)
        )
    ]
    assert events == [("denied", people.steward.id), ("success", people.admin.id)]


def test_a_lock_that_has_expired_needs_no_link(app: Flask, people: People, db: Session) -> None:
    lock(app, people)
    user = analyst(db, people)
    user.locked_until = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    db.commit()
    assert attempt(app, VICTIM, people.analyst.email, PASSWORD).status_code == 302


def test_with_memory_storage_each_server_process_allows_its_share(
    app: Flask, people: People, storage: str
) -> None:
    shared = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": app.config["DATABASE_URL"],
            "RATELIMIT_STORAGE_URL": storage,
            "SERVER_PROCESSES": 2,
        }
    )
    try:
        answers = [attempt(shared, ATTACKER, people.analyst.email).status_code for _ in range(5)]
    finally:
        database(shared).dispose()
    if storage.startswith("memory"):
        assert answers == [200, 200, 429, 429, 429]  # two processes: two failures each
    else:
        assert answers == [200, 200, 200, 200, 429]  # Redis counts for every process


@pytest.mark.slow
def test_a_served_site_with_two_workers_throttles_before_the_lock(
    app: Flask, people: People, db: Session, storage: str, instance_path: Any, tmp_path: Any
) -> None:
    """`make run` serves with two gunicorn workers and memory storage: one attacker still
    meets the throttle before the account locks, whichever worker answers."""
    if not storage.startswith("memory"):
        pytest.skip("the served site's default storage is memory")
    import re

    import requests

    from tests.live import LiveServer

    server = LiveServer(
        app.config["DATABASE_URL"], instance_path, tmp_path / "server.log", workers=2
    )
    try:
        answers = []
        for _ in range(10):
            http = requests.Session()
            form = http.get(f"{server.url}/login", timeout=30).text
            token = re.search(r'name="csrf-token" content="([^"]+)"', form)
            assert token is not None
            answers.append(
                http.post(
                    f"{server.url}/login",
                    timeout=30,
                    data={
                        "email": people.analyst.email,
                        "password": WRONG,
                        "csrf_token": token.group(1),
                    },
                    allow_redirects=False,
                ).status_code
            )
    finally:
        server.stop()
    assert 429 in answers
    assert answers.count(200) <= app.config["LOCKOUT_THRESHOLD"] - 1
    assert analyst(db, people).locked_until is None
