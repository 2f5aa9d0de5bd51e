"""Sending one webhook message: claim it, sign it the Standard Webhooks way, POST it, log the
attempt, and plan the retry or give up.

The delivery row is the truth; a queue message only says "look at row N". An attempt is claimed
in its own short transaction (its count raised, its next time moved past the attempt's time
limit) before anything is sent, so a worker that dies mid-delivery leaves the row due again
a little later, and the sweep sends it. Receivers may therefore see a message twice, with the
same webhook-id: Standard Webhooks' at-least-once contract.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import certifi
import urllib3
from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from governance.identity.actors import System
from governance.kernel import jobs
from governance.kernel.types import utcnow
from governance.webhooks.addresses import AddressRefused, Target, resolve
from governance.webhooks.lifecycle import LIFECYCLE, DeliveryAction
from governance.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from governance.webhooks.service import (
    disable_failing,
    hosts_allowed,
    settings,
    signing_secret,
)

log = logging.getLogger(__name__)
ACTOR = System("webhooks")
MAX_WAIT = dt.timedelta(hours=6)
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


@dataclass(frozen=True)
class Outgoing:
    delivery_id: int
    url: str
    body: bytes
    headers: dict[str, str]
    timeout: int


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    latency_ms: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _setting(session: Session, name: str, default: int) -> int:
    return int(str(settings(session).get(name, default)))


def backoff(session: Session, attempts: int) -> dt.timedelta:
    """The wait after the attempts-th failure: WEBHOOK_RETRY_SECONDS, doubling, capped."""
    first = _setting(session, "WEBHOOK_RETRY_SECONDS", 30)
    return min(dt.timedelta(seconds=first * 2 ** (attempts - 1)), MAX_WAIT)


def claim(session: Session, delivery_id: int, now: dt.datetime) -> Outgoing | None:
    """Take the delivery's next attempt if it is due and its endpoint enabled; the caller
    commits before sending. None when there is nothing to do."""
    delivery = session.execute(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
    ).scalar_one_or_none()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return None
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
        return None
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        return None
    timeout = _setting(session, "WEBHOOK_TIMEOUT_SECONDS", 10)
    delivery.attempts += 1
    # A worker that dies from here on leaves the row due again after the attempt's time limit.
    delivery.next_attempt_at = now + dt.timedelta(seconds=2 * timeout + 30)
    body = delivery.body.encode()
    signature = Webhook(signing_secret(session, endpoint)).sign(delivery.event_id, now, body)
    headers = {
        "content-type": CONTENT_TYPE,
        "webhook-id": delivery.event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    return Outgoing(delivery.id, endpoint.url, body, headers, timeout)


Transport = Callable[[Outgoing, frozenset[str]], Answer]


def post(outgoing: Outgoing, allowed: frozenset[str]) -> Answer:
    """POST the message to the address that was checked (resolved once: see addresses.py);
    never follows a redirect (a 3xx counts as a failure)."""
    started = time.monotonic()
    try:
        target = resolve(outgoing.url, allowed)
        pool = _pool(target, outgoing.timeout)
        try:
            answer = pool.urlopen(
                "POST",
                target.path,
                body=outgoing.body,
                headers={**outgoing.headers, "Host": target.host_header},
                redirect=False,
                retries=False,
                assert_same_host=False,
            )
            answer.drain_conn()
            return Answer(answer.status, _since(started), None)
        finally:
            pool.close()
    except AddressRefused as refused:
        return Answer(None, _since(started), f"Refused: {refused}")
    except (urllib3.exceptions.HTTPError, OSError) as error:
        return Answer(None, _since(started), f"{type(error).__name__}: {error}"[:500])


def _pool(target: Target, timeout: int) -> urllib3.HTTPConnectionPool:
    """A connection pool to the checked address only. Over HTTPS the URL's host name is the
    TLS server name (SNI) and the name the certificate must carry."""
    limit = urllib3.Timeout(connect=timeout, read=timeout)
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=limit,
            maxsize=1,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
        )
    return urllib3.HTTPConnectionPool(target.address, target.port, timeout=limit, maxsize=1)


def _since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def settle(
    session: Session, outgoing: Outgoing, answer: Answer, now: dt.datetime
) -> DeliveryStatus:
    """Log the attempt, then mark the delivery delivered, or plan its retry, or give up; an
    endpoint failing WEBHOOK_DISABLE_AFTER times in a row is disabled (audited)."""
    delivery = session.execute(
        select(WebhookDelivery).where(WebhookDelivery.id == outgoing.delivery_id).with_for_update()
    ).scalar_one()
    endpoint = session.execute(
        select(WebhookEndpoint).where(WebhookEndpoint.id == delivery.endpoint_id).with_for_update()
    ).scalar_one()
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            attempted_at=now,
            status_code=answer.status_code,
            latency_ms=answer.latency_ms,
            error=answer.error if answer.ok else (answer.error or f"HTTP {answer.status_code}"),
        )
    )
    if delivery.status != DeliveryStatus.PENDING:
        # Settled meanwhile by a second attempt (sent again by hand while this one was in
        # flight): this attempt is logged, the message keeps its state.
        return delivery.status
    if answer.ok:
        LIFECYCLE.apply(session, delivery, DeliveryAction.DELIVER, by=ACTOR)
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        endpoint.consecutive_failures = 0
        return delivery.status
    endpoint.consecutive_failures += 1
    if delivery.attempts >= _setting(session, "WEBHOOK_MAX_ATTEMPTS", 8):
        LIFECYCLE.apply(session, delivery, DeliveryAction.GIVE_UP, by=ACTOR)
        delivery.next_attempt_at = None
    else:
        wait = backoff(session, delivery.attempts)
        delivery.next_attempt_at = now + wait
        jobs.enqueue_after_commit(
            session, delivery.id, task=jobs.WEBHOOK_TASK_NAME, delay=wait.total_seconds()
        )
    limit = _setting(session, "WEBHOOK_DISABLE_AFTER", 20)
    if endpoint.enabled and endpoint.consecutive_failures >= limit:
        disable_failing(session, endpoint, by=ACTOR, now=now, limit=limit)
    return delivery.status


def deliver(
    sessions: Callable[[], Session],
    delivery_id: int,
    *,
    now: dt.datetime | None = None,
    transport: Transport = post,
) -> DeliveryStatus | None:
    """One attempt at one delivery, in two transactions around the HTTP request (none is held
    open while a slow endpoint answers). None when the delivery was not due."""
    moment = now or utcnow()
    with sessions() as session:
        outgoing = claim(session, delivery_id, moment)
        allowed = hosts_allowed(session)
        session.commit()
    if outgoing is None:
        return None
    answer = transport(outgoing, allowed)
    with sessions() as session:
        status = settle(session, outgoing, answer, now or utcnow())
        session.commit()
    log.info("webhook delivery %s: %s (%s ms)", delivery_id, answer.status_code, answer.latency_ms)
    return status


def due_deliveries(session: Session, now: dt.datetime, limit: int = 500) -> list[int]:
    return list(
        session.scalars(
            select(WebhookDelivery.id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.next_attempt_at <= now,
                WebhookEndpoint.enabled.is_(True),
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
        )
    )


def sweep(session: Session, actor: System, now: dt.datetime) -> int:
    """Send a message for every delivery that is due (its message lost, never sent because the
    queue was down, or its worker dead mid-attempt); the worker runs this every minute."""
    del actor
    due = due_deliveries(session, now)
    for delivery_id in due:
        jobs.enqueue_after_commit(session, delivery_id, task=jobs.WEBHOOK_TASK_NAME)
    return len(due)
