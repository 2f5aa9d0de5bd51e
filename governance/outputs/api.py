"""Outputs through the API: the outputs you can see, one output as its page shows it to you,
the checking, preview and publication actions of that page (under the page's names), and the
recorded download of its files (outputs/service.py and outputs/preview.py).

The services decide everything: who may see the output (404, recorded, the same answer as for
a missing id), who may act (403, recorded), what the lifecycle allows (409, naming the actions
the state allows), what is valid (422). Each person sees what the output
page shows them: the disclosure record only checkers, the checks only checkers and the project
team, figures not yet released to the team only in the secure environment, the populations
nobody.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from governance.api import schema as s
from governance.api.operations import Answer, Param, operation
from governance.api.responses import iso, page_schema, paged
from governance.audit.models import AuditType
from governance.identity.api_auth import caller
from governance.identity.models import User
from governance.kernel.errors import ValidationFailed
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.outputs import common, files, preview, service
from governance.outputs.common import get_visible
from governance.outputs.lifecycle import State
from governance.outputs.models import AnswerKind, FlagKind, Output, OutputFlag, OutputStatus
from governance.outputs.queries import Abilities, abilities, list_statement
from governance.outputs.web import file_response
from governance.outputs.web_forms import correction_files
from governance.web.paging import paginate

TAG = "Outputs"
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
NULLABLE_TEXT = {"type": ["string", "null"]}
OUTPUT_ACTIONS = ("check", "flag", "correct", "publish", "file")
FLAG_ACTIONS = ("answer", "accept", "resolve")
SUMMARY_FIELDS: dict[str, s.Schema] = {
    "id": s.identifier(),
    "reference": s.string_out("OUT-00042"),
    "title": s.string_out(),
    "kind": s.string_out(),
    "status": s.enum(OutputStatus),
    "revision": s.integer(1),
    "agreement_id": s.identifier(),
    "agreement_version": s.integer(1),
    "produced_at": s.time_out(),
    "preview_closes_at": NULLABLE_TIME,
}
FLAG = s.shape(
    {
        "id": s.identifier(),
        "revision": s.integer(1),
        "kind": s.enum(FlagKind),
        "part": s.string_out(),
        "part_label": s.string_out(),
        "comment": s.string_out(),
        "raised_by": s.string_out(),
        "raised_at": s.time_out(),
        "answer": s.nullable(s.enum(AnswerKind)),
        "answer_text": NULLABLE_TEXT,
        "answered_by": NULLABLE_TEXT,
        "answered_at": NULLABLE_TIME,
        "closed_by": NULLABLE_TEXT,
        "closed_at": NULLABLE_TIME,
        "resolution": {
            "type": ["string", "null"],
            "enum": ["accepted_by_partner", "resolved_by_privacy_officer", None],
        },
        "resolution_note": NULLABLE_TEXT,
        "actions": {
            "type": "array",
            "items": s.enum(FLAG_ACTIONS),
            "description": "What the caller may do with this flag now.",
        },
    }
)
CHECK = s.shape(
    {
        "revision": s.integer(1),
        "checker": s.string_out(),
        "decision": s.enum(("approve", "return")),
        "reasons": s.string_out(),
        "checked_at": s.time_out(),
    }
)
OUTPUT = s.shape(
    {
        **SUMMARY_FIELDS,
        "state": s.enum(
            State,
            description="The lifecycle state (a produced output with one of "
            "two approvals awaits a second check).",
        ),
        "summary": {
            "type": ["string", "null"],
            "description": "The plain-language summary; null when `figures_withheld`.",
        },
        "result": {
            "type": ["object", "null"],
            "description": "The released figures: tables (suppressed "
            "cells marked, never a value), statistics, "
            "figures, notes, caveats; null when `figures_withheld`.",
        },
        "figures_withheld": {
            "type": ["string", "null"],
            "description": "Why the summary and figures are not shown to you: the project "
            "team reads figures not yet released only while the agreement is in force and "
            "it holds a current grant for the output's purpose (recorded when refused).",
        },
        "parts": {
            "type": "array",
            "items": s.shape({"id": s.string_out(), "label": s.string_out()}),
            "description": "The parts a preview flag can point at.",
        },
        "pdf_sha256": s.string_out(),
        "csv_sha256": s.string_out(),
        "produced_by": s.string_out(),
        "revised_at": s.time_out(),
        "preview_opened_at": NULLABLE_TIME,
        "cleared_at": NULLABLE_TIME,
        "released_at": NULLABLE_TIME,
        "published_at": NULLABLE_TIME,
        "disclosure": {
            "type": ["object", "null"],
            "description": "The disclosure-control record: checkers and privacy officers only.",
        },
        "checks": {
            "oneOf": [{"type": "null"}, {"type": "array", "items": CHECK}],
            "description": "The output checks: checkers and the project team only.",
        },
        "flags": {"type": "array", "items": s.ref("OutputFlag")},
        "actions": {
            "type": "array",
            "items": s.enum(OUTPUT_ACTIONS),
            "description": "What the caller may do now (`file`: download the files).",
        },
    }
)
SCHEMAS = {
    "OutputSummary": s.shape(SUMMARY_FIELDS),
    "Output": OUTPUT,
    "OutputFlag": FLAG,
    "OutputPage": page_schema(s.ref("OutputSummary")),
}
ANSWER = Answer(200, "The output after the action.", s.ref("Output"))
ERRORS = (403, 409)


def summary(output: Output) -> dict[str, Any]:
    return {
        "id": output.id,
        "reference": output.reference,
        "title": output.title,
        "kind": output.kind,
        "status": str(output.status),
        "revision": output.revision,
        "agreement_id": output.agreement_id,
        "agreement_version": output.agreement_version,
        "produced_at": iso(output.produced_at),
        "preview_closes_at": iso(output.preview_closes_at),
    }


def _flag(flag: OutputFlag, able: Abilities) -> dict[str, Any]:
    actions = [
        name
        for name, ids in (
            ("answer", able.answerable),
            ("accept", able.acceptable),
            ("resolve", able.resolvable),
        )
        if flag.id in ids
    ]
    return {
        "id": flag.id,
        "revision": flag.revision,
        "kind": str(flag.kind),
        "part": flag.part,
        "part_label": flag.part_label,
        "comment": flag.comment,
        "raised_by": flag.raised_by_label,
        "raised_at": iso(flag.raised_at),
        "answer": None if flag.answer is None else str(flag.answer),
        "answer_text": flag.answer_text,
        "answered_by": flag.answered_by_label,
        "answered_at": iso(flag.answered_at),
        "closed_by": flag.accepted_by_label,
        "closed_at": iso(flag.accepted_at),
        "resolution": None if flag.resolution is None else str(flag.resolution),
        "resolution_note": flag.resolution_note,
        "actions": actions,
    }


def render(db: Session, output: Output) -> dict[str, Any]:
    """What the output page shows the caller. Figures not yet released are shown to the
    project team only in the secure environment (outputs/files.py): otherwise `summary` and
    `result` are null, `figures_withheld` says why, and the refusal is recorded in the
    caller's transaction, which the caller commits."""
    by, now = caller(), utcnow()
    able = abilities(output, by, now)
    withheld = files.output_figures_withheld(db, by, output, now)
    can = {
        "check": able.can_check,
        "flag": able.can_flag,
        "correct": able.can_correct,
        "publish": able.can_publish,
        "file": able.can_download,
    }
    return {
        **summary(output),
        "state": able.state.value,
        "summary": output.summary if withheld is None else None,
        "result": output.result if withheld is None else None,
        "figures_withheld": withheld,
        "parts": [{"id": p["id"], "label": p["label"]} for p in output.parts],
        "pdf_sha256": output.pdf_sha256,
        "csv_sha256": output.csv_sha256,
        "produced_by": output.produced_by_label,
        "revised_at": iso(output.revised_at),
        "preview_opened_at": iso(output.preview_opened_at),
        "cleared_at": iso(output.cleared_at),
        "released_at": iso(output.released_at),
        "published_at": iso(output.published_at),
        "disclosure": output.disclosure if able.sees_disclosure else None,
        "checks": [
            {
                "revision": c.revision,
                "checker": c.checker_label,
                "decision": str(c.decision),
                "reasons": c.reasons,
                "checked_at": iso(c.checked_at),
            }
            for c in output.checks
        ]
        if able.sees_checks
        else None,
        "flags": [_flag(f, able) for f in output.flags],
        "actions": [name for name in OUTPUT_ACTIONS if can[name]],
    }


@operation(
    "GET",
    "/outputs",
    tag=TAG,
    summary="List the outputs you can see",
    query=(
        Param("status", s.enum(OutputStatus)),
        Param("page", s.integer(1, 1_000_000)),
        Param("per_page", s.integer(1, 200)),
        Param("sort", s.enum(("produced", "title", "status", "id"))),
        Param("dir", s.enum(("asc", "desc"))),
    ),
    answer=Answer(200, "One page of outputs.", s.ref("OutputPage")),
)
def list_outputs(query: dict[str, Any]) -> ResponseReturnValue:
    """Checkers and privacy officers every output; the project team its outputs; the
    provider's partner reviewers their agency's outputs from the preview on."""
    statement = list_statement(caller(), status=query.get("status"))
    page = paginate(
        db_session(),
        statement,
        default_sort="produced",
        sorts={
            "produced": Output.produced_at,
            "title": Output.title,
            "status": Output.status,
            "id": Output.id,
        },
    )
    return paged(page, summary)


@operation(
    "GET",
    "/outputs/<int:output_id>",
    tag=TAG,
    summary="One output",
    answer=Answer(200, "The output.", s.ref("Output")),
)
def get_output(output_id: int) -> ResponseReturnValue:
    """404 if there is none, or none that you can see (recorded, with the same answer)."""
    db = db_session()
    answer = render(db, get_visible(db, output_id, by=caller()))
    db.commit()  # figures withheld are recorded
    return answer


def _act(
    output_id: int, call: Callable[[Session, User], Any], status: int = 200
) -> ResponseReturnValue:
    db = db_session()
    call(db, caller())
    answer = render(db, _output(db, output_id))
    db.commit()  # the action, and figures withheld from its answer
    return answer, status


def _output(db: Session, output_id: int) -> Output:
    """The output the caller just acted on (the service found it and let them act)."""
    return common.get_output(db, output_id)


@operation(
    "POST",
    "/outputs/<int:output_id>/check",
    tag=TAG,
    summary="Approve the current revision, or return it with reasons (checker)",
    body=s.obj(
        {
            "decision": s.enum(("approve", "return")),
            "reasons": s.text(5000, description="Required to return."),
        },
        required=("decision",),
    ),
    errors=ERRORS,
    answer=ANSWER,
)
def check_output(output_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Never by someone who produced or corrected it, never twice by one checker on one
    revision; the last approval needed opens the provider's preview."""
    approve = body["decision"] == "approve"
    return _act(
        output_id,
        lambda db, by: service.check_output(
            db,
            output_id=output_id,
            approve=approve,
            reasons=body.get("reasons", ""),
            by=by,
            now=utcnow(),
        ),
    )


@operation(
    "POST",
    "/outputs/<int:output_id>/flags",
    tag=TAG,
    summary="Raise a preview flag (partner reviewer of the provider)",
    body=s.obj(
        {
            "kind": s.text(
                60, description="identifiable_information or factual_error: nothing else."
            ),
            "part": s.text(120, description="The id of one of the output's parts."),
            "comment": s.text(5000, description="Where exactly, and what is wrong."),
        },
        required=("kind", "part", "comment"),
    ),
    errors=ERRORS,
    answer=Answer(201, "The output with the new flag.", s.ref("Output")),
)
def flag_output(output_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Only while the preview window is open; a flag cannot edit or stop the output."""
    return _act(
        output_id,
        lambda db, by: preview.raise_flag(
            db,
            output_id=output_id,
            kind=body["kind"],
            part=body["part"],
            comment=body["comment"],
            by=by,
            now=utcnow(),
        ),
        201,
    )


@operation(
    "POST",
    "/outputs/<int:output_id>/flags/<int:flag_id>/answer",
    tag=TAG,
    summary="Answer a flag (the project team)",
    body=s.obj(
        {
            "answer": s.text(
                20, description="corrected (only after a correction since the flag) or explained."
            ),
            "text": s.text(5000, description="What was corrected, or the explanation."),
        },
        required=("answer", "text"),
    ),
    errors=ERRORS,
    answer=ANSWER,
)
def answer_flag(output_id: int, flag_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Once per flag."""
    return _act(
        output_id,
        lambda db, by: preview.answer_flag(
            db,
            output_id=output_id,
            flag_id=flag_id,
            answer=body["answer"],
            text=body["text"],
            by=by,
            now=utcnow(),
        ),
    )


@operation(
    "POST",
    "/outputs/<int:output_id>/flags/<int:flag_id>/accept",
    tag=TAG,
    summary="Accept the answer to a flag (partner reviewer of the provider)",
    errors=ERRORS,
    answer=ANSWER,
)
def accept_answer(output_id: int, flag_id: int) -> ResponseReturnValue:
    """When every flag is answered and accepted the output clears and is released at once."""
    return _act(
        output_id,
        lambda db, by: preview.accept_answer(
            db, output_id=output_id, flag_id=flag_id, by=by, now=utcnow()
        ),
    )


@operation(
    "POST",
    "/outputs/<int:output_id>/no-concerns",
    tag=TAG,
    summary="No concerns: end the preview early (partner reviewer of the provider)",
    body=s.obj({"note": s.text(2000, description="Optional note, recorded in the audit trail.")}),
    errors=ERRORS,
    answer=ANSWER,
)
def no_concerns(output_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Only while the window is open and no flag is open: the output clears and is released
    at once, recorded with who said so."""
    return _act(
        output_id,
        lambda db, by: preview.no_concerns(
            db, output_id=output_id, note=body.get("note") or "", by=by, now=utcnow()
        ),
    )


@operation(
    "POST",
    "/outputs/<int:output_id>/flags/<int:flag_id>/resolve",
    tag=TAG,
    summary="Resolve an answered flag the partner did not accept (privacy officer)",
    body=s.obj({"note": s.text(5000, description="Why the answer suffices.")}, required=("note",)),
    errors=ERRORS,
    answer=ANSWER,
)
def resolve_flag(output_id: int, flag_id: int, body: dict[str, Any]) -> ResponseReturnValue:
    """Only after the preview window has ended."""
    return _act(
        output_id,
        lambda db, by: preview.resolve_flag(
            db, output_id=output_id, flag_id=flag_id, note=body["note"], by=by, now=utcnow()
        ),
    )


@operation(
    "POST",
    "/outputs/<int:output_id>/publish",
    tag=TAG,
    summary="Put a released output on the public page (privacy officer)",
    errors=ERRORS,
    answer=ANSWER,
)
def publish_output(output_id: int) -> ResponseReturnValue:
    """Only if the agreement allows publication, under the terms it was produced under and
    the terms in force."""
    return _act(
        output_id,
        lambda db, by: service.publish_output(db, output_id=output_id, by=by, now=utcnow()),
    )


def _correctable(output_id: int) -> None:
    """Who may correct and when (404, 403, 409) before the files are read (415, 422)."""
    db = db_session()
    service.check_correction(db, output_id=output_id, by=caller(), now=utcnow())
    db.rollback()


@operation(
    "POST",
    "/outputs/<int:output_id>/correct",
    tag=TAG,
    summary="Upload a corrected revision (the project team)",
    upload={
        "type": "object",
        "properties": {
            "pdf": {
                "type": "string",
                "format": "binary",
                "description": "The report: a PDF that opens and is not encrypted. Nothing reads "
                "its figures by machine; the output checkers read it before approving.",
            },
            "csv": {
                "type": "string",
                "format": "binary",
                "description": "Optional. The released CSV is always made from the result "
                "(one row per cell: table, cell, the dimensions, count, events, rate, mean, "
                "suppressed). A CSV sent here is compared with it and refused (422, naming the "
                "first line and column that differ) unless it has the same header and rows, "
                "values equal as numbers in plain notation and suppressed values blank; it is "
                "never stored.",
            },
            "result": {
                "type": "string",
                "format": "binary",
                "description": "The corrected result JSON; without it the current result stands.",
            },
            "summary": {
                "type": "string",
                "maxLength": 10000,
                "description": "The plain-language summary.",
            },
        },
        "required": ["pdf", "summary"],
    },
    errors=ERRORS,
    answer=ANSWER,
    before=_correctable,
)
def correct_output(output_id: int) -> ResponseReturnValue:
    """Its checks and its preview start again."""
    db, user = db_session(), caller()
    output = get_visible(db, output_id, by=user, event=AuditType.OUTPUT_CORRECT)
    summary_text = request.form.get("summary", "")
    if len(summary_text) > 10000:
        raise ValidationFailed("The summary is too long.", {"summary": "at most 10000 characters"})
    service.correct_output(
        db,
        output_id=output_id,
        **correction_files(output),
        summary=summary_text,
        by=user,
        now=utcnow(),
    )
    answer = render(db, _output(db, output_id))
    db.commit()  # the correction, and figures withheld from its answer
    return answer


@operation(
    "GET",
    "/outputs/<int:output_id>/file",
    tag=TAG,
    summary="Download the output's PDF or CSV",
    query=(Param("kind", s.enum(("pdf", "csv")), "Default: pdf."),),
    errors=(403,),
    answer=Answer(
        200,
        "The file.",
        media_types=("application/pdf", "text/csv"),
        headers={"X-Content-SHA256": "SHA-256 of the file, as recorded."},
    ),
)
def output_file(output_id: int, query: dict[str, Any]) -> ResponseReturnValue:
    """Checkers in every state, the provider's partner reviewers from the preview on, the
    project team once it is released. Each download is recorded (`output:download`)."""
    db = db_session()
    file = files.download(
        db, output_id=output_id, kind=query.get("kind", "pdf"), by=caller(), now=utcnow()
    )
    db.commit()  # recorded before the first byte leaves
    return file_response(file)
