"""The lifecycle events other systems can subscribe to: which audit event each one reports,
the CloudEvent it becomes, and the JSON schema of its data (published in the OpenAPI document's
`webhooks`).

One table maps audit types to CloudEvent types: every lifecycle change already records its
audit event in its own transaction, so reporting it from there means no change is reported that
rolled back and none is forgotten. The data carries ids, states, dates and links only: never a
dataset's rows, a comment, a reason or a person's name (a receiver follows the link, with its
own token, to read more under its own permissions).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from governance.audit.models import AuditType

SOURCE_PATH = "/api/v1"
PREFIX = "org.governance."


@dataclass(frozen=True)
class EventKind:
    type: str
    label: str
    subject: str  # what the event is about, as the audit trail names it
    state: str  # the state the subject is in once the change is made


def _kind(name: str, label: str, subject: str, state: str) -> EventKind:
    return EventKind(PREFIX + name, label, subject, state)


AGREEMENT_APPROVED = _kind("agreement.approved", "Agreement approved", "agreement", "approved")
AGREEMENT_AMENDED = _kind("agreement.amended", "Agreement amended", "agreement", "active")
CHECKPOINT_SIGNED = _kind(
    "audit.checkpoint_signed", "Audit chain checkpoint signed", "audit_trail", "signed"
)

# Audit type -> the event it becomes. An amendment takes effect when the provider countersigns
# it: the execution of version 2 or later is reported as the agreement amended, and its
# approval (which changes nothing in force) is not reported (`kind_of`).
BY_AUDIT_TYPE: Mapping[AuditType, EventKind] = {
    AuditType.AGREEMENT_APPROVE: AGREEMENT_APPROVED,
    AuditType.AGREEMENT_EXPIRE: _kind(
        "agreement.expired", "Agreement expired", "agreement", "expired"
    ),
    AuditType.AGREEMENT_TERMINATE: _kind(
        "agreement.terminated", "Agreement terminated", "agreement", "terminated"
    ),
    AuditType.ACCESS_REQUEST_SUBMIT: _kind(
        "request.submitted", "Access request submitted", "access_request", "submitted"
    ),
    AuditType.ACCESS_REQUEST_APPROVE: _kind(
        "request.decided", "Access request decided", "access_request", "approved"
    ),
    AuditType.ACCESS_REQUEST_APPROVE_IDENTIFIERS: _kind(
        "request.decided", "Access request decided", "access_request", "approved"
    ),
    AuditType.ACCESS_REQUEST_DENY: _kind(
        "request.decided", "Access request decided", "access_request", "denied"
    ),
    AuditType.GRANT_CREATE: _kind("grant.started", "Grant started", "grant", "active"),
    AuditType.GRANT_NARROW: _kind("grant.narrowed", "Grant narrowed", "grant", "active"),
    AuditType.GRANT_REVOKE: _kind("grant.revoked", "Grant revoked", "grant", "revoked"),
    AuditType.GRANT_EXPIRE: _kind("grant.expired", "Grant expired", "grant", "expired"),
    AuditType.OUTPUT_RELEASE: _kind("output.released", "Output released", "output", "released"),
    AuditType.OUTPUT_PUBLISH: _kind("output.published", "Output published", "output", "published"),
    AuditType.INCIDENT_REPORT: _kind("incident.opened", "Incident opened", "incident", "open"),
    AuditType.INCIDENT_FROM_ALERT: _kind("incident.opened", "Incident opened", "incident", "open"),
}

# Every event type once, in the order an administrator reads them.


def _first_of_each_type(kinds: list[EventKind]) -> tuple[EventKind, ...]:
    """A type reported by several audit types (a request decided) is listed once."""
    seen: dict[str, EventKind] = {}
    for kind in kinds:
        seen.setdefault(kind.type, kind)
    return tuple(seen.values())


KINDS = _first_of_each_type(
    [AGREEMENT_APPROVED, AGREEMENT_AMENDED, *BY_AUDIT_TYPE.values(), CHECKPOINT_SIGNED]
)
TYPES: tuple[str, ...] = tuple(kind.type for kind in KINDS)
LABELS: dict[str, str] = {kind.type: kind.label for kind in KINDS}

# Where a receiver reads the subject (with its own API token); the audit trail's checkpoint
# is verified with `governance audit verify`, not read through the API.
LINKS = {
    "agreement": "/api/v1/agreements/{id}",
    "access_request": "/api/v1/access-requests/{id}",
    "grant": "/api/v1/grants/{id}",
    "output": "/api/v1/outputs/{id}",
    "incident": "/incidents/{id}",
}


def kind_of(event: Mapping[str, Any]) -> EventKind | None:
    """The event an audit record reports, or None (most records report none)."""
    amendment = (event.get("agreement_version") or 1) > 1
    if event["event_type"] == AuditType.AGREEMENT_EXECUTE:
        return AGREEMENT_AMENDED if amendment else None
    kind = BY_AUDIT_TYPE.get(event["event_type"])
    if kind is AGREEMENT_APPROVED and amendment:
        return None
    return kind


def _time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def data_of(kind: EventKind, event: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """The CloudEvent's data: ids, state, time and a link; nothing of the record's detail."""
    subject_id = event.get("target_id")
    if kind.subject == "agreement" and subject_id is None:
        subject_id = event.get("agreement_id")
    data: dict[str, Any] = {
        "subject_type": kind.subject,
        "subject_id": None if subject_id is None else str(subject_id),
        "state": kind.state,
        "occurred_at": _time(event["occurred_at"]),
        "agreement_id": event.get("agreement_id"),
        "agreement_version": event.get("agreement_version"),
        "dataset_id": event.get("dataset_id"),
        "audit_seq": event["seq"],
        "link": None,
    }
    template = LINKS.get(kind.subject)
    if template and subject_id is not None:
        data["link"] = base_url.rstrip("/") + template.format(id=subject_id)
    return data


NULLABLE_ID = {"type": ["integer", "null"], "minimum": 1}
DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "subject_type",
        "subject_id",
        "state",
        "occurred_at",
        "agreement_id",
        "agreement_version",
        "dataset_id",
        "audit_seq",
        "link",
    ],
    "properties": {
        "subject_type": {"type": "string", "description": "What the event is about."},
        "subject_id": {"type": ["string", "null"], "description": "Its id."},
        "state": {"type": "string", "description": "Its state once the change is made."},
        "occurred_at": {"type": "string", "format": "date-time"},
        "agreement_id": NULLABLE_ID,
        "agreement_version": NULLABLE_ID,
        "dataset_id": NULLABLE_ID,
        "audit_seq": {
            "type": "integer",
            "minimum": 1,
            "description": "The audit trail event that recorded the change.",
        },
        "link": {
            "type": ["string", "null"],
            "format": "uri",
            "description": "Where to read the subject, with your own API token.",
        },
    },
}


def envelope_schema(event_type: str) -> dict[str, Any]:
    """The structured-mode CloudEvents 1.0 JSON message of one event type."""
    return {
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "datacontenttype", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "description": "Also sent as the webhook-id header."},
            "source": {"type": "string", "format": "uri-reference"},
            "type": {"const": event_type},
            "subject": {"type": "string"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "data": DATA_SCHEMA,
        },
    }
