"""Committees through the API: administration (create, members, rule, what each decides for)
and the members' cases (read one, vote, declare a conflict, the chair deciding alone after the
deadline). The same services as the pages."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue

from governance.api import schema as s
from governance.api.operations import Answer, operation
from governance.api.responses import iso
from governance.committees import cases, impact, queries, service
from governance.committees.models import (
    Committee,
    CommitteeCase,
    DecisionRule,
    MemberRole,
    SubjectType,
    Vote,
)
from governance.identity.api_auth import caller
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow

TAG = "Committees"
NULLABLE_INT = {"type": ["integer", "null"]}
COMMITTEE = s.shape(
    {
        "id": s.identifier(),
        "name": s.string_out(),
        "organization_id": s.identifier(),
        "rule": s.enum(DecisionRule),
        "quorum": NULLABLE_INT,
        "chair_casting_vote": s.boolean(),
        "decision_days": s.integer(1),
        "members": {
            "type": "array",
            "items": s.shape({"user_id": s.identifier(), "role": s.enum(MemberRole)}),
        },
    }
)
CASE = s.shape(
    {
        "id": s.identifier(),
        "committee_id": s.identifier(),
        "request_id": {
            "type": ["integer", "null"],
            "description": "The access request decided; null for an agreement approval.",
        },
        "agreement_id": {
            "type": ["integer", "null"],
            "description": "The agreement whose version's approval is decided; else null.",
        },
        "version_number": {"type": ["integer", "null"]},
        "deadline": {"type": "string", "format": "date-time"},
        "open": s.boolean(),
        "decision": {"type": ["string", "null"]},
        "decided_alone": s.boolean(),
        "rule": s.string_out("The decision rule in words."),
        "votes_cast": s.integer(0),
        "voters": s.integer(0, description="Members who may vote (not recused, not observers)."),
        "conditions": {"type": "object", "description": "The grant's terms from the approvals."},
    }
)
IMPACT = s.shape(
    {
        "agreement_id": s.identifier(),
        "version": s.integer(1),
        "digest": s.string_out("Send it back to approve exactly this impact."),
        "grants": {
            "type": "array",
            "items": s.shape(
                {
                    "grant_id": s.identifier(),
                    "holder_id": s.identifier(),
                    "ends": {"type": ["string", "null"]},
                    "removed_columns": {"type": "array", "items": s.string_out()},
                    "new_valid_until": {"type": ["string", "null"]},
                    "download_removed": s.boolean(),
                }
            ),
        },
        "must_accept": {"type": "array", "items": s.identifier()},
        "sections": {"type": "array", "items": {"type": "object"}},
    }
)
SCHEMAS = {"Committee": COMMITTEE, "CommitteeCase": CASE, "AmendmentImpact": IMPACT}
RULE_BODY = {
    "rule": s.enum(DecisionRule),
    "quorum": s.integer(1, 100, description="Members who must vote (quorum rule)."),
    "chair_casting_vote": s.boolean("The chair's vote decides a tie."),
    "decision_days": s.integer(1, 365, description="Days to the case deadline."),
}


def committee_json(committee: Committee) -> dict[str, Any]:
    return {
        "id": committee.id,
        "name": committee.name,
        "organization_id": committee.organization_id,
        "rule": str(committee.rule),
        "quorum": committee.quorum,
        "chair_casting_vote": committee.chair_casting_vote,
        "decision_days": committee.decision_days,
        "members": [{"user_id": m.user_id, "role": str(m.role)} for m in committee.members],
    }


def case_json(case: CommitteeCase) -> dict[str, Any]:
    committee, subject = cases.parts(db_session(), case)
    counted = cases.tally(committee, case, subject)
    return {
        "id": case.id,
        "committee_id": case.committee_id,
        "request_id": case.request_id,
        "agreement_id": case.agreement_id,
        "version_number": case.version_number,
        "deadline": iso(case.deadline),
        "open": cases.is_open(case, subject),
        "decision": case.decision,
        "decided_alone": case.decided_alone,
        "rule": queries.rule_words(committee),
        "votes_cast": counted.cast,
        "voters": counted.eligible,
        "conditions": case.conditions,
    }


@operation(
    "GET",
    "/committees",
    tag=TAG,
    summary="Every committee",
    errors=(403,),
    answer=Answer(200, "The committees.", {"type": "array", "items": s.ref("Committee")}),
)
def list_committees() -> ResponseReturnValue:
    """Needs `committee:manage`."""
    service.require_manage_view(caller())
    return [committee_json(c) for c in service.list_committees(db_session())]


@operation(
    "POST",
    "/committees",
    tag=TAG,
    summary="Create a committee",
    body=s.obj(
        {"name": s.text(200, min_length=1), "organization_id": s.identifier(), **RULE_BODY},
        required=("name", "organization_id", "rule"),
    ),
    errors=(403,),
    answer=Answer(201, "The new committee.", s.ref("Committee")),
)
def create_committee(body: dict[str, Any]) -> ResponseReturnValue:
    """Needs `committee:manage`."""
    db = db_session()
    committee = service.create_committee(
        db,
        name=body["name"],
        organization_id=body["organization_id"],
        rule=body["rule"],
        quorum=body.get("quorum"),
        chair_casting_vote=body.get("chair_casting_vote", True),
        decision_days=body.get("decision_days", 14),
        by=caller(),
        now=utcnow(),
    )
    db.commit()
    return committee_json(committee), 201


@operation(
    "POST",
    "/committees/<int:committee_id>/rule",
    tag=TAG,
    summary="Set a committee's decision rule",
    body=s.obj(RULE_BODY, required=("rule",)),
    errors=(403,),
    answer=Answer(200, "The committee.", s.ref("Committee")),
)
def set_rule(committee_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Needs `committee:manage`; open cases are tallied under the new rule from their next
    vote."""
    db = db_session()
    found = service.get_committee(db, committee_id)
    committee = service.set_rule(
        db,
        committee_id=committee_id,
        rule=body["rule"],
        quorum=body.get("quorum"),
        chair_casting_vote=body.get("chair_casting_vote", found.chair_casting_vote),
        decision_days=body.get("decision_days", found.decision_days),
        by=caller(),
        now=utcnow(),
    )
    db.commit()
    return committee_json(committee)


@operation(
    "POST",
    "/committees/<int:committee_id>/members",
    tag=TAG,
    summary="Add a member (chair, member or observer)",
    body=s.obj(
        {"user_id": s.identifier(), "role": s.enum(MemberRole)}, required=("user_id", "role")
    ),
    errors=(403, 409),
    answer=Answer(200, "The committee.", s.ref("Committee")),
)
def add_member(committee_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Needs `committee:manage`; a committee has one chair."""
    db = db_session()
    service.add_member(
        db,
        committee_id=committee_id,
        user_id=body["user_id"],
        role=body["role"],
        by=caller(),
        now=utcnow(),
    )
    db.commit()
    return committee_json(service.get_committee(db, committee_id))


@operation(
    "POST",
    "/committees/<int:committee_id>/members/<int:user_id>/remove",
    tag=TAG,
    summary="Remove a member",
    errors=(403,),
    answer=Answer(200, "The committee.", s.ref("Committee")),
)
def remove_member(committee_id: int, user_id: int) -> ResponseReturnValue:
    """Needs `committee:manage`."""
    db = db_session()
    service.remove_member(db, committee_id=committee_id, user_id=user_id, by=caller(), now=utcnow())
    db.commit()
    return committee_json(service.get_committee(db, committee_id))


@operation(
    "POST",
    "/committees/assignments",
    tag=TAG,
    summary="Name the committee deciding for an agreement, a dataset or an organisation",
    description="Precedence when several apply to a request: agreement, then dataset, then "
    "the dataset's provider organisation. A null committee removes the naming.",
    body=s.obj(
        {
            "committee_id": s.nullable(s.identifier()),
            "subject_type": s.enum(SubjectType),
            "subject_id": s.identifier(),
        },
        required=("committee_id", "subject_type", "subject_id"),
    ),
    errors=(403,),
    answer=Answer(200, "What is now named.", s.shape({"committee_id": NULLABLE_INT})),
)
def assign(body: dict[str, Any]) -> ResponseReturnValue:
    """Needs `committee:manage`."""
    db = db_session()
    service.assign(
        db,
        committee_id=body["committee_id"],
        subject_type=body["subject_type"],
        subject_id=body["subject_id"],
        by=caller(),
        now=utcnow(),
    )
    db.commit()
    return {"committee_id": body["committee_id"]}


@operation(
    "GET",
    "/committee-cases/<int:case_id>",
    tag=TAG,
    summary="A committee case: the rule, the votes counted and the decision",
    errors=(403,),
    answer=Answer(200, "The case.", s.ref("CommitteeCase")),
)
def get_case(case_id: int) -> ResponseReturnValue:
    """For the committee's members (observers too) and `committee:manage`."""
    view = queries.case_view(db_session(), case_id=case_id, by=caller())
    return case_json(view.case)


@operation(
    "POST",
    "/committee-cases/<int:case_id>/votes",
    tag=TAG,
    summary="Vote on a case, or change one's vote",
    body=s.obj(
        {
            "vote": s.enum(Vote),
            "comment": s.text(4000),
            "conditions": s.obj(
                {
                    "columns": s.array(s.text(120, min_length=1), max_items=1000),
                    "end_date": s.date(
                        "An end earlier than the one asked for (a request) or than the "
                        "version's expiry (an agreement approval)."
                    ),
                    "no_download": s.boolean(),
                    "forms": {
                        "type": "object",
                        "additionalProperties": s.enum(("coarsened", "pseudonymised")),
                        "description": "Requested columns granted only in this form.",
                    },
                    "preview_days": s.integer(1, 365),
                },
                description="With approve_with_conditions: the grant's terms (columns, "
                "end_date, no_download, forms) or, on an agreement approval, the version's "
                "(end_date, preview_days: publication only after a partner preview this long, "
                "no_download).",
            ),
        },
        required=("vote",),
    ),
    errors=(403, 409),
    answer=Answer(200, "The case after the vote.", s.ref("CommitteeCase")),
)
def vote(case_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """By a chair or member who is neither recused nor the requester, while the case is open;
    the same vote twice is refused (409)."""
    db = db_session()
    case = cases.cast_vote(
        db,
        case_id=case_id,
        vote=body["vote"],
        comment=body.get("comment", ""),
        conditions=body.get("conditions"),
        by=caller(),
        now=utcnow(),
    )
    db.commit()
    return case_json(case)


@operation(
    "POST",
    "/committee-cases/<int:case_id>/recusal",
    tag=TAG,
    summary="Declare a conflict of interest on a case",
    body=s.obj({"reason": s.text(4000, min_length=1)}, required=("reason",)),
    errors=(403, 409),
    answer=Answer(200, "The case.", s.ref("CommitteeCase")),
)
def recuse(case_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Any voting member; their vote, if any, no longer counts."""
    db = db_session()
    case = cases.recuse(db, case_id=case_id, reason=body["reason"], by=caller(), now=utcnow())
    db.commit()
    return case_json(case)


@operation(
    "POST",
    "/committee-cases/<int:case_id>/decision",
    tag=TAG,
    summary="The chair decides alone after the deadline",
    body=s.obj(
        {"approve": s.boolean(), "reason": s.text(4000, min_length=1)},
        required=("approve", "reason"),
    ),
    errors=(403, 409),
    answer=Answer(200, "The decided case.", s.ref("CommitteeCase")),
)
def decide_alone(case_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """The chair only, after the case's deadline (409 before it); recorded as decided alone."""
    db = db_session()
    case = cases.decide_alone(
        db,
        case_id=case_id,
        approve=body["approve"],
        reason=body["reason"],
        by=caller(),
        now=utcnow(),
    )
    db.commit()
    return case_json(case)


def impact_json(found: impact.AmendmentImpact) -> dict[str, Any]:
    return {**found.as_json(), "digest": found.digest}


@operation(
    "GET",
    "/committees/amendments/<int:agreement_id>/impact",
    tag=TAG,
    summary="What approving the amendment waiting for approval would do",
    errors=(403, 409),
    answer=Answer(200, "Grants ended or narrowed, people to accept.", s.ref("AmendmentImpact")),
)
def amendment_impact(agreement_id: int) -> ResponseReturnValue:
    """For privacy officers and the members of the agreement's committee."""
    return impact_json(
        impact.amendment_impact(db_session(), agreement_id=agreement_id, by=caller())
    )


@operation(
    "POST",
    "/committees/amendments/<int:agreement_id>/approve",
    tag=TAG,
    summary="Approve the amendment with exactly the impact shown",
    body=s.obj(
        {"digest": s.text(64, min_length=64), "comment": s.text(5000)}, required=("digest",)
    ),
    errors=(403, 409),
    answer=Answer(200, "The impact that was applied.", s.ref("AmendmentImpact")),
)
def approve_amendment(agreement_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """`agreement:review`, not a contributor of the amendment; 409 if the impact changed."""
    db = db_session()
    applied = impact.approve_amendment(
        db,
        agreement_id=agreement_id,
        digest=body["digest"],
        comment=body.get("comment", ""),
        by=caller(),
        now=utcnow(),
    )
    db.commit()
    return impact_json(applied)
