"""The audit trail through the API: search with the page's filters (keyset-paged, each search
recorded), streamed exports (`audit:export` recorded and committed before the first byte) and
the chain head."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.typing import ResponseReturnValue

from governance.api import schema as s
from governance.api.operations import Answer, Param, operation
from governance.api.responses import iso
from governance.audit import export as audit_export
from governance.audit import search as audit_search
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.audit.queries import parse_filter
from governance.identity.api_auth import caller
from governance.kernel.extensions import database, db_session

TAG = "Audit trail"
NULLABLE_INT = {"type": ["integer", "null"]}
NULLABLE_TEXT = {"type": ["string", "null"]}
HEAD = s.shape(
    {
        "seq": s.integer(0, description="The last event's sequence number."),
        "sha256": s.string_out("The last event's chained hash."),
    }
)
EVENT = s.shape(
    {
        "seq": s.integer(1),
        "occurred_at": s.time_out(),
        "event_type": s.enum(AuditType),
        "outcome": s.enum(Outcome),
        "actor_id": NULLABLE_INT,
        "actor_email": NULLABLE_TEXT,
        "agreement_id": NULLABLE_INT,
        "agreement_version": NULLABLE_INT,
        "dataset_id": NULLABLE_INT,
        "target_type": NULLABLE_TEXT,
        "target_id": NULLABLE_TEXT,
        "rule": NULLABLE_TEXT,
        "clause": NULLABLE_TEXT,
        "detail": {"type": "object"},
        "prev_hash": s.string_out(),
        "hash": s.string_out(),
    }
)
SEARCH = s.shape(
    {
        "items": {"type": "array", "items": s.ref("AuditEvent"), "description": "Newest first."},
        "next": {
            **NULLABLE_INT,
            "description": "Pass as `before` for the next (older) page; null on the last page.",
        },
        "matched": s.integer(
            0, description=f"Events matching the filters, counted up to {audit_search.COUNT_CAP:,}."
        ),
        "head": s.ref("AuditHead"),
    }
)
SCHEMAS = {"AuditEvent": EVENT, "AuditSearch": SEARCH, "AuditHead": HEAD}
FILTERS = (
    Param("since", s.text(40), "ISO date or date-time (UTC), inclusive."),
    Param("until", s.text(40), "ISO date or date-time (UTC), exclusive."),
    Param("user", s.text(320), "The actor's e-mail."),
    Param("agreement_id", s.integer(1, 999_999_999)),
    Param("dataset_id", s.integer(1, 999_999_999)),
    Param("event_type", s.enum(AuditType)),
    Param("outcome", s.enum(Outcome)),
)


def event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "occurred_at": iso(event.occurred_at),
        "event_type": str(event.event_type),
        "outcome": str(event.outcome),
        "actor_id": event.actor_id,
        "actor_email": event.actor_email,
        "agreement_id": event.agreement_id,
        "agreement_version": event.agreement_version,
        "dataset_id": event.dataset_id,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "rule": event.rule,
        "clause": event.clause,
        "detail": event.detail,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


@operation(
    "GET",
    "/audit/events",
    tag=TAG,
    summary="Search the audit trail",
    query=(
        *FILTERS,
        Param(
            "before",
            s.integer(1, 999_999_999_999_999_999),
            "Only events older than this one (the `next` of the previous page).",
        ),
        Param("per_page", s.integer(1, 200)),
    ),
    errors=(403,),
    answer=Answer(200, "One page of events, newest first.", s.ref("AuditSearch")),
)
def search_events(query: dict[str, Any]) -> ResponseReturnValue:
    """Needs `audit:read`. Each search is itself recorded (`audit:search`, with its filters)."""
    db = db_session()
    page = audit_search.search(
        db,
        parse_filter(request.args),
        before=query.get("before"),
        by=caller(),
        per_page=query.get("per_page", audit_search.PER_PAGE),
    )
    db.commit()
    head_seq, head_hash = page.head
    return {
        "items": [event_json(e) for e in page.events],
        "next": page.next_before,
        "matched": page.matched,
        "head": {"seq": head_seq, "sha256": head_hash},
    }


@operation(
    "GET",
    "/audit/export",
    tag=TAG,
    summary="Export the audit trail (streamed)",
    query=(*FILTERS, Param("format", s.enum(audit_export.STREAMED_FORMATS), required=True)),
    errors=(403,),
    answer=Answer(
        200,
        "CSV (comment lines carry the chain head) or JSON Lines (the "
        "first line carries it), oldest first.",
        None,
        media_types=("text/csv", "application/x-ndjson"),
    ),
)
def export_events(query: dict[str, Any]) -> ResponseReturnValue:
    """Needs `audit:export`. The export is recorded, with its filters and the head it starts
    from, and committed before the first byte is sent."""
    fmt = query["format"]
    flt = parse_filter(request.args)
    db = db_session()
    audit_export.record_export(db, flt, fmt=fmt, by=caller())
    db.commit()
    body = audit_export.iter_export(database().read_engine(), flt, fmt)
    return Response(
        body,
        mimetype=audit_export.MEDIA_TYPES[fmt].split(";")[0],
        headers={
            "Content-Disposition": "attachment; "
            f'filename="{audit_export.export_filename(fmt, flt)}"'
        },
    )


@operation(
    "GET",
    "/audit/head",
    tag=TAG,
    summary="The audit chain head",
    errors=(403,),
    answer=Answer(200, "The last event's position and hash.", s.ref("AuditHead")),
)
def chain_head() -> ResponseReturnValue:
    """Needs `audit:read`. Keep it outside the system: `governance audit verify --expect-head
    SEQ:SHA256` later proves nothing up to it changed."""
    seq, digest = audit_search.readable_head(db_session(), by=caller())
    return {"seq": seq, "sha256": digest}
