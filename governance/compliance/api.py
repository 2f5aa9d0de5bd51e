"""The annual audit through the API: an audit period's certification progress (for the
compliance manager) and the steward's certification items and decisions (the services of the
pages)."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue

from governance.api import schema as s
from governance.api.operations import Answer, operation
from governance.api.responses import iso
from governance.compliance import certification, periods
from governance.compliance.models import CertificationItem, ItemStatus, PeriodStatus
from governance.identity.api_auth import caller
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow

TAG = "Annual audit"
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
NULLABLE_ID = {"type": ["integer", "null"]}
STRINGS = {"type": "array", "items": s.string_out()}
ITEM = s.shape(
    {
        "id": s.identifier(),
        "period_id": s.identifier(),
        "grant_id": s.identifier(),
        "dataset_id": s.identifier(),
        "agreement_id": s.identifier(),
        "holder_id": s.identifier("Who holds the grant."),
        "columns_at_start": STRINGS,
        "status": s.enum(ItemStatus),
        "overdue": s.boolean("Undecided after the deadline."),
        "decided_by_id": NULLABLE_ID,
        "decided_at": NULLABLE_TIME,
        "removed_columns": STRINGS,
    }
)
PERIOD = s.shape(
    {
        "id": s.identifier(),
        "name": s.string_out(),
        "starts_on": s.string_out("The first day."),
        "ends_on": s.string_out("The last day."),
        "owner_id": s.identifier("The compliance manager who owns it."),
        "status": s.enum(PeriodStatus),
        "certify_by": NULLABLE_TIME,
        "progress": s.shape(
            {
                "total": s.integer(0),
                "decided": s.integer(0),
                "overdue": s.integer(0),
                "counts": {"type": "object", "description": "Items by status."},
            }
        ),
        "items": {"type": "array", "items": s.ref("CertificationItem")},
    }
)
SCHEMAS = {"CertificationItem": ITEM, "AuditPeriod": PERIOD}


def _columns(text: str) -> list[str]:
    return [c for c in text.split(",") if c]


def item_json(item: CertificationItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "period_id": item.period_id,
        "grant_id": item.grant_id,
        "dataset_id": item.dataset_id,
        "agreement_id": item.agreement_id,
        "holder_id": item.holder_id,
        "columns_at_start": _columns(item.columns_at_start),
        "status": str(item.status),
        "overdue": item.overdue(utcnow()),
        "decided_by_id": item.decided_by_id,
        "decided_at": iso(item.decided_at) if item.decided_at else None,
        "removed_columns": _columns(item.removed_columns),
    }


@operation(
    "GET",
    "/compliance/periods/<int:period_id>",
    tag=TAG,
    summary="An audit period and its certification campaign's progress",
    errors=(403,),
    answer=Answer(200, "The period, its progress and every item.", s.ref("AuditPeriod")),
)
def audit_period(period_id: int) -> ResponseReturnValue:
    """Needs `compliance:manage`."""
    found = periods.view_period(db_session(), period_id=period_id, by=caller())
    done = periods.progress(found, now=utcnow())
    return {
        "id": found.id,
        "name": found.name,
        "starts_on": found.starts_on.isoformat(),
        "ends_on": found.ends_on.isoformat(),
        "owner_id": found.owner_id,
        "status": str(found.status),
        "certify_by": iso(found.certify_by) if found.certify_by else None,
        "progress": {
            "total": done.total,
            "decided": done.decided,
            "overdue": done.overdue,
            "counts": done.counts,
        },
        "items": [item_json(item) for item in found.items],
    }


@operation(
    "GET",
    "/compliance/certifications",
    tag=TAG,
    summary="The grants you are to certify",
    errors=(403,),
    answer=Answer(
        200,
        "Items of certifying periods on the datasets you steward.",
        {"type": "array", "items": s.ref("CertificationItem")},
    ),
)
def my_certifications() -> ResponseReturnValue:
    """Needs `grant:review`; a grant you hold yourself is listed but certified by another
    steward."""
    return [item_json(e.item) for e in certification.steward_items(db_session(), by=caller())]


@operation(
    "POST",
    "/compliance/certifications/<int:item_id>",
    tag=TAG,
    summary="Confirm, narrow or revoke a grant in the certification campaign",
    body=s.obj(
        {
            "decision": s.enum(certification.Decision),
            "keep": s.array(
                s.text(120, min_length=1),
                max_items=1000,
                description="When narrowing: the columns still needed.",
            ),
            "comment": s.text(4000, description="Required to revoke."),
        },
        required=("decision",),
    ),
    errors=(403, 409),
    answer=Answer(200, "The decided item.", s.ref("CertificationItem")),
)
def certify_item(item_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """By a steward of the dataset who does not hold the grant, while the period certifies."""
    db = db_session()
    item = certification.certify(
        db,
        item_id=item_id,
        decision=body["decision"],
        keep=body.get("keep", []),
        comment=body.get("comment", ""),
        by=caller(),
        now=utcnow(),
    )
    db.commit()
    return item_json(item)
