"""What the API says about an agreement: the shapes of its answers and of the terms it takes,
and turning a JSON body into the `TermsInput` the agreement services check."""

from __future__ import annotations

import dataclasses
from typing import Any

from governance.agreements import service
from governance.agreements.analysis_kind_model import AnalysisKind
from governance.agreements.clauses import clause_diff
from governance.agreements.impact import impact_json
from governance.agreements.lifecycle import Action, State, state_of
from governance.agreements.models import (
    Agreement,
    AgreementStatus,
    AgreementVersion,
    DerivedForms,
    ResearchProductsOwner,
    VersionStatus,
)
from governance.agreements.parts_model import CommentKind, ProjectRole
from governance.agreements.terms import PARTIES, Signatory, TermsInput
from governance.api import schema as s
from governance.api.operations import Answer
from governance.api.responses import day, iso, page_schema
from governance.identity.api_auth import caller
from governance.kernel.extensions import db_session

# The lifecycle actions as the API (and the pages' addresses) name them.
ACTION_NAMES = {
    Action.EDIT: "edit",
    Action.SUBMIT: "submit",
    Action.RETURN: "return",
    Action.APPROVE: "approve",
    Action.EXECUTE: "execute",
    Action.AMEND: "amend",
    Action.DISCARD_AMENDMENT: "discard-amendment",
    Action.TERMINATE: "terminate",
    Action.CERTIFY_DESTRUCTION: "certify-destruction",
}
SORTS = ("reference", "title", "status", "effective", "expiry")

# --------------------------------------------------------------------------- shapes ------
PARTY = s.shape({"id": s.identifier(), "name": s.string_out()})
COLUMNS_IN = s.obj(
    {"dataset_id": s.identifier(), "columns": s.array(s.text(120, min_length=1), max_items=1000)},
    required=("dataset_id", "columns"),
)
PERSON_IN = s.obj(
    {"user_id": s.identifier(), "role": s.enum(ProjectRole)}, required=("user_id", "role")
)
SIGNATORY_IN = s.obj(
    {"party": s.enum(PARTIES), "name": s.text(200, min_length=1), "title": s.text(200)},
    required=("party", "name"),
)
TERMS_FIELDS: dict[str, s.Schema] = {
    "title": s.text(200, min_length=1),
    "purpose": s.text(10000, min_length=1),
    "effective_date": s.date("First day in force."),
    "expiry_date": s.date("Last day in force."),
    "permitted_uses": s.array(s.enum(AnalysisKind), max_items=20),
    "columns": s.array(
        COLUMNS_IN, max_items=100, description="Dataset columns covered (clause scope.datasets)."
    ),
    "signatories": s.array(SIGNATORY_IN, max_items=20),
    "research_products_owner": s.enum(ResearchProductsOwner),
    "laws": s.array(s.text(60), max_items=50, description="Codes from the law catalogue."),
    "third_party_recipients": s.array(s.text(200), max_items=50),
    "publication_allowed": s.boolean(),
    "min_cell_size": s.integer(1, 1_000_000),
    "min_cohort_size": s.integer(1, 1_000_000),
    "preview_window_days": s.integer(0, 365),
    "two_checkers_required": s.boolean(),
    "dominance_threshold": s.number(0, 1, description="Greater than 0, at most 1."),
    "rounding_base": {"type": ["integer", "null"], "enum": [None, 5]},
    "protection_width": s.nullable(s.integer(1, 1_000_000)),
    "max_abs_smd": s.number(0, 1, description="Greater than 0, at most 1 (JDL: 0.1)."),
    "min_link_probability": s.number(
        0.5, 1, description="Lowest match probability probabilistic linkage accepts (0.95)."
    ),
    "row_level_download": s.boolean(),
    "min_age": s.nullable(s.integer(0, 120)),
    "excluded_offence_categories": s.array(s.text(100), max_items=50),
    "withheld_offence_categories": s.array(s.text(100), max_items=50),
    "destruction_days": s.integer(0, 3650),
    "personnel": s.array(
        PERSON_IN, max_items=200, description="Authorised personnel of the recipient."
    ),
    "legal_bases": {
        "type": "object",
        "additionalProperties": s.text(2000),
        "maxProperties": 50,
        "description": "Law code -> the legal basis named under that law "
        "(clause privacy.legal_basis).",
    },
    "acceptance_required": s.boolean(),
    "attestation_months": s.nullable(s.integer(1, 36)),
    "ethics_required": s.boolean(),
    "provider_notice_hours": s.nullable(s.integer(1, 8760)),
    "progress_months": s.nullable(s.integer(1, 24)),
    "max_unique_share": s.nullable(
        s.number(0, 1, description="Share unique above which a privacy officer approves too.")
    ),
    "derived_forms": s.enum(
        DerivedForms,
        description="Forms a column may be granted in instead of its stored values "
        "(clause access.derived_forms).",
    ),
    "public_register": s.boolean(),
    "lay_summary": s.text(3000),
}
NEW_AGREEMENT = s.obj(
    {"provider_id": s.identifier(), "recipient_id": s.identifier(), **TERMS_FIELDS},
    required=("provider_id", "recipient_id", "title", "purpose", "effective_date", "expiry_date"),
)
TERMS_CHANGE = s.obj(TERMS_FIELDS, description="Only the terms sent change.")
TERMS_OUT = s.shape(
    {
        **{
            name: s.loose(_schema)
            for name, _schema in TERMS_FIELDS.items()
            if name
            not in {
                "columns",
                "personnel",
                "signatories",
                "rounding_base",
                "min_age",
                "protection_width",
                "legal_bases",
                "attestation_months",
                "provider_notice_hours",
                "progress_months",
                "max_unique_share",
            }
        },
        "max_unique_share": {"type": ["number", "null"]},
        "progress_months": {"type": ["integer", "null"]},
        "legal_bases": {"type": "object", "additionalProperties": s.string_out()},
        "attestation_months": {"type": ["integer", "null"]},
        "provider_notice_hours": {"type": ["integer", "null"]},
        "columns": {
            "type": "array",
            "items": s.shape(
                {
                    "dataset_id": s.identifier(),
                    "columns": {"type": "array", "items": s.string_out()},
                }
            ),
        },
        "signatories": {
            "type": "array",
            "items": s.shape(
                {"party": s.enum(PARTIES), "name": s.string_out(), "title": s.string_out()}
            ),
        },
        "personnel": {
            "type": "array",
            "items": s.shape(
                {
                    "user_id": s.identifier(),
                    "role": s.enum(ProjectRole),
                    "name": s.string_out(),
                    "email": s.string_out(),
                }
            ),
        },
        "rounding_base": {"type": ["integer", "null"]},
        "min_age": {"type": ["integer", "null"]},
        "protection_width": {"type": ["integer", "null"]},
    }
)
SUMMARY_FIELDS: dict[str, s.Schema] = {
    "id": s.identifier(),
    "reference": s.string_out("DUA-YEAR-NNN"),
    "status": s.enum(AgreementStatus),
    "state": s.enum(State),
    "title": s.string_out(),
    "provider": PARTY,
    "recipient": PARTY,
    "version": s.integer(1, description="The version shown: the one in force, else the draft."),
    "effective_date": s.date(),
    "expiry_date": s.date(),
}
SUMMARY = s.shape(SUMMARY_FIELDS)
CLAUSE = s.shape(
    {
        "id": s.string_out("Stable clause id, e.g. publication.min_cell_size."),
        "label": s.string_out(),
        "value": s.string_out(),
    }
)
CHANGE = s.shape(
    {
        "clause": s.string_out(),
        "label": s.string_out(),
        "before": s.string_out(),
        "after": s.string_out(),
    }
)
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
VERSION = s.shape(
    {
        "number": s.integer(1),
        "status": s.enum(VersionStatus),
        "title": s.string_out(),
        "change_summary": s.string_out(),
        "effective_date": s.date(),
        "expiry_date": s.date(),
        "created_at": s.time_out(),
        "submitted_at": NULLABLE_TIME,
        "approved_at": NULLABLE_TIME,
        "approved_by": {"type": ["string", "null"]},
        "execution": {
            "type": ["object", "null"],
            "description": "The provider's countersignature, once recorded.",
            "properties": {
                "signatory": s.string_out(),
                "title": s.string_out(),
                "organisation": s.string_out(),
                "signed_on": s.date(),
                "signed_copy_reference": s.string_out(),
                "recorded_by": s.string_out(),
                "recorded_at": s.time_out(),
            },
        },
        "changes": {
            "type": "array",
            "items": CHANGE,
            "description": "Clauses changed from the previous version.",
        },
    }
)
DETAIL = s.shape(
    {
        **SUMMARY_FIELDS,
        "current_version": {"type": ["integer", "null"]},
        "working_version": {"type": ["integer", "null"]},
        "created_at": s.time_out(),
        "ended_at": NULLABLE_TIME,
        "termination_reason": {"type": ["string", "null"]},
        "destruction_certified_at": NULLABLE_TIME,
        "destruction_due": {"type": ["string", "null"], "format": "date"},
        "actions": {
            "type": "array",
            "items": s.enum(ACTION_NAMES.values()),
            "description": "What the caller may do now (edit is PATCH).",
        },
        "terms": TERMS_OUT,
        "clauses": {"type": "array", "items": CLAUSE},
        "amendment_changes": {
            "type": "array",
            "items": CHANGE,
            "description": "How the amendment under way differs from the version in force.",
        },
        "versions": {"type": "array", "items": VERSION},
        "comments": {
            "type": "array",
            "items": s.shape(
                {
                    "version": s.integer(1),
                    "kind": s.enum(CommentKind),
                    "body": s.string_out(),
                    "author": s.string_out(),
                    "created_at": s.time_out(),
                }
            ),
        },
        "documents": {
            "type": "array",
            "items": s.shape(
                {
                    "version": s.integer(1),
                    "sha256": s.string_out(),
                    "bytes": s.integer(0),
                    "issued_by": s.string_out(),
                    "issued_at": s.time_out(),
                }
            ),
        },
        "countersignature_impact": {
            "type": ["object", "null"],
            "description": "For whoever may record the provider's countersignature of an "
            "amendment: what recording it would apply now (an AmendmentImpact: grants ended "
            "or narrowed, people to accept), with the digest to send back as "
            "`impact_digest`; null otherwise.",
        },
    }
)
EXECUTED = s.shape(
    {
        **DETAIL["properties"],
        "impact_applied": {
            "type": ["object", "null"],
            "description": "What the execution's event recorded of the amendment's impact: "
            "the impact applied, `impact_digest_applied`, `impact_digest_approved` (null for "
            "an approval that recorded none) and `impact_changed_since_approval`; null for a "
            "first version.",
        },
    }
)
SCHEMAS = {
    "AgreementSummary": SUMMARY,
    "AgreementPage": page_schema(s.ref("AgreementSummary")),
    "Agreement": DETAIL,
    "AgreementExecuted": EXECUTED,
    "Terms": TERMS_OUT,
}
AGREEMENT = Answer(200, "The agreement as the caller may see it.", s.ref("Agreement"))


def countersignature_impact(agreement: Agreement, available: set[Action]) -> dict[str, Any] | None:
    """The amendment's impact as recording the countersignature would apply it now, for
    whoever may record it."""
    if Action.EXECUTE not in available:
        return None
    shown = service.impact_to_countersign(db_session(), agreement)
    return impact_json(shown) if shown is not None else None


def summary(agreement: Agreement, shown: AgreementVersion) -> dict[str, Any]:
    return {
        "id": agreement.id,
        "reference": agreement.reference,
        "status": str(agreement.status),
        "state": state_of(agreement).value,
        "title": shown.title,
        "provider": {"id": agreement.provider.id, "name": agreement.provider.name},
        "recipient": {"id": agreement.recipient.id, "name": agreement.recipient.name},
        "version": shown.number,
        "effective_date": day(shown.effective_date),
        "expiry_date": day(shown.expiry_date),
    }


def terms_json(version: AgreementVersion) -> dict[str, Any]:
    terms = TermsInput.from_version(version)
    body = dataclasses.asdict(terms)
    body.update(
        effective_date=day(terms.effective_date),
        expiry_date=day(terms.expiry_date),
        columns=[{"dataset_id": k, "columns": v} for k, v in sorted(terms.columns.items())],
        personnel=[
            {
                "user_id": p.user_id,
                "role": str(p.project_role),
                "name": p.user.name,
                "email": p.user.email,
            }
            for p in version.personnel
        ],
    )
    return body


def detail(agreement: Agreement) -> dict[str, Any]:
    user = caller()
    shown = agreement.display_version
    current, working = agreement.current_version, agreement.working_version
    available = service.available_actions(agreement, user)
    versions = []
    for index, version in enumerate(agreement.versions):
        previous = agreement.versions[index - 1] if index else None
        versions.append(
            {
                "number": version.number,
                "status": str(version.status),
                "title": version.title,
                "change_summary": version.change_summary,
                "effective_date": day(version.effective_date),
                "expiry_date": day(version.expiry_date),
                "created_at": iso(version.created_at),
                "submitted_at": iso(version.submitted_at),
                "approved_at": iso(version.approved_at),
                "approved_by": version.approved_by_label,
                "execution": _execution(version),
                "changes": clause_diff(previous, version) if previous else [],
            }
        )
    due = agreement.destruction_due()
    return {
        **summary(agreement, shown),
        "current_version": agreement.current_version_number,
        "working_version": agreement.working_version_number,
        "created_at": iso(agreement.created_at),
        "ended_at": iso(agreement.ended_at),
        "termination_reason": agreement.termination_reason,
        "destruction_certified_at": iso(agreement.destruction_certified_at),
        "destruction_due": day(due),
        "actions": [name for action, name in ACTION_NAMES.items() if action in available],
        "terms": terms_json(shown),
        "clauses": [
            {"id": cid, "label": label, "value": value} for cid, label, value in shown.clauses()
        ],
        "amendment_changes": clause_diff(current, working) if current and working else [],
        "countersignature_impact": countersignature_impact(agreement, available),
        "versions": versions,
        "comments": [
            {
                "version": v.number,
                "kind": str(c.kind),
                "body": c.body,
                "author": c.author_label,
                "created_at": iso(c.created_at),
            }
            for v in agreement.versions
            for c in v.comments
        ],
        "documents": [
            {
                "version": v.number,
                "sha256": d.sha256,
                "bytes": d.byte_size,
                "issued_by": d.issued_by_label,
                "issued_at": iso(d.issued_at),
            }
            for v in agreement.versions
            for d in v.documents
        ],
    }


def terms_from(body: dict[str, Any], base: TermsInput | None) -> TermsInput:
    """Terms from a JSON body, over `base` (a PATCH changes only what it sends)."""
    values = dataclasses.asdict(base) if base else {}
    values.pop("signatories", None)
    terms = TermsInput(
        **{
            **values,
            **{
                k: v
                for k, v in body.items()
                if k in TERMS_FIELDS and k not in {"columns", "personnel", "signatories"}
            },
        }
    )
    if base is not None:
        terms.signatories = list(base.signatories)
    for name in ("effective_date", "expiry_date"):
        if name in body:
            setattr(terms, name, s.to_date(body[name]))
    if "columns" in body:
        columns: dict[int, list[str]] = {}
        for entry in body["columns"]:
            columns.setdefault(entry["dataset_id"], []).extend(entry["columns"])
        terms.columns = columns
    if "personnel" in body:
        terms.personnel = {p["user_id"]: p["role"] for p in body["personnel"]}
    if "signatories" in body:
        terms.signatories = [
            Signatory(x["party"], x["name"], x.get("title", "")) for x in body["signatories"]
        ]
    return terms


def _execution(version: AgreementVersion) -> dict[str, Any] | None:
    if version.executed_on is None:
        return None
    return {
        "signatory": version.provider_signatory_name,
        "title": version.provider_signatory_title,
        "organisation": version.provider_signatory_organisation,
        "signed_on": day(version.executed_on),
        "signed_copy_reference": version.signed_copy_reference,
        "recorded_by": version.execution_recorded_by_label,
        "recorded_at": iso(version.execution_recorded_at),
    }
