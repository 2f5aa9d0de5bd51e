"""What the webhook pages and the API read: endpoints, and each endpoint's delivery log."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


@dataclass(frozen=True)
class LoggedDelivery:
    delivery: WebhookDelivery
    attempts: list[WebhookAttempt]

    @property
    def last(self) -> WebhookAttempt | None:
        return self.attempts[-1] if self.attempts else None


def logged(session: Session, delivery: WebhookDelivery) -> LoggedDelivery:
    attempts = session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery.id)
        .order_by(WebhookAttempt.id)
    )
    return LoggedDelivery(delivery, list(attempts))


def endpoints(session: Session) -> list[WebhookEndpoint]:
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def delivery_log(session: Session, endpoint_id: int, *, limit: int = 50) -> list[LoggedDelivery]:
    """The endpoint's newest deliveries, each with its attempts in order."""
    deliveries = list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )
    attempts: dict[int, list[WebhookAttempt]] = {d.id: [] for d in deliveries}
    if deliveries:
        for attempt in session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(attempts))
            .order_by(WebhookAttempt.id)
        ):
            attempts[attempt.delivery_id].append(attempt)
    return [LoggedDelivery(d, attempts[d.id]) for d in deliveries]
