"""Webhooks end to end: lifecycle changes reach a real receiver as signed CloudEvents, exactly
when their transaction commits; failures are retried with back-off, logged, and disable an
endpoint that keeps failing; an administrator sends a message again; a message survives a
worker killed mid-delivery and a queue that is down. Attacker's tests: internal addresses,
redirects, replayed and tampered messages, and people who may not manage webhooks.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.audit import service as audit_service
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.identity import tokens
from governance.kernel import jobs
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from governance.webhooks import delivery, events, service
from governance.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from tests.agreements.builders import approved, draft, make_datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People
from tests.webhooks.receiver import Receiver, running_receiver


@pytest.fixture
def app_config(database_url: str) -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "QUEUE_URL": "memory:",
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "WEBHOOK_RETRY_SECONDS": 10,
        "WEBHOOK_MAX_ATTEMPTS": 6,
        "WEBHOOK_DISABLE_AFTER": 4,
        "WEBHOOK_TIMEOUT_SECONDS": 2,
    }


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def queue() -> Iterator[Any]:
    memory = jobs.queue_for("memory:")
    memory.flush()
    yield memory
    memory.flush()


def register(
    db: Session, people: People, receiver: Receiver, types: tuple[str, ...] = events.TYPES
) -> WebhookEndpoint:
    registered = service.register_endpoint(
        db, url=receiver.url, event_types=types, by=people.admin, now=utcnow()
    )
    db.commit()
    receiver.secret = registered.secret
    return registered.endpoint


def deliveries(db: Session) -> list[WebhookDelivery]:
    return list(fresh(db).scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def attempts(db: Session, delivery_id: int) -> list[WebhookAttempt]:
    return list(
        fresh(db).scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery_id)
            .order_by(WebhookAttempt.id)
        )
    )


def webhook_messages(queue: Any) -> list[int]:
    return [t.args[0] for t in queue.pending() if t.name == jobs.WEBHOOK_TASK_NAME]


def send(app: Flask, delivery_id: int, now: dt.datetime | None = None) -> Any:
    return delivery.deliver(database(app).sessions, delivery_id, now=now)


def test_an_approved_agreement_reaches_the_receiver_as_a_signed_cloudevent(
    app: Flask, db: Session, people: People, receiver: Receiver, queue: Any
) -> None:
    register(db, people, receiver)
    agreement = approved(db, people, make_datasets(db, people), countersigned=False)

    [sent] = deliveries(db)
    assert sent.event_type == "org.governance.agreement.approved"
    # The message went on the queue once the approval committed.
    assert webhook_messages(queue) == [sent.id]
    assert send(app, sent.id) == DeliveryStatus.DELIVERED

    [received] = receiver.accepted
    event = received.event
    assert event.get_specversion() == "1.0"
    assert event.get_type() == "org.governance.agreement.approved"
    assert event.get_id() == received.headers["webhook-id"] == sent.event_id
    assert event.get_subject() == f"agreement/{agreement.id}"
    data = event.get_data()
    assert data["state"] == "approved"
    assert data["agreement_id"] == agreement.id
    assert data["link"].endswith(f"/api/v1/agreements/{agreement.id}")
    # The published schema holds for what was sent: ids, state, dates and a link, no more.
    jsonschema.validate(json.loads(received.body), events.envelope_schema(event.get_type()))
    assert set(data) == set(events.DATA_SCHEMA["required"])

    [attempt] = attempts(db, sent.id)
    assert attempt.status_code == 204
    assert attempt.error is None
    assert attempt.latency_ms >= 0


def test_nothing_is_written_or_sent_for_a_change_that_rolled_back(
    app: Flask, db: Session, people: People, receiver: Receiver, queue: Any
) -> None:
    register(db, people, receiver)
    agreement = draft(db, people, make_datasets(db, people))
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    db.commit()
    agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=utcnow())
    db.rollback()

    assert deliveries(db) == []
    assert webhook_messages(queue) == []
    # The same approval, committed, is reported once.
    agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=utcnow())
    db.commit()
    assert [d.event_type for d in deliveries(db)] == ["org.governance.agreement.approved"]


def test_only_the_subscribed_types_reach_an_endpoint(
    app: Flask, db: Session, people: People, receiver: Receiver
) -> None:
    register(db, people, receiver, types=("org.governance.agreement.terminated",))
    approved(db, people, make_datasets(db, people), countersigned=False)
    assert deliveries(db) == []


def test_500s_are_retried_with_doubling_waits_and_every_attempt_is_logged(
    app: Flask, db: Session, people: People, receiver: Receiver
) -> None:
    register(db, people, receiver)
    approved(db, people, make_datasets(db, people), countersigned=False)
    [sent] = deliveries(db)
    receiver.failures = [500, 503]
    start = utcnow()

    assert send(app, sent.id, start) == DeliveryStatus.PENDING
    assert deliveries(db)[0].next_attempt_at == start + dt.timedelta(seconds=10)
    assert send(app, sent.id, start + dt.timedelta(seconds=9)) is None  # not due yet
    assert send(app, sent.id, start + dt.timedelta(seconds=10)) == DeliveryStatus.PENDING
    assert deliveries(db)[0].next_attempt_at == start + dt.timedelta(seconds=30)  # 10 + 20
    assert send(app, sent.id, start + dt.timedelta(seconds=30)) == DeliveryStatus.DELIVERED

    log = attempts(db, sent.id)
    assert [a.status_code for a in log] == [500, 503, 204]
    assert [a.error for a in log] == ["HTTP 500", "HTTP 503", None]
    assert len(receiver.accepted) == 1


def test_an_endpoint_that_keeps_failing_is_disabled_audited_and_shown_so(
    app: Flask, db: Session, people: People, receiver: Receiver, browser: Browser
) -> None:
    endpoint = register(db, people, receiver)
    approved(db, people, make_datasets(db, people), countersigned=False)
    [sent] = deliveries(db)
    receiver.failures = [500] * 10
    moment = utcnow()
    for _ in range(4):
        send(app, sent.id, moment)
        moment = deliveries(db)[0].next_attempt_at or moment

    found = fresh(db).get(WebhookEndpoint, endpoint.id)
    assert found is not None
    assert not found.enabled
    assert found.disabled_reason == "Disabled automatically after 4 failed attempts in a row."
    audit = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.WEBHOOK_DISABLE)
    ).one()
    assert audit.actor_email == "system:webhooks"
    assert audit.target_id == str(endpoint.id)
    # Nothing more is sent to it; the message waits.
    assert send(app, sent.id, moment) is None
    assert receiver.requests == 4
    assert deliveries(db)[0].status == DeliveryStatus.PENDING

    browser.login(people.admin.email, PASSWORD)
    page = browser.get(f"/webhooks/{endpoint.id}").get_data(as_text=True)
    assert "Disabled automatically after 4 failed attempts in a row." in page
    assert "HTTP 500" in page
    assert "Waiting to be sent" in page

    # Enabled again by an administrator, it receives the waiting message.
    receiver.failures = []
    assert browser.post(f"/webhooks/{endpoint.id}/enable").status_code == 302
    assert send(app, sent.id, moment) == DeliveryStatus.DELIVERED
    assert len(receiver.accepted) == 1


def test_an_administrator_sends_a_message_again_and_the_receiver_drops_the_copy(
    app: Flask, db: Session, people: People, receiver: Receiver, browser: Browser, queue: Any
) -> None:
    endpoint = register(db, people, receiver)
    approved(db, people, make_datasets(db, people), countersigned=False)
    [sent] = deliveries(db)
    send(app, sent.id)
    queue.flush()

    browser.login(people.admin.email, PASSWORD)
    answer = browser.post(f"/webhooks/deliveries/{sent.id}/redeliver")
    assert answer.status_code == 302
    assert answer.location.endswith(f"/webhooks/{endpoint.id}")
    assert deliveries(db)[0].status == DeliveryStatus.PENDING
    assert webhook_messages(queue) == [sent.id]
    assert send(app, sent.id) == DeliveryStatus.DELIVERED
    assert receiver.duplicates == 1
    assert len(receiver.accepted) == 1
    assert db.scalars(
        select(AuditEvent.actor_email).where(AuditEvent.event_type == AuditType.WEBHOOK_REDELIVER)
    ).all() == [people.admin.email]


def test_a_replayed_or_tampered_message_is_rejected_by_the_receiver(
    app: Flask, db: Session, people: People, receiver: Receiver
) -> None:
    register(db, people, receiver)
    ten_minutes_ago = utcnow() - dt.timedelta(minutes=10)
    approved(db, people, make_datasets(db, people), countersigned=False)
    [sent] = deliveries(db)
    sent.next_attempt_at = ten_minutes_ago
    db.commit()

    # Signed ten minutes ago (as a captured message replayed now would be): outside the
    # receiver's window, refused.
    assert send(app, sent.id, ten_minutes_ago) == DeliveryStatus.PENDING
    assert receiver.rejected == ["Message timestamp too old"]
    assert attempts(db, sent.id)[0].status_code == 400
    assert send(app, sent.id) == DeliveryStatus.DELIVERED
    [received] = receiver.accepted

    tampered = received.body.replace(b'"approved"', b'"terminated"')
    answer = requests.post(receiver.url, data=tampered, headers=received.headers, timeout=5)
    assert answer.status_code == 400
    assert receiver.rejected[-1] == "No matching signature found"
    assert len(receiver.accepted) == 1


def test_a_message_survives_a_queue_that_is_down(
    app: Flask,
    db: Session,
    people: People,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    register(db, people, receiver)

    def down(_session: Session) -> Any:
        raise ConnectionError("queue down")

    monkeypatch.setattr(jobs, "session_queue", down)
    approved(db, people, make_datasets(db, people), countersigned=False)
    assert "they will be sent again" in caplog.text
    [sent] = deliveries(db)
    assert sent.status == DeliveryStatus.PENDING

    # The queue and the worker are back: the minute's sweep finds the message and sends it.
    monkeypatch.undo()
    memory = jobs.queue_for("memory:")
    memory.flush()
    with database(app).sessions() as session:
        assert delivery.sweep(session, delivery.ACTOR, utcnow()) == 1
        session.commit()
    assert webhook_messages(memory) == [sent.id]
    assert send(app, sent.id) == DeliveryStatus.DELIVERED
    assert len(receiver.accepted) == 1


WORKER = """
import sys
from governance import create_app
from governance.kernel.extensions import database
from governance.webhooks.delivery import deliver
app = create_app({"ADMIN_SECOND_FACTOR_REQUIRED": False})
deliver(database(app).sessions, int(sys.argv[1]))
"""


@pytest.mark.slow
def test_a_message_survives_a_worker_killed_mid_delivery(
    app: Flask,
    db: Session,
    people: People,
    receiver: Receiver,
    app_config: dict[str, Any],
    instance_path: Path,
) -> None:
    register(db, people, receiver)
    approved(db, people, make_datasets(db, people), countersigned=False)
    [sent] = deliveries(db)
    receiver.hold = threading.Event()
    # The worker waits this long for the held answer: far longer than the kill takes to come,
    # however loaded the machine (with 2 s it could give up first and record a failure).
    timeout = 20
    env = {
        **os.environ,
        "GOVERNANCE_INSTANCE_PATH": str(instance_path),
        "GOVERNANCE_DATABASE_URL": app_config["DATABASE_URL"],
        "GOVERNANCE_QUEUE_URL": "memory:",
        "GOVERNANCE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "GOVERNANCE_WEBHOOK_TIMEOUT_SECONDS": str(timeout),
    }
    env.pop("GOVERNANCE_TEST_DATABASE_URL", None)
    claimed_after = utcnow()
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(sent.id)], env=env)
    try:
        assert receiver.arrived.wait(60), "the worker never sent the message"
        worker.kill()  # SIGKILL while the receiver has not answered
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    receiver.hold.set()
    receiver.hold = None

    # The attempt was claimed and never settled: the row waits out the attempt's time limit,
    # then the returning worker sends it (the receiver may see it twice, by the same id).
    row = deliveries(db)[0]
    assert row.status == DeliveryStatus.PENDING
    assert row.attempts == 1
    assert attempts(db, sent.id) == []
    assert send(app, sent.id) is None
    # The time limit runs from the worker's claim: twice its timeout and half a minute.
    limit = dt.timedelta(seconds=2 * timeout + 30)
    due = row.next_attempt_at
    assert due is not None
    assert claimed_after + limit <= due <= utcnow() + limit
    assert send(app, sent.id, due - dt.timedelta(seconds=1)) is None
    assert send(app, sent.id, due) == DeliveryStatus.DELIVERED
    assert len(receiver.accepted) == 1


# Attacker's tests.


REFUSED_ADDRESSES = (
    "https://localhost/hooks",  # loopback by name
    "https://[::1]/hooks",
    "https://10.1.2.3/hooks",  # private
    "https://169.254.169.254/latest/meta-data",  # cloud metadata (link-local)
    "https://0.0.0.0/hooks",
    "http://93.184.216.34/hooks",  # public, but not HTTPS
    "https://user:pw@127.0.0.2/hooks",
    "ftp://127.0.0.1/hooks",
)


def test_an_internal_or_plain_http_address_is_refused(
    app: Flask, db: Session, people: People, client: Any
) -> None:
    token = tokens.create_token(
        db, user_id=people.admin.id, name="t", days=1, by=people.admin, now=utcnow()
    )
    db.commit()
    for url in REFUSED_ADDRESSES:
        answer = client.post(
            "/api/v1/webhooks",
            json={"url": url, "event_types": ["org.governance.grant.started"]},
            headers={"Authorization": f"Bearer {token.secret}"},
        )
        assert answer.status_code == 422, (url, answer.get_json())
        assert "url" in answer.get_json()["fields"]
    assert fresh(db).scalars(select(WebhookEndpoint)).all() == []


def test_an_address_that_turns_internal_after_registration_is_not_reached(
    app: Flask, db: Session, people: People, receiver: Receiver
) -> None:
    endpoint = register(db, people, receiver)
    approved(db, people, make_datasets(db, people), countersigned=False)
    [sent] = deliveries(db)
    with database(app).sessions() as session:
        session.info["settings"] = {**session.info["settings"], "WEBHOOK_ALLOWED_HOSTS": ""}
        outgoing = delivery.claim(session, sent.id, utcnow())
        session.commit()
    assert outgoing is not None
    answer = delivery.post(outgoing, frozenset())
    assert answer.status_code is None
    assert answer.error is not None
    assert answer.error.startswith("Refused: ")
    assert receiver.requests == 0
    assert endpoint.url == receiver.url


def test_a_redirect_is_not_followed(
    app: Flask, db: Session, people: People, receiver: Receiver
) -> None:
    with running_receiver() as internal:
        register(db, people, receiver)
        approved(db, people, make_datasets(db, people), countersigned=False)
        [sent] = deliveries(db)
        receiver.failures = [307]
        receiver.redirect_to = internal.url
        assert send(app, sent.id) == DeliveryStatus.PENDING
        assert internal.requests == 0
        assert attempts(db, sent.id)[0].error == "HTTP 307"


def test_someone_who_may_not_manage_webhooks_is_refused_and_the_attempt_recorded(
    app: Flask, db: Session, people: People, client: Any, browser: Browser
) -> None:
    token = tokens.create_token(
        db, user_id=people.privacy.id, name="t", days=1, by=people.privacy, now=utcnow()
    )
    db.commit()
    answer = client.post(
        "/api/v1/webhooks",
        json={"url": "https://example.org/hooks", "event_types": list(events.TYPES)},
        headers={"Authorization": f"Bearer {token.secret}"},
    )
    assert answer.status_code == 403
    browser.login(people.steward.email, PASSWORD)
    page = browser.post(
        "/webhooks/",
        data={"url": "https://example.org/hooks", "event_types": "org.governance.grant.started"},
    )
    assert page.status_code == 403
    refused = fresh(db).scalars(
        select(AuditEvent.actor_email)
        .where(
            AuditEvent.event_type == AuditType.WEBHOOK_CREATE,
            AuditEvent.outcome == Outcome.DENIED,
        )
        .order_by(AuditEvent.seq)
    )
    assert refused.all() == [people.privacy.email, people.steward.email]
    assert db.scalars(select(WebhookEndpoint)).all() == []


def test_the_secret_is_shown_once_and_stored_sealed(
    app: Flask, db: Session, people: People, browser: Browser, receiver: Receiver
) -> None:
    browser.login(people.admin.email, PASSWORD)
    answer = browser.post(
        "/webhooks/",
        data={
            "url": receiver.url,
            "description": "Partner case system",
            "event_types": ["org.governance.grant.started", "org.governance.grant.revoked"],
        },
    )
    assert answer.status_code == 201
    page = answer.get_data(as_text=True)
    secret = page.split('id="webhook-secret">')[1].split("<")[0]
    assert secret.startswith("whsec_")
    endpoint = fresh(db).scalars(select(WebhookEndpoint)).one()
    assert secret.encode() not in endpoint.sealed_secret
    assert service.signing_secret(db, endpoint) == secret
    listing = browser.get("/webhooks/").get_data(as_text=True)
    assert secret not in listing
    assert "Grant revoked, Grant started" in listing
    assert secret not in browser.get(f"/webhooks/{endpoint.id}").get_data(as_text=True)
    assert db.scalars(
        select(AuditEvent.event_type).where(AuditEvent.target_type == "webhook_endpoint")
    ).all() == [AuditType.WEBHOOK_CREATE]


def test_the_event_types_and_their_schemas_are_published_as_openapi_webhooks(
    client: Any,
) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    assert sorted(document["webhooks"]) == sorted(events.TYPES)
    approved_hook = document["webhooks"]["org.governance.agreement.approved"]["post"]
    content = approved_hook["requestBody"]["content"]["application/cloudevents+json"]
    assert content["schema"]["properties"]["type"] == {"const": "org.governance.agreement.approved"}
    assert {p["name"] for p in approved_hook["parameters"]} == {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }


def test_an_attempt_still_in_flight_when_the_message_was_sent_again_keeps_its_state(
    app: Flask, db: Session, people: People, receiver: Receiver
) -> None:
    register(db, people, receiver)
    approved(db, people, make_datasets(db, people), countersigned=False)
    [sent] = deliveries(db)
    with database(app).sessions() as session:
        slow = delivery.claim(session, sent.id, utcnow())
        session.commit()
    assert slow is not None
    with database(app).sessions() as session:
        service.redeliver(session, delivery_id=sent.id, by=people.admin, now=utcnow())
        session.commit()
    assert send(app, sent.id) == DeliveryStatus.DELIVERED
    # The first attempt answers late, with a failure: logged, the message stays delivered.
    late = delivery.Answer(500, 3000, None)
    with database(app).sessions() as session:
        assert delivery.settle(session, slow, late, utcnow()) == DeliveryStatus.DELIVERED
        session.commit()
    assert [a.status_code for a in attempts(db, sent.id)] == [204, 500]
    assert deliveries(db)[0].status == DeliveryStatus.DELIVERED


def test_a_signed_audit_checkpoint_is_reported(
    app: Flask, db: Session, people: People, receiver: Receiver
) -> None:
    register(db, people, receiver, types=("org.governance.audit.checkpoint_signed",))
    # The trail signs a checkpoint at least every AUDIT_CHECKPOINT_MINUTES (10) while written.
    later = utcnow() + dt.timedelta(minutes=11)
    seq = audit_service.record(db, AuditType.AUDIT_SEARCH, by=people.compliance, now=later)
    db.commit()
    [sent] = deliveries(db)
    assert sent.event_type == "org.governance.audit.checkpoint_signed"
    assert send(app, sent.id, later) == DeliveryStatus.PENDING  # signed 11 minutes ahead
    assert receiver.rejected == ["Message timestamp too new"]
    row = deliveries(db)[0]
    row.next_attempt_at = utcnow()
    db.commit()
    assert send(app, sent.id) == DeliveryStatus.DELIVERED
    data = receiver.accepted[0].event.get_data()
    assert data["subject_type"] == "audit_trail"
    assert data["audit_seq"] == seq
    assert data["state"] == "signed"
