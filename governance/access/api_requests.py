"""Access requests through the API: asking for columns, and the steward's and privacy
officer's decisions. The same services as the pages decide who may do what (403, recorded),
what the state allows (409) and what is valid (422)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.typing import ResponseReturnValue

from governance import authz
from governance.access import data_use, nudges, queries, request_checks, visibility
from governance.access import requests as service
from governance.access.models import AccessRequest, RequestStatus
from governance.access.workflow import Action, allowed_actions
from governance.agreements.analysis_kind_model import AnalysisKind
from governance.api import schema as s
from governance.api.operations import Answer, Param, operation
from governance.api.responses import day, iso, page_schema, paged
from governance.authz import Permission, rules
from governance.datasets.api import DUO_TERM_FIELDS
from governance.datasets.duo.statements import DECLARED_FLAGS
from governance.identity.api_auth import caller
from governance.identity.models import User
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.web.paging import paginate

TAG = "Access requests"
ACTION_NAMES = {
    Action.APPROVE: "approve",
    Action.APPROVE_IDENTIFIERS: "approve-identifiers",
    Action.DENY: "deny",
    Action.RETURN: "return",
    Action.RESUBMIT: "resubmit",
    Action.WITHDRAW: "withdraw",
}
NULLABLE_ID = {"type": ["integer", "null"]}
NULLABLE_TEXT = {"type": ["string", "null"]}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
DUO_TERM = s.shape(DUO_TERM_FIELDS)
DATA_USE = s.nullable(
    s.shape(
        {
            "version": s.string_out("The DUO release the terms come from."),
            "purpose": DUO_TERM,
            "disease": s.string_out("The MONDO id of disease-specific research."),
            "research": {"type": "array", "items": DUO_TERM},
            "ethics_approval": s.string_out(),
            "region": s.string_out(),
            **{name: s.boolean() for name in DECLARED_FLAGS},
        },
        description="The research purpose as GA4GH DUO terms (null: none stated).",
    )
)
DATA_USE_MATCH = s.nullable(
    s.shape(
        {
            "matches": s.boolean("The purpose fits every term of the dataset's conditions."),
            "outcomes": {
                "type": "array",
                "items": s.shape(
                    {
                        "term": s.string_out(),
                        "label": s.string_out(),
                        "ok": s.boolean(),
                        "reason": s.string_out(),
                    }
                ),
            },
        },
        description="The purpose against the dataset's data-use conditions as they are now.",
    )
)
REQUEST = s.shape(
    {
        "data_use": DATA_USE,
        "data_use_match": DATA_USE_MATCH,
        "id": s.identifier(),
        "status": s.enum(RequestStatus),
        "requester_id": s.identifier(),
        "agreement_id": s.identifier(),
        "dataset_id": s.identifier(),
        "purpose": s.string_out("One of the agreement's permitted uses."),
        "justification": s.string_out(),
        "end_date": s.date(),
        "download_requested": s.boolean(),
        "columns": {
            "type": "array",
            "items": s.shape(
                {
                    "name": s.string_out(),
                    "approved": {
                        "type": ["boolean", "null"],
                        "description": "null until a steward decides.",
                    },
                    "form": {
                        **NULLABLE_TEXT,
                        "description": "The form an approved column is granted in: "
                        "coarsened, pseudonymised, or null (as stored).",
                    },
                }
            ),
        },
        "created_at": s.time_out(),
        "submitted_at": NULLABLE_TIME,
        "steward_id": NULLABLE_ID,
        "steward_decided_at": NULLABLE_TIME,
        "steward_comment": s.string_out(),
        "privacy_officer_id": NULLABLE_ID,
        "privacy_decided_at": NULLABLE_TIME,
        "privacy_comment": s.string_out(),
        "grant_id": NULLABLE_ID,
        "committee_id": NULLABLE_ID,
        "standing": {
            **NULLABLE_TEXT,
            "description": "Where the request stands before its committee (votes cast of "
            "voters, the rule, the deadline); never who voted what.",
        },
        "waiting_on": {
            "oneOf": [
                {"type": "null"},
                s.shape(
                    {
                        "role": s.string_out(
                            "The role of the people the step waits on (Committee when a "
                            "committee decides)."
                        ),
                        "people": {
                            "type": "array",
                            "items": s.shape({"id": s.identifier(), "name": s.string_out()}),
                            "description": "The people it waits on; empty for a committee, "
                            "whose members are never listed.",
                        },
                        "committee": {
                            "oneOf": [
                                {"type": "null"},
                                s.shape(
                                    {
                                        "id": s.identifier(),
                                        "name": s.string_out(),
                                        "votes_cast": s.integer(0, 2**31),
                                        "voters": s.integer(0, 2**31),
                                        "rule": s.string_out(),
                                        "deadline": s.time_out(),
                                    }
                                ),
                            ],
                            "description": "The committee that decides, with counts of "
                            "votes (never who voted what).",
                        },
                        "since": s.time_out(),
                        "period_days": s.integer(0, 2**31),
                        "next_nudge": NULLABLE_TIME,
                    }
                ),
            ],
            "description": "Who the request waits on now and when the requester may nudge "
            "them (null once it waits on nobody).",
        },
        "actions": {
            "type": "array",
            "items": s.enum(ACTION_NAMES.values()),
            "description": "What the caller may do now.",
        },
        "privacy_officer_because": {
            "type": "array",
            "items": s.string_out(),
            "description": "Why the request waits for a privacy officer (the direct "
            "identifiers; the figure above the agreement's threshold, with both named); "
            "empty unless it does.",
        },
        "risk_figures": {
            "oneOf": [{"type": "null"}, {"type": "object"}],
            "description": "The re-identification figures (counts and shares, never a row "
            "value): `requested` with each drop/coarsen alternative, `granted` for the "
            "approved columns in their granted form, the dataset `version` counted. Only "
            "for those who decide (the dataset's steward, a privacy officer who may give the "
            "second approval, a member of the deciding committee); null otherwise.",
        },
    }
)
# What a requester fills in, at first and when a returned request is sent again.
CHANGEABLE = {
    "columns": s.array(s.text(120, min_length=1), min_items=1, max_items=1000),
    "purpose": s.enum(AnalysisKind, description="One of the agreement's permitted uses."),
    "justification": s.text(4000, min_length=1, description="Why each column is necessary."),
    "end_date": s.date("Access needed until (inclusive)."),
    "download": s.boolean("Also download row-level data (only if the agreement allows it)."),
    "data_use": s.obj(
        {
            "term": s.text(40, min_length=1, description="A DUO data use permission id."),
            "disease": s.text(40, description="A MONDO id, for disease-specific research."),
            "research": s.array(s.text(40), max_items=20, description="DUO kinds of research."),
            "ethics_approval": s.text(500, description="The ethics approval's reference."),
            "region": s.text(500, description="Where the data will be used."),
            **{name: s.boolean() for name in DECLARED_FLAGS},
        },
        required=("term",),
        description="The research purpose as GA4GH DUO terms; required when the dataset "
        "states data-use conditions, refused (422, naming the term) when it cannot fit them.",
    ),
}
SCHEMAS = {"AccessRequest": REQUEST, "AccessRequestPage": page_schema(s.ref("AccessRequest"))}
ANSWER = Answer(200, "The request after the action.", s.ref("AccessRequest"))
ERRORS = (403, 409)


def _actions(item: AccessRequest, user: User) -> list[str]:
    """The buttons the request page shows this person (the services decide in the end)."""
    possible = set(allowed_actions(RequestStatus(item.status)))
    dataset, _ = queries.request_parts(db_session(), item)
    mine: set[Action] = set()
    if rules.own_request(user, item):
        mine |= {Action.WITHDRAW, Action.RESUBMIT}
    elif (
        rules.steward_of_dataset(user, dataset)
        and authz.can(user, Permission.ACCESS_REQUEST_REVIEW)
        and item.committee_id is None  # a committee decides it
    ):
        mine |= {Action.APPROVE, Action.DENY, Action.RETURN}
    if rules.second_approver(user, item) and authz.can(
        user, Permission.ACCESS_REQUEST_APPROVE_IDENTIFIERS
    ):
        mine.add(Action.APPROVE_IDENTIFIERS)
        if item.status == RequestStatus.AWAITING_PRIVACY_OFFICER:
            mine.add(Action.DENY)
    return [name for action, name in ACTION_NAMES.items() if action in possible & mine]


def _waiting(item: AccessRequest) -> dict[str, Any] | None:
    waiting = nudges.waiting_on(db_session(), item)
    if waiting is None:
        return None
    committee = waiting.committee
    return {
        "role": waiting.role,
        # A committee is named as a committee: its members are never listed to the reader.
        "people": [] if committee else [{"id": p.id, "name": p.name} for p in waiting.people],
        "committee": None
        if committee is None
        else {
            "id": committee.committee_id,
            "name": committee.name,
            "votes_cast": committee.votes_cast,
            "voters": committee.voters,
            "rule": committee.rule,
            "deadline": iso(committee.deadline),
        },
        "since": iso(waiting.since),
        "period_days": waiting.period_days,
        "next_nudge": iso(waiting.next_nudge),
    }


def render(item: AccessRequest) -> dict[str, Any]:
    outcome = data_use.request_match(db_session(), item)
    return {
        "data_use": data_use.described(item),
        "data_use_match": None
        if outcome is None
        else {"matches": outcome.matches, "outcomes": [o.as_dict() for o in outcome.outcomes]},
        "id": item.id,
        "status": str(item.status),
        "requester_id": item.requester_id,
        "agreement_id": item.agreement_id,
        "dataset_id": item.dataset_id,
        "purpose": item.purpose,
        "justification": item.justification,
        "end_date": day(item.end_date),
        "download_requested": item.download_requested,
        "columns": [
            {"name": c.column_name, "approved": c.approved, "form": c.form} for c in item.columns
        ],
        "created_at": iso(item.created_at),
        "submitted_at": iso(item.submitted_at),
        "steward_id": item.steward_id,
        "steward_decided_at": iso(item.steward_decided_at),
        "steward_comment": item.steward_comment,
        "privacy_officer_id": item.privacy_officer_id,
        "privacy_decided_at": iso(item.privacy_decided_at),
        "privacy_comment": item.privacy_comment,
        "grant_id": item.grant_id,
        "committee_id": item.committee_id,
        "standing": queries.request_standing(db_session(), item),
        "waiting_on": _waiting(item),
        "actions": _actions(item, caller()),
        "privacy_officer_because": service.privacy_officer_reasons(item),
        "risk_figures": item.risk_figures
        if queries.sees_risk_figures(db_session(), item, caller())
        else None,
    }


@operation(
    "GET",
    "/access-requests",
    tag=TAG,
    summary="List the requests you can see",
    query=(
        Param("status", s.enum(RequestStatus)),
        Param("page", s.integer(1, 1_000_000)),
        Param("per_page", s.integer(1, 200)),
        Param("sort", s.enum(("created", "status", "id"))),
        Param("dir", s.enum(("asc", "desc"))),
    ),
    answer=Answer(200, "One page of requests.", s.ref("AccessRequestPage")),
)
def list_requests(query: dict[str, Any]) -> ResponseReturnValue:
    """Your own requests; a steward also those on the datasets they steward; privacy officers
    and compliance managers all."""
    statement = visibility.requests_visible_to(caller())
    if "status" in query:
        statement = statement.where(AccessRequest.status == query["status"])
    page = paginate(
        db_session(),
        statement,
        default_sort="created",
        sorts={
            "created": AccessRequest.created_at,
            "status": AccessRequest.status,
            "id": AccessRequest.id,
        },
    )
    return paged(page, render)


@operation(
    "GET",
    "/access-requests/<int:request_id>",
    tag=TAG,
    summary="One request",
    answer=Answer(200, "The request.", s.ref("AccessRequest")),
)
def get_request(request_id: int) -> ResponseReturnValue:
    """404 if it does not exist or you cannot see it (the same answer; the look-up is
    recorded as denied either way)."""
    return render(visibility.visible_request(db_session(), request_id, caller()))


@operation(
    "POST",
    "/access-requests",
    tag=TAG,
    summary="Ask for columns of a dataset",
    body=s.obj(
        {
            "agreement_id": s.identifier("An active agreement naming you as personnel."),
            "dataset_id": s.identifier("A dataset the agreement covers."),
            **CHANGEABLE,
        },
        required=("agreement_id", "dataset_id", "columns", "purpose", "justification", "end_date"),
    ),
    errors=(*ERRORS, 404),
    answer=Answer(201, "The submitted request.", s.ref("AccessRequest")),
)
def create_request(body: dict[str, Any]) -> ResponseReturnValue:
    """Eligibility (personnel, training, covered columns, purpose, dates) is checked now and
    again at approval."""
    db = db_session()
    created = service.submit_request(
        db,
        agreement_id=body["agreement_id"],
        dataset_id=body["dataset_id"],
        columns=body["columns"],
        purpose=body["purpose"],
        justification=body["justification"],
        end_date=s.to_date(body["end_date"]),
        download=body.get("download", False),
        by=caller(),
        now=utcnow(),
        data_use=body.get("data_use"),
    )
    db.commit()
    return render(created), 201


def _may(step: str) -> Callable[[int], None]:
    """A step's refusals (404, 403, 409) before its body is read (`before`)."""

    def check(request_id: int) -> None:
        request_checks.check_step(db_session(), step, request_id, caller())

    return check


def _may_nudge(request_id: int) -> None:
    nudges.check_nudge(db_session(), request_id, caller(), utcnow())


def _act(request_id: int, call: Any) -> ResponseReturnValue:
    db = db_session()
    call(db, caller(), utcnow())
    db.commit()
    return render(request_checks.get_request(db, request_id))


@operation(
    "POST",
    "/access-requests/<int:request_id>/approve",
    tag=TAG,
    summary="Approve all or some of the requested columns (steward)",
    body=s.obj(
        {
            "columns": s.array(s.text(120, min_length=1), min_items=1, max_items=1000),
            "comment": s.text(4000),
            "forms": {
                "type": "object",
                "additionalProperties": s.enum(("coarsened", "pseudonymised")),
                "description": "Approved columns granted in another form than stored: "
                "{column: 'coarsened' | 'pseudonymised'}; the data door produces that form at "
                "every read.",
            },
        },
        required=("columns",),
    ),
    errors=(*ERRORS, 422),
    answer=ANSWER,
    before=_may("approve"),
)
def approve_request(request_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Direct identifiers, or granted figures above the agreement's threshold, then wait for
    a privacy officer; anything else becomes a grant."""
    return _act(
        request_id,
        lambda db, by, now: service.steward_approve(
            db,
            request_id=request_id,
            columns=body["columns"],
            comment=body.get("comment", ""),
            forms=body.get("forms"),
            by=by,
            now=now,
        ),
    )


@operation(
    "POST",
    "/access-requests/<int:request_id>/risk",
    tag=TAG,
    summary="Count the re-identification figures again (steward)",
    errors=(*ERRORS, 404),
    answer=ANSWER,
    before=_may("risk"),
)
def recompute_risk(request_id: int) -> ResponseReturnValue:
    """On the dataset's current version, for the request and what it grants; shows no row."""
    return _act(
        request_id,
        lambda db, by, now: service.recompute_risk(db, request_id=request_id, by=by, now=now),
    )


@operation(
    "POST",
    "/access-requests/<int:request_id>/approve-identifiers",
    tag=TAG,
    summary="Second approval of direct identifiers (privacy officer)",
    body=s.obj({"comment": s.text(4000)}),
    errors=ERRORS,
    answer=ANSWER,
    before=_may("approve-identifiers"),
)
def approve_identifiers(request_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """By a privacy officer who is neither the requester nor the steward."""
    return _act(
        request_id,
        lambda db, by, now: service.privacy_approve(
            db, request_id=request_id, comment=body.get("comment", ""), by=by, now=now
        ),
    )


@operation(
    "POST",
    "/access-requests/<int:request_id>/deny",
    tag=TAG,
    summary="Deny the request",
    body=s.obj({"reason": s.text(4000, min_length=1)}, required=("reason",)),
    errors=ERRORS,
    answer=ANSWER,
    before=_may("deny"),
)
def deny_request(request_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """The steward, or at the second approval a privacy officer."""
    return _act(
        request_id,
        lambda db, by, now: service.deny_request(
            db, request_id=request_id, reason=body["reason"], by=by, now=now
        ),
    )


@operation(
    "POST",
    "/access-requests/<int:request_id>/return",
    tag=TAG,
    summary="Return the request to the requester for changes",
    body=s.obj({"comment": s.text(4000, min_length=1)}, required=("comment",)),
    errors=ERRORS,
    answer=ANSWER,
    before=_may("return"),
)
def return_request(request_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """With a comment saying what to change."""
    return _act(
        request_id,
        lambda db, by, now: service.return_request(
            db, request_id=request_id, comment=body["comment"], by=by, now=now
        ),
    )


@operation(
    "POST",
    "/access-requests/<int:request_id>/resubmit",
    tag=TAG,
    summary="Send a returned request again, changed (requester)",
    body=s.obj(CHANGEABLE, required=("columns", "purpose", "justification", "end_date")),
    errors=(*ERRORS, 404),
    answer=ANSWER,
    before=_may("resubmit"),
)
def resubmit_request(request_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Only the requester, only once a steward returned it; eligibility is checked again."""
    return _act(
        request_id,
        lambda db, by, now: service.resubmit_request(
            db,
            request_id=request_id,
            columns=body["columns"],
            purpose=body["purpose"],
            justification=body["justification"],
            end_date=s.to_date(body["end_date"]),
            download=body.get("download", False),
            by=by,
            now=now,
            data_use=body.get("data_use"),
        ),
    )


@operation(
    "POST",
    "/access-requests/<int:request_id>/withdraw",
    tag=TAG,
    summary="Withdraw your own request",
    errors=ERRORS,
    answer=ANSWER,
    before=_may("withdraw"),
)
def withdraw_request(request_id: int) -> ResponseReturnValue:
    """Only the requester, before it is decided."""
    return _act(
        request_id,
        lambda db, by, now: service.withdraw_request(db, request_id=request_id, by=by, now=now),
    )


@operation(
    "POST",
    "/access-requests/<int:request_id>/nudge",
    tag=TAG,
    summary="Send the people your request waits on one polite reminder",
    description="Once per service-level period of the step it waits on (409 for a second); "
    "the reminder names the request's number, state and dates, never its purpose or columns.",
    errors=ERRORS,
    answer=ANSWER,
    before=_may_nudge,
)
def nudge_request(request_id: int) -> ResponseReturnValue:
    """Only the requester, while the request waits on someone."""
    return _act(
        request_id,
        lambda db, by, now: nudges.nudge(db, request_id=request_id, by=by, now=now),
    )
