"""Agreements through the API: the visible list, one agreement with its clauses and versions,
drafting and editing, the lifecycle actions and the PDF. Each handler calls the service the
pages call, with the token's holder as `by=`, and commits once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import Response, current_app
from flask.typing import ResponseReturnValue

from governance.agreements import service
from governance.agreements.api_shapes import (
    AGREEMENT,
    NEW_AGREEMENT,
    SORTS,
    TERMS_CHANGE,
    detail,
    summary,
    terms_from,
)
from governance.agreements.document import issue_pdf
from governance.agreements.lifecycle import Action
from governance.agreements.models import Agreement, AgreementStatus, AgreementVersion
from governance.agreements.odrl_export import MEDIA_TYPE, export_policy
from governance.agreements.odrl_links import addresses
from governance.agreements.queries import EXPIRY_WINDOWS, get_visible, list_statement
from governance.agreements.terms import TermsInput
from governance.api import schema as s
from governance.api.operations import Answer, Param, operation
from governance.api.responses import paged
from governance.identity.api_auth import caller
from governance.kernel.errors import ValidationFailed
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.web.paging import paginate

TAG = "Agreements"


# ------------------------------------------------------------------------ handlers -------
@operation(
    "GET",
    "/agreements",
    tag=TAG,
    summary="List the agreements you can see",
    query=(
        Param("status", s.enum(AgreementStatus)),
        Param(
            "provider",
            s.identifier("A provider organisation's id."),
            "Only agreements with this data provider.",
        ),
        Param(
            "expiring",
            {"type": "integer", "enum": list(EXPIRY_WINDOWS)},
            "Only active agreements expiring within this many days.",
        ),
        Param("page", s.integer(1, 1_000_000)),
        Param("per_page", s.integer(1, 200)),
        Param("sort", s.enum(SORTS)),
        Param("dir", s.enum(("asc", "desc"))),
    ),
    answer=Answer(200, "One page of agreements.", s.ref("AgreementPage")),
)
def list_agreements(query: dict[str, Any]) -> ResponseReturnValue:
    """Privacy officers and compliance managers see every agreement; everyone else the ones
    their organisation is party to or that name them as authorised personnel."""
    statement = list_statement(
        caller(),
        status=query.get("status"),
        provider_id=query.get("provider"),
        expiring_within=query.get("expiring"),
        today=utcnow().date(),
    )
    sorts = {
        "reference": Agreement.reference,
        "title": AgreementVersion.title,
        "status": Agreement.status,
        "effective": AgreementVersion.effective_date,
        "expiry": AgreementVersion.expiry_date,
    }
    page = paginate(db_session(), statement, sorts=sorts, default_sort="reference", scalars=False)
    return paged(page, lambda row: summary(row[0], row[1]))


@operation(
    "GET",
    "/agreements/<int:agreement_id>",
    tag=TAG,
    summary="One agreement",
    errors=(403,),
    answer=AGREEMENT,
)
def get_agreement(agreement_id: int) -> ResponseReturnValue:
    """Its terms as clauses with stable ids, its versions with what each changed, comments
    and issued PDFs. Someone who may not see it gets 403, and the attempt is recorded."""
    agreement = get_visible(db_session(), agreement_id, by=caller())
    return detail(agreement)


@operation(
    "POST",
    "/agreements",
    tag=TAG,
    summary="Draft a new agreement",
    body=NEW_AGREEMENT,
    errors=(403,),
    answer=Answer(201, "The new draft (version 1).", s.ref("Agreement")),
)
def create_agreement(body: dict[str, Any]) -> ResponseReturnValue:
    """Needs `agreement:draft`. Terms may be incomplete in a draft; they must be complete to
    submit it."""
    db = db_session()
    terms = terms_from(body, None)
    agreement = service.create_agreement(
        db,
        provider_id=body["provider_id"],
        recipient_id=body["recipient_id"],
        terms=terms,
        by=caller(),
        now=utcnow(),
    )
    db.commit()
    return detail(agreement), 201


def _may(action: Action) -> Callable[[int], None]:
    """A lifecycle action with a form: 403, 404 or 409 before the form is read (`before`)."""

    def check(agreement_id: int) -> None:
        service.check_transition(db_session(), action, agreement_id, caller())

    return check


def _may_approve(agreement_id: int) -> None:
    """Also refused before the body: a privacy officer who drafted, edited or submitted the
    version (separation of duties)."""
    service.check_approval(db_session(), agreement_id, caller())


def _may_certify(agreement_id: int) -> None:
    """Also refused before the body: a destruction already certified (409)."""
    service.check_certify_destruction(db_session(), agreement_id, caller())


@operation(
    "PATCH",
    "/agreements/<int:agreement_id>",
    tag=TAG,
    summary="Edit the draft or the amendment being drafted",
    body=TERMS_CHANGE,
    errors=(403, 409),
    answer=AGREEMENT,
    before=_may(Action.EDIT),
)
def edit_agreement(agreement_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Only the terms sent change; the change is recorded clause by clause."""
    user, db = caller(), db_session()
    agreement = service.get_agreement(db, agreement_id)
    base = TermsInput.from_version(agreement.working_version or agreement.display_version)
    service.update_draft(
        db, agreement_id=agreement_id, terms=terms_from(body, base), by=user, now=utcnow()
    )
    db.commit()
    return detail(agreement)


def _transition(agreement_id: int, call: Any) -> ResponseReturnValue:
    db = db_session()
    call(db, caller(), utcnow())
    db.commit()
    return detail(service.get_agreement(db, agreement_id))


COMMENT = s.obj({"comment": s.text(5000)})
TRANSITION_ERRORS = (403, 409)


@operation(
    "POST",
    "/agreements/<int:agreement_id>/submit",
    tag=TAG,
    summary="Submit the draft for review",
    errors=TRANSITION_ERRORS,
    answer=AGREEMENT,
    before=_may(Action.SUBMIT),
)
def submit_agreement(agreement_id: int) -> ResponseReturnValue:
    """Every clause must be complete (422 names what is missing)."""
    return _transition(
        agreement_id,
        lambda db, by, now: service.submit(db, agreement_id=agreement_id, by=by, now=now),
    )


@operation(
    "POST",
    "/agreements/<int:agreement_id>/approve",
    tag=TAG,
    summary="Approve the submitted version",
    body=COMMENT,
    errors=TRANSITION_ERRORS,
    answer=AGREEMENT,
    before=_may_approve,
)
def approve_agreement(agreement_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """By a privacy officer who did not draft, edit or submit this version."""
    return _transition(
        agreement_id,
        lambda db, by, now: service.approve(
            db, agreement_id=agreement_id, comment=body.get("comment", ""), by=by, now=now
        ),
    )


EXECUTION = s.obj(
    {
        "name": s.text(200, min_length=1, description="The provider's signatory."),
        "title": s.text(200, min_length=1),
        "organisation": s.text(200, min_length=1),
        "signed_on": s.date("The date on the signed copy (YYYY-MM-DD)."),
        "signed_copy_reference": s.text(200, min_length=1),
        "impact_digest": s.text(
            64,
            description="For an amendment: the digest of the impact shown "
            "(`countersignature_impact`); a changed impact answers 409 with the new one.",
        ),
    },
    required=("name", "title", "organisation", "signed_on", "signed_copy_reference"),
)


@operation(
    "POST",
    "/agreements/<int:agreement_id>/execute",
    tag=TAG,
    summary="Record the provider's countersignature of the approved agreement or amendment",
    body=EXECUTION,
    errors=TRANSITION_ERRORS,
    answer=Answer(
        200, "The agreement, and the amendment's impact applied.", s.ref("AgreementExecuted")
    ),
    before=_may(Action.EXECUTE),
)
def execute_agreement(agreement_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """An approved agreement becomes active once executed, from its effective date; an
    approved amendment replaces the version in force once executed, and not before."""
    try:
        signed_on = dt.date.fromisoformat(body["signed_on"])
    except ValueError:
        raise ValidationFailed(
            "The date signed is not a date; nothing was recorded.",
            {"signed_on": "Use YYYY-MM-DD."},
        ) from None
    signature = service.Countersignature(
        name=body["name"],
        title=body["title"],
        organisation=body["organisation"],
        signed_on=signed_on,
        signed_copy_reference=body["signed_copy_reference"],
    )
    db = db_session()
    execution = service.execute(
        db,
        agreement_id=agreement_id,
        signature=signature,
        impact_digest=body.get("impact_digest"),
        by=caller(),
        now=utcnow(),
    )
    db.commit()
    return {
        **detail(service.get_agreement(db, agreement_id)),
        "impact_applied": execution.impact or None,
    }


@operation(
    "POST",
    "/agreements/<int:agreement_id>/return",
    tag=TAG,
    summary="Return the submitted version to its drafter",
    body=s.obj({"comment": s.text(5000, min_length=1)}, required=("comment",)),
    errors=TRANSITION_ERRORS,
    answer=AGREEMENT,
    before=_may(Action.RETURN),
)
def return_agreement(agreement_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """With a comment saying what should change."""
    return _transition(
        agreement_id,
        lambda db, by, now: service.return_to_draft(
            db, agreement_id=agreement_id, comment=body["comment"], by=by, now=now
        ),
    )


@operation(
    "POST",
    "/agreements/<int:agreement_id>/amend",
    tag=TAG,
    summary="Open an amendment of the agreement in force",
    body=s.obj({"reason": s.text(5000, min_length=1)}, required=("reason",)),
    errors=TRANSITION_ERRORS,
    answer=AGREEMENT,
    before=_may(Action.AMEND),
)
def amend_agreement(agreement_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """The approved version stays in force until the amendment is approved."""
    return _transition(
        agreement_id,
        lambda db, by, now: service.start_amendment(
            db, agreement_id=agreement_id, reason=body["reason"], by=by, now=now
        ),
    )


@operation(
    "POST",
    "/agreements/<int:agreement_id>/discard-amendment",
    tag=TAG,
    summary="Discard the amendment being drafted",
    errors=TRANSITION_ERRORS,
    answer=AGREEMENT,
    before=_may(Action.DISCARD_AMENDMENT),
)
def discard_amendment(agreement_id: int) -> ResponseReturnValue:
    """The version in force stays as it is."""
    return _transition(
        agreement_id,
        lambda db, by, now: service.discard_amendment(
            db, agreement_id=agreement_id, by=by, now=now
        ),
    )


@operation(
    "POST",
    "/agreements/<int:agreement_id>/terminate",
    tag=TAG,
    summary="Terminate an approved or active agreement",
    body=s.obj({"reason": s.text(5000, min_length=1)}, required=("reason",)),
    errors=TRANSITION_ERRORS,
    answer=AGREEMENT,
    before=_may(Action.TERMINATE),
)
def terminate_agreement(agreement_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Its grants end at once; a pending amendment is discarded."""
    return _transition(
        agreement_id,
        lambda db, by, now: service.terminate(
            db, agreement_id=agreement_id, reason=body["reason"], by=by, now=now
        ),
    )


@operation(
    "POST",
    "/agreements/<int:agreement_id>/certify-destruction",
    tag=TAG,
    summary="Certify that the data was destroyed, closing the agreement",
    body=s.obj({"statement": s.text(5000, min_length=1)}, required=("statement",)),
    errors=TRANSITION_ERRORS,
    answer=AGREEMENT,
    before=_may_certify,
)
def certify_destruction(agreement_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Say what was destroyed, how and on which date."""
    return _transition(
        agreement_id,
        lambda db, by, now: service.certify_destruction(
            db, agreement_id=agreement_id, statement=body["statement"], by=by, now=now
        ),
    )


@operation(
    "GET",
    "/agreements/<int:agreement_id>/pdf",
    tag=TAG,
    summary="The agreement as a PDF",
    errors=(403,),
    query=(Param("version", s.integer(1), "A version number; default: the one shown first."),),
    answer=Answer(
        200,
        "The PDF; its SHA-256 is stored and recorded.",
        None,
        media_types=("application/pdf",),
        headers={"X-Content-SHA256": "SHA-256 of the PDF, as recorded."},
    ),
)
def agreement_pdf(agreement_id: int, query: dict[str, Any]) -> ResponseReturnValue:
    """Issuing the PDF is recorded in the audit trail with the document's SHA-256."""
    db = db_session()
    issued = issue_pdf(
        db,
        agreement_id=agreement_id,
        version_number=query.get("version"),
        by=caller(),
        now=utcnow(),
        deadlines=current_app.config.get("BREACH_NOTICE_HOURS", {}),
    )
    db.commit()
    return Response(
        issued.content,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{issued.filename}"',
            "X-Content-SHA256": issued.document.sha256,
        },
    )


@operation(
    "GET",
    "/agreements/<int:agreement_id>/odrl",
    tag=TAG,
    summary="A version of the agreement as an ODRL 2.2 policy",
    errors=(403,),
    query=(Param("version", s.integer(1), "A version number; default: the one shown first."),),
    answer=Answer(
        200,
        "The policy as JSON-LD: an odrl:Agreement for a version in force, an odrl:Offer for "
        "one not yet (or never) approved. Each export is recorded.",
        {"type": "object"},
        media_types=(MEDIA_TYPE,),
    ),
)
def agreement_odrl(agreement_id: int, query: dict[str, Any]) -> ResponseReturnValue:
    """Only those who may read the agreement; a refusal is recorded."""
    db = db_session()
    exported = export_policy(
        db,
        agreement_id=agreement_id,
        version_number=query.get("version"),
        by=caller(),
        addresses=addresses,
    )
    db.commit()
    return Response(exported.content, mimetype=MEDIA_TYPE)
