"""The outbox: an audit record that reports a lifecycle event writes one delivery row per
subscribed endpoint, in the same transaction (installed as an audit listener by the registry).

Rows committed with the change are sent once it commits (a queue message after commit, and the
minute's sweep for any message lost); a change that rolls back takes its rows with it, so no
event is ever sent for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from cloudevents.core.bindings.http import to_structured_event
from cloudevents.core.v1.event import CloudEvent
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from governance.audit.models import Outcome
from governance.kernel import jobs
from governance.webhooks.events import CHECKPOINT_SIGNED, EventKind, data_of, kind_of
from governance.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

_SUBSCRIBERS = select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
    WebhookEndpoint.enabled.is_(True)
)
_INSERT = insert(WebhookDelivery).returning(WebhookDelivery.id)


def base_url(session: Session) -> str:
    settings = session.info.get("settings")
    return str(settings["BASE_URL"]) if isinstance(settings, dict) else "http://localhost"


def message(kind: EventKind, event: Mapping[str, Any], base: str) -> tuple[str, str]:
    """(CloudEvent id, structured-mode JSON body) for one event."""
    data = data_of(kind, event, base)
    attributes: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "source": base.rstrip("/") + "/",
        "type": kind.type,
        "time": event["occurred_at"],
        "datacontenttype": "application/json",
    }
    if data["subject_id"] is not None:
        attributes["subject"] = f"{kind.subject}/{data['subject_id']}"
    body = to_structured_event(CloudEvent(attributes, data)).body
    return attributes["id"], body.decode()


def on_audit_record(session: Session, event: Mapping[str, Any], checkpointed: bool) -> None:
    """Write the delivery rows of the lifecycle events this audit record reports."""
    reported: list[tuple[EventKind, Mapping[str, Any]]] = []
    if event["outcome"] == Outcome.SUCCESS:
        kind = kind_of(event)
        if kind is not None:
            reported.append((kind, event))
    if checkpointed:
        checkpoint = {"seq": event["seq"], "occurred_at": event["occurred_at"]}
        reported.append((CHECKPOINT_SIGNED, {**checkpoint, "target_id": event["seq"]}))
    if not reported:
        return
    connection = session.connection()
    subscribers = connection.execute(_SUBSCRIBERS).all()
    for kind, source in reported:
        endpoint_ids = [row.id for row in subscribers if kind.type in row.event_types]
        if not endpoint_ids:
            continue
        event_id, body = message(kind, source, base_url(session))
        for endpoint_id in endpoint_ids:
            delivery_id = connection.execute(
                _INSERT,
                {
                    "endpoint_id": endpoint_id,
                    "event_id": event_id,
                    "event_type": kind.type,
                    "body": body,
                    "status": DeliveryStatus.PENDING,
                    "attempts": 0,
                    "created_at": event["occurred_at"],
                    "next_attempt_at": event["occurred_at"],
                },
            ).scalar_one()
            jobs.enqueue_after_commit(session, delivery_id, task=jobs.WEBHOOK_TASK_NAME)
