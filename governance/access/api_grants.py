"""Grants through the API: the ones you can see, one grant with its use and reviews, and the
steward's revocation and periodic review (the services of the grant pages)."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue

from governance.access import grants as service
from governance.access import queries, visibility
from governance.access.models import Grant, GrantStatus
from governance.access.review import check_review, grants_due_for_review, review_grant
from governance.api import schema as s
from governance.api.operations import Answer, Param, operation
from governance.api.responses import iso, page_schema, paged
from governance.identity.api_auth import caller
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.web.paging import paginate

TAG = "Grants"
NULLABLE_ID = {"type": ["integer", "null"]}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
STRINGS = {"type": "array", "items": s.string_out()}
SUMMARY_FIELDS: dict[str, s.Schema] = {
    "id": s.identifier(),
    "user_id": s.identifier("Who holds it."),
    "agreement_id": s.identifier(),
    "agreement_version": s.integer(1),
    "dataset_id": s.identifier(),
    "columns": STRINGS,
    "forms": {
        "type": "object",
        "additionalProperties": s.enum(("coarsened", "pseudonymised")),
        "description": "Columns granted in another form than stored; the data door produces "
        "that form at every read.",
    },
    "purpose": s.string_out(),
    "valid_from": s.time_out(),
    "valid_until": s.time_out("The grant's own end."),
    "effective_until": {
        "type": ["string", "null"],
        "format": "date-time",
        "description": "It stops working at this moment: the earliest of its "
        "own end, the agreement's end and the ends of the "
        "conditions it depends on (the holder's training...).",
    },
    "effective_clause": s.string_out(
        "The clause that sets effective_until, e.g. access.valid_until or personnel.training."
    ),
    "allow_download": s.boolean(),
    "status": s.enum(GrantStatus),
    "granted_by_id": NULLABLE_ID,
    "created_at": s.time_out(),
    "ended_at": NULLABLE_TIME,
    "ended_by_id": NULLABLE_ID,
    "end_reason": s.string_out(),
    "last_reviewed_at": NULLABLE_TIME,
}
DETAIL = s.shape(
    {
        **SUMMARY_FIELDS,
        "actions": {"type": "array", "items": s.enum(("revoke", "review"))},
        "usable": s.boolean(
            "Whether it lets its holder read now, as every decision sees it: an `active` grant "
            "whose condition lapsed (the holder's training...) stops at once, before the "
            "conditions job pauses it."
        ),
        "stopped_because": {
            "type": ["string", "null"],
            "description": "Why it lets nothing be read now; null while it is usable.",
        },
        "usage": {
            "oneOf": [
                {"type": "null"},
                s.shape({"used": STRINGS, "unused": STRINGS, "last_read_at": NULLABLE_TIME}),
            ],
            "description": "Columns read in the last 90 days (for the holder and the stewards).",
        },
        "reviews": {
            "type": "array",
            "items": s.shape(
                {
                    "reviewer_id": s.identifier(),
                    "reviewed_at": s.time_out(),
                    "decision": s.enum(("confirmed", "narrowed")),
                    "kept": STRINGS,
                    "removed": STRINGS,
                    "unused": STRINGS,
                    "comment": s.string_out(),
                }
            ),
        },
    }
)
SCHEMAS = {
    "GrantSummary": s.shape(SUMMARY_FIELDS),
    "Grant": DETAIL,
    "GrantPage": page_schema(s.ref("GrantSummary")),
}
ANSWER = Answer(200, "The grant after the action.", s.ref("Grant"))


def summary(grant: Grant) -> dict[str, Any]:
    return {
        "id": grant.id,
        "user_id": grant.user_id,
        "agreement_id": grant.agreement_id,
        "agreement_version": grant.agreement_version,
        "dataset_id": grant.dataset_id,
        "columns": grant.column_names,
        "forms": {name: str(form) for name, form in grant.forms.items()},
        "purpose": grant.purpose,
        "valid_from": iso(grant.valid_from),
        "valid_until": iso(grant.valid_until),
        "effective_until": iso(grant.effective_until),
        "effective_clause": grant.effective_clause,
        "allow_download": grant.allow_download,
        "status": str(grant.status),
        "granted_by_id": grant.granted_by_id,
        "created_at": iso(grant.created_at),
        "ended_at": iso(grant.ended_at),
        "ended_by_id": grant.ended_by_id,
        "end_reason": grant.end_reason,
        "last_reviewed_at": iso(grant.last_reviewed_at),
    }


def _split(text: str) -> list[str]:
    return [name for name in text.split(",") if name]


def detail(grant: Grant) -> dict[str, Any]:
    """What the grant page shows the caller: usage only to its holder and its managers."""
    view = queries.grant_view(db_session(), grant, caller(), now=utcnow())
    usage, reviews = view.usage, view.reviews
    return {
        **summary(grant),
        "actions": [
            name for name, can in (("revoke", view.can_revoke), ("review", view.can_review)) if can
        ],
        "usable": view.stopped is None,
        "stopped_because": view.stopped,
        "usage": None
        if usage is None
        else {"used": usage.used, "unused": usage.unused, "last_read_at": iso(usage.last_read_at)},
        "reviews": [
            {
                "reviewer_id": r.reviewer_id,
                "reviewed_at": iso(r.reviewed_at),
                "decision": r.decision,
                "kept": _split(r.kept_columns),
                "removed": _split(r.removed_columns),
                "unused": _split(r.unused_columns),
                "comment": r.comment,
            }
            for r in reviews
        ],
    }


@operation(
    "GET",
    "/grants",
    tag=TAG,
    summary="List the grants you can see",
    query=(
        Param("status", s.enum((*GrantStatus, "all")), "Default: active."),
        Param("review", s.enum(("overdue",)), "Only grants nobody has reviewed in 90 days."),
        Param("page", s.integer(1, 1_000_000)),
        Param("per_page", s.integer(1, 200)),
        Param("sort", s.enum(("created", "until", "id"))),
        Param("dir", s.enum(("asc", "desc"))),
    ),
    answer=Answer(200, "One page of grants.", s.ref("GrantPage")),
)
def list_grants(query: dict[str, Any]) -> ResponseReturnValue:
    """Your own grants; a steward also those on their datasets; privacy officers and
    compliance managers all."""
    db = db_session()
    statement = visibility.grants_visible_to(caller())
    status = query.get("status", "active")
    if status != "all":
        statement = statement.where(Grant.status == status)
    if query.get("review") == "overdue":
        overdue = {g.id for g in grants_due_for_review(db, now=utcnow())}
        statement = statement.where(Grant.id.in_(overdue or {-1}))
    page = paginate(
        db,
        statement,
        default_sort="created",
        sorts={"created": Grant.created_at, "until": Grant.valid_until, "id": Grant.id},
    )
    return paged(page, summary)


@operation(
    "GET",
    "/grants/<int:grant_id>",
    tag=TAG,
    summary="One grant",
    answer=Answer(200, "The grant.", s.ref("Grant")),
)
def get_grant(grant_id: int) -> ResponseReturnValue:
    """404 if it does not exist or you cannot see it (the same answer; the look-up is
    recorded as denied either way)."""
    return detail(visibility.visible_grant(db_session(), grant_id, caller()))


def _may_revoke(grant_id: int) -> None:
    """404, 403 or 409 before the body is read (`before`)."""
    service.check_revoke(db_session(), grant_id, caller())


def _may_review(grant_id: int) -> None:
    check_review(db_session(), grant_id, caller())


@operation(
    "POST",
    "/grants/<int:grant_id>/revoke",
    tag=TAG,
    summary="Revoke a grant",
    body=s.obj({"reason": s.text(4000, min_length=1)}, required=("reason",)),
    errors=(403, 409),
    answer=ANSWER,
    before=_may_revoke,
)
def revoke_grant(grant_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """By a steward of the dataset or a privacy officer; it stops working at once."""
    db = db_session()
    grant = service.revoke_grant(
        db, grant_id=grant_id, reason=body["reason"], by=caller(), now=utcnow()
    )
    db.commit()
    return detail(grant)


@operation(
    "POST",
    "/grants/<int:grant_id>/review",
    tag=TAG,
    summary="Confirm or narrow a grant in the periodic access review",
    body=s.obj(
        {
            "keep": s.array(
                s.text(120, min_length=1), max_items=1000, description="The columns still needed."
            ),
            "comment": s.text(4000),
        },
        required=("keep",),
    ),
    errors=(403, 409),
    answer=ANSWER,
    before=_may_review,
)
def grant_review(grant_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """By a steward of the dataset who does not hold the grant; keeping no column ends it."""
    db = db_session()
    review_grant(
        db,
        grant_id=grant_id,
        keep=body["keep"],
        comment=body.get("comment", ""),
        by=caller(),
        now=utcnow(),
    )
    db.commit()
    return detail(service.get_grant(db, grant_id))
