"""Webhook endpoints over the API (administrators): list, register (the secret answered once),
read an endpoint's delivery log, switch it on and off, send a message again."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue

from governance.api import schema as s
from governance.api.operations import Answer, operation
from governance.api.responses import iso
from governance.identity.api_auth import caller
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.webhooks import queries, service
from governance.webhooks.events import TYPES
from governance.webhooks.models import DeliveryStatus, WebhookEndpoint

TAG = "Webhooks"
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
ENDPOINT = s.shape(
    {
        "id": s.identifier(),
        "url": s.string_out(),
        "description": s.string_out(),
        "event_types": {"type": "array", "items": s.enum(TYPES)},
        "enabled": s.boolean(),
        "consecutive_failures": {"type": "integer", "minimum": 0},
        "disabled_at": NULLABLE_TIME,
        "disabled_reason": {"type": ["string", "null"]},
        "created_at": s.time_out(),
    }
)
CREATED = s.shape(
    {
        "endpoint": s.ref("WebhookEndpoint"),
        "secret": s.string_out("The signing secret (whsec_…): answered this once, never again."),
    }
)
ATTEMPT = s.shape(
    {
        "attempted_at": s.time_out(),
        "status_code": {"type": ["integer", "null"]},
        "latency_ms": {"type": "integer", "minimum": 0},
        "error": {"type": ["string", "null"]},
    }
)
DELIVERY = s.shape(
    {
        "id": s.identifier(),
        "event_id": s.string_out("The CloudEvent id, sent as webhook-id."),
        "event_type": s.enum(TYPES),
        "status": s.enum(DeliveryStatus),
        "created_at": s.time_out(),
        "next_attempt_at": NULLABLE_TIME,
        "delivered_at": NULLABLE_TIME,
        "attempts": {"type": "array", "items": ATTEMPT},
    }
)
NEW_ENDPOINT = s.obj(
    {
        "url": s.text(2000, min_length=1),
        "event_types": s.array(s.enum(TYPES), max_items=len(TYPES), min_items=1),
        "description": s.text(200),
        "secret": s.text(200, description="A whsec_ secret; omit it to have one made."),
    },
    required=("url", "event_types"),
)
SCHEMAS = {
    "WebhookEndpoint": ENDPOINT,
    "WebhookEndpointList": s.shape({"items": {"type": "array", "items": s.ref("WebhookEndpoint")}}),
    "WebhookEndpointCreated": CREATED,
    "WebhookDelivery": DELIVERY,
    "WebhookDeliveryList": s.shape({"items": {"type": "array", "items": s.ref("WebhookDelivery")}}),
}


def endpoint_json(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "enabled": endpoint.enabled,
        "consecutive_failures": endpoint.consecutive_failures,
        "disabled_at": iso(endpoint.disabled_at),
        "disabled_reason": endpoint.disabled_reason,
        "created_at": iso(endpoint.created_at),
    }


def delivery_json(item: queries.LoggedDelivery) -> dict[str, Any]:
    d = item.delivery
    return {
        "id": d.id,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "status": str(d.status),
        "created_at": iso(d.created_at),
        "next_attempt_at": iso(d.next_attempt_at),
        "delivered_at": iso(d.delivered_at),
        "attempts": [
            {
                "attempted_at": iso(a.attempted_at),
                "status_code": a.status_code,
                "latency_ms": a.latency_ms,
                "error": a.error,
            }
            for a in item.attempts
        ],
    }


@operation(
    "GET",
    "/webhooks",
    tag=TAG,
    summary="Registered webhook endpoints (administrator)",
    errors=(403,),
    answer=Answer(200, "Every endpoint, oldest first.", s.ref("WebhookEndpointList")),
)
def list_webhooks() -> ResponseReturnValue:
    """Secrets are never shown after registration."""
    db = db_session()
    service.require_manager(caller())
    return {"items": [endpoint_json(e) for e in queries.endpoints(db)]}


@operation(
    "POST",
    "/webhooks",
    tag=TAG,
    summary="Register a webhook endpoint (administrator)",
    body=NEW_ENDPOINT,
    errors=(403,),
    answer=Answer(201, "The endpoint and its signing secret.", s.ref("WebhookEndpointCreated")),
)
def create_webhook(body: dict[str, Any]) -> ResponseReturnValue:
    """HTTPS at a public address only (hosts in WEBHOOK_ALLOWED_HOSTS excepted); the event
    types are the ones published under `webhooks` in this description."""
    db = db_session()
    registered = service.register_endpoint(
        db,
        url=body["url"],
        event_types=body["event_types"],
        description=body.get("description", ""),
        secret=body.get("secret"),
        by=caller(),
        now=utcnow(),
    )
    db.commit()
    return {"endpoint": endpoint_json(registered.endpoint), "secret": registered.secret}, 201


@operation(
    "GET",
    "/webhooks/<int:endpoint_id>/deliveries",
    tag=TAG,
    summary="An endpoint's delivery log (administrator)",
    errors=(403,),
    answer=Answer(
        200, "The newest 50 messages, each with its attempts.", s.ref("WebhookDeliveryList")
    ),
)
def webhook_deliveries(endpoint_id: int) -> ResponseReturnValue:
    """Each attempt's status code, time taken and error; never the body sent or answered."""
    db = db_session()
    found = service.endpoint(db, endpoint_id, by=caller())
    return {"items": [delivery_json(item) for item in queries.delivery_log(db, found.id)]}


def _switch(endpoint_id: int, enabled: bool) -> ResponseReturnValue:
    db = db_session()
    found = service.set_enabled(
        db, endpoint_id=endpoint_id, enabled=enabled, by=caller(), now=utcnow()
    )
    db.commit()
    return endpoint_json(found)


@operation(
    "POST",
    "/webhooks/<int:endpoint_id>/enable",
    tag=TAG,
    summary="Enable a webhook endpoint (administrator)",
    errors=(403, 409),
    answer=Answer(200, "The endpoint; its waiting messages are sent.", s.ref("WebhookEndpoint")),
)
def enable_webhook(endpoint_id: int) -> ResponseReturnValue:
    """Its count of failures in a row starts again from zero."""
    return _switch(endpoint_id, True)


@operation(
    "POST",
    "/webhooks/<int:endpoint_id>/disable",
    tag=TAG,
    summary="Disable a webhook endpoint (administrator)",
    errors=(403, 409),
    answer=Answer(200, "The endpoint; its messages wait.", s.ref("WebhookEndpoint")),
)
def disable_webhook(endpoint_id: int) -> ResponseReturnValue:
    """Messages for it keep being queued, and are sent when it is enabled again."""
    return _switch(endpoint_id, False)


@operation(
    "POST",
    "/webhook-deliveries/<int:delivery_id>/redeliver",
    tag=TAG,
    summary="Send a webhook message again (administrator)",
    errors=(403, 409),
    answer=Answer(200, "The message, due now.", s.ref("WebhookDelivery")),
)
def redeliver_webhook(delivery_id: int) -> ResponseReturnValue:
    """With the same webhook-id: a receiver that has it already drops the copy."""
    db = db_session()
    delivery = service.redeliver(db, delivery_id=delivery_id, by=caller(), now=utcnow())
    db.commit()
    return delivery_json(queries.logged(db, delivery))
