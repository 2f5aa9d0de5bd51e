"""Outputs: production, output checking, correction, release, publication and downloads.

Each write takes the actor as `by=` and the moment as `now=`, runs in the caller's transaction
and never commits. Shape of every action: the permission (403, recorded as denied), the output
(404), who the actor is for this output (403, recorded), the lifecycle table (409), the data
(422); then the change, its audit event and the notifications (sent after commit).
The partner preview (flags, answers, clearing) is in `preview.py`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from governance import authz
from governance.access import agreement_seals
from governance.agreements.models import Agreement, VersionStatus
from governance.audit.models import AuditType
from governance.authz import Permission, rules
from governance.identity.actors import Actor, System
from governance.kernel.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from governance.kernel.text import clean_text
from governance.outputs import notices
from governance.outputs.common import (
    actor_key,
    look,
    record_output_event,
    refusal,
    require_independent,
    require_team,
    start,
)
from governance.outputs.content import (
    AGGREGATE_KINDS,
    check_json,
    check_pdf,
    check_result,
    correction_record,
    sha256,
)
from governance.outputs.files import correction_refusal
from governance.outputs.lifecycle import (
    EVENT_TYPES,
    Action,
    State,
    move,
    steps_of,
)
from governance.outputs.models import (
    CheckDecision,
    Output,
    OutputCheck,
    OutputStatus,
    OutputTerms,
)
from governance.outputs.preview import release
from governance.outputs.public import make_public_files, public_hashes
from governance.outputs.released_csv import check_csv_upload, csv_of

__all__ = [
    "check_output",
    "correct_output",
    "produce_output",
    "publish_output",
    "release_output",
]


def _clean(raw: str, field: str, *, max_length: int, required: bool = True) -> str:
    errors: dict[str, str] = {}
    value = clean_text(raw, field, errors, max_length=max_length, required=required)
    if errors:
        raise ValidationFailed("Some fields need correcting; nothing was saved.", errors)
    return value


def _checked_files(
    min_cell_size: int, result: dict[str, Any], pdf: bytes
) -> tuple[list[dict[str, str]], bytes]:
    """The parts a flag can point at, and the CSV released with the result: made from it, so it
    carries exactly the figures that were checked (an uploaded CSV is never stored)."""
    parts = check_result(result, min_cell_size=min_cell_size)
    check_pdf(pdf)
    return parts, csv_of(result)


def produce_output(
    session: Session,
    *,
    run_id: int,
    agreement_id: int,
    agreement_version: int,
    title: str,
    kind: str,
    summary: str,
    result: dict[str, Any],
    disclosure: dict[str, Any],
    pdf: bytes,
    populations: list[dict[str, Any]],
    by: Actor,
    now: dt.datetime,
) -> Output:
    """Store a finished analysis's output in state "produced", with its PDF, the CSV made from
    its result and the SHA-256 of both, and tell the output checkers. `by` is the analyst who
    ran the analysis (a System actor is accepted for the host operator). Refuses (422) content
    that is not aggregate and disclosure-controlled under the agreement's minimum cell size."""
    authz.require(
        by,
        Permission.ANALYSIS_RUN,
        audit={
            "event_type": AuditType.OUTPUT_PRODUCE,
            "target_type": "output",
            "agreement_id": agreement_id,
            "agreement_version": agreement_version,
        },
    )
    agreement = session.get(Agreement, agreement_id)
    version = agreement.version(agreement_version) if agreement else None
    if (
        agreement is None
        or version is None
        or version.status not in (VersionStatus.APPROVED, VersionStatus.SUPERSEDED)
    ):
        raise NotFound(f"Agreement {agreement_id} has no approved version {agreement_version}.")
    # Its minimum cell size and personnel must be the ones approved (access/agreement_seals.py).
    agreement_seals.require(
        session,
        agreement_id,
        agreement.reference,
        {
            "event_type": AuditType.OUTPUT_PRODUCE,
            "target_type": "output",
            "agreement_id": agreement_id,
            "agreement_version": agreement_version,
        },
    )
    if not isinstance(by, System) and not version.is_personnel(by.id):
        raise PermissionDenied(
            f"Only the personnel of {agreement.reference} produce its outputs.",
            audit={
                "event_type": AuditType.OUTPUT_PRODUCE,
                "target_type": "output",
                "agreement_id": agreement_id,
                "agreement_version": agreement_version,
                "rule": "agreement-personnel",
            },
        )
    if kind not in AGGREGATE_KINDS:
        raise ValidationFailed(
            "Only aggregate analysis outputs can be stored.",
            {"kind": f"One of: {', '.join(sorted(AGGREGATE_KINDS))}."},
        )
    if kind not in version.permitted_uses:
        raise PermissionDenied(
            f"{agreement.reference} does not permit {kind} analyses (scope.permitted_uses).",
            clause="scope.permitted_uses",
            audit={
                "event_type": AuditType.OUTPUT_PRODUCE,
                "target_type": "output",
                "agreement_id": agreement_id,
                "agreement_version": agreement_version,
                "clause": "scope.permitted_uses",
                "rule": "permitted-use",
            },
        )
    terms = OutputTerms.governing(version, agreement.current_version)
    parts, csv = _checked_files(terms.min_cell_size, result, pdf)
    check_json(disclosure, "disclosure", dict)
    check_json(populations, "populations", list)
    output = Output(
        run_id=run_id,
        agreement_id=agreement.id,
        agreement_version=version.number,
        agreement=agreement,
        title=_clean(title, "title", max_length=200),
        kind=kind,
        summary=_clean(summary, "summary", max_length=10000),
        result=result,
        parts=parts,
        disclosure=disclosure,
        populations=populations,
        pdf=pdf,
        pdf_sha256=sha256(pdf),
        csv=csv,
        csv_sha256=sha256(csv),
        status=OutputStatus.PRODUCED,
        revision=1,
        produced_by_id=by.id,
        produced_by_label=by.email,
        contributors=[actor_key(by)],
        produced_at=now,
        revised_at=now,
    )
    session.add(output)
    record_output_event(
        session,
        AuditType.OUTPUT_PRODUCE,
        by=by,
        output=output,
        detail={
            "run_id": run_id,
            "title": output.title,
            "kind": kind,
            "pdf_sha256": output.pdf_sha256,
            "csv_sha256": output.csv_sha256,
        },
    )
    notices.to_check(session, output, corrected=False)
    return output


def check_output(
    session: Session, *, output_id: int, approve: bool, reasons: str, by: Actor, now: dt.datetime
) -> Output:
    """An output checker approves the current revision or returns it with reasons. With
    `two_checkers_required` the preview opens only after two different checkers approve."""
    action = Action.CHECK_APPROVE if approve else Action.CHECK_RETURN
    event_type = EVENT_TYPES[action]
    output = start(session, action, output_id, by)
    require_independent(by, action, output)
    rules.require(
        rules.not_checked_yet,
        by,
        output,
        actor_key(by),
        {actor_key_of(c) for c in output.current_checks},
        message=f"You already checked revision {output.revision}: the second check "
        "must be independent.",
        audit=refusal(event_type, output.id, output),
    )
    steps_of(output, action)
    body = _clean(reasons, "reasons", max_length=5000, required=not approve)
    needed = 2 if output.terms.two_checkers_required else 1
    approvals = len(output.approvals) + 1
    target = (
        State.RETURNED
        if not approve
        else (State.CHECKED if approvals >= needed else State.SECOND_CHECK)
    )
    # The files the decision was about, so the trail says which PDF and CSV were approved.
    checked = {
        "reasons": body,
        "revision": output.revision,
        "pdf_sha256": output.pdf_sha256,
        "csv_sha256": output.csv_sha256,
    }
    # Before the check is added: the state is read from the revision's approvals.
    move(
        session,
        output,
        action,
        target,
        by=by,
        detail=checked
        if not approve
        else {**checked, "approvals": approvals, "approvals_needed": needed},
    )
    output.checks.append(
        OutputCheck(
            revision=output.revision,
            checker_id=by.id,
            checker_label=by.email,
            decision=CheckDecision.APPROVE if approve else CheckDecision.RETURN,
            reasons=body,
            checked_at=now,
        )
    )
    if not approve:
        notices.returned(session, output)
        return output
    if target == State.CHECKED:
        _open_preview(session, output, by=by, now=now)
    return output


def actor_key_of(check: OutputCheck) -> str:
    return f"user:{check.checker_id}" if check.checker_id is not None else check.checker_label


def _open_preview(session: Session, output: Output, *, by: Actor, now: dt.datetime) -> None:
    """Checks complete: the provider's partner reviewers get the agreement's window."""
    window = output.terms.preview_window_days
    output.preview_opened_at = now
    output.preview_closes_at = now + dt.timedelta(days=window)
    told = notices.preview_opened(session, output)
    move(
        session,
        output,
        Action.OPEN_PREVIEW,
        State.IN_PREVIEW,
        by=by,
        detail={
            "window_days": window,
            "closes_at": output.preview_closes_at.isoformat(),
            "partner_reviewers_notified": told,
        },
    )


def correct_output(
    session: Session,
    *,
    output_id: int,
    result: dict[str, Any],
    pdf: bytes,
    summary: str,
    by: Actor,
    now: dt.datetime,
    csv: bytes | None = None,
) -> Output:
    """A new revision by the team: its checks and its preview start again. The released CSV
    is made from the result; a `csv` sent along must say exactly the same (else 422, naming
    the first difference), and is not stored. Figures that changed get a disclosure record of
    what was checked here; unchanged figures keep the record that describes them."""
    output = correctable(session, output_id=output_id, by=by, now=now)
    min_cell_size = output.terms.min_cell_size
    parts, released_csv = _checked_files(min_cell_size, result, pdf)
    if csv is not None:
        check_csv_upload(csv, result)
    summary_text = _clean(summary, "summary", max_length=10000)
    figures_changed = result["tables"] != output.result["tables"]
    # Every check above runs before the first change below: a refusal leaves the revision whole.
    before = {
        "revision": output.revision,
        "pdf_sha256": output.pdf_sha256,
        "csv_sha256": output.csv_sha256,
    }
    output.revision += 1
    output.result, output.parts = result, parts
    output.summary = summary_text
    output.pdf, output.pdf_sha256 = pdf, sha256(pdf)
    output.csv, output.csv_sha256 = released_csv, sha256(released_csv)
    if figures_changed:
        output.disclosure = correction_record(
            result, min_cell_size=min_cell_size, revision=output.revision
        )
    output.revised_at = now
    output.preview_opened_at = output.preview_closes_at = None
    output.cleared_at = output.released_at = None
    if actor_key(by) not in output.contributors:
        output.contributors = [*output.contributors, actor_key(by)]
    move(
        session,
        output,
        Action.CORRECT,
        State.PRODUCED,
        by=by,
        detail={
            "before": before,
            "after": {
                "revision": output.revision,
                "pdf_sha256": output.pdf_sha256,
                "csv_sha256": output.csv_sha256,
            },
            "figures_changed": figures_changed,
        },
    )
    notices.to_check(session, output, corrected=True)
    return output


def check_correction(session: Session, *, output_id: int, by: Actor, now: dt.datetime) -> Output:
    """A correction's refusals that come before its files are read: the output as `by` sees
    it (404), the permission and the team (403), the output's state and the agreement's
    (409: only while the agreement is in force, `files.correction_refusal`). Takes no lock:
    for the form's page; the correction itself asks again under it (`correctable`)."""
    return _correction_allowed(look(session, Action.CORRECT, output_id, by), by, now)


def correctable(session: Session, *, output_id: int, by: Actor, now: dt.datetime) -> Output:
    """`check_correction` under the audit writer lock (`start`), for the correction."""
    return _correction_allowed(start(session, Action.CORRECT, output_id, by), by, now)


def _correction_allowed(output: Output, by: Actor, now: dt.datetime) -> Output:
    require_team(by, Action.CORRECT, output)
    steps_of(output, Action.CORRECT)
    refused = correction_refusal(output, now)
    if refused is not None:
        raise Conflict(
            refused.message,
            audit={
                **refusal(AuditType.OUTPUT_CORRECT, output.id, output, refused.rule),
                "clause": refused.clause,
                "detail": {"reason": refused.message},
            },
        )
    return output


def release_output(session: Session, *, output_id: int, by: Actor, now: dt.datetime) -> Output:
    """Release a cleared output to the project team. Clearing does this at once, so this is
    for the scheduler and the host operator only (a person gets 403)."""
    output = start(session, Action.RELEASE, output_id, by)
    steps_of(output, Action.RELEASE)
    release(session, output, by=by, now=now)
    return output


def publish_output(session: Session, *, output_id: int, by: Actor, now: dt.datetime) -> Output:
    """Put a released output on the public page, if the agreement allows publication (both
    the terms it was produced under and the terms in force now). The public gets files made
    from the released figures alone (public.py), not the team's report."""
    output = start(session, Action.PUBLISH, output_id, by)
    require_independent(by, Action.PUBLISH, output)
    steps_of(output, Action.PUBLISH)
    agreement_seals.require(
        session,
        output.agreement_id,
        output.agreement.reference,
        {
            "event_type": AuditType.OUTPUT_PUBLISH,
            "target_type": "output",
            "target_id": output.id,
            "agreement_id": output.agreement_id,
        },
    )
    if not output.terms.publication_allowed:
        raise InvalidTransition(
            f"Agreement {output.agreement.reference} does not allow publication "
            "(publication.publication_allowed): the output stays with the project team."
        )
    output.published_at = now
    output.published_by_id = by.id
    output.published_by_label = by.email
    make_public_files(session, output, published_on=now.date())
    move(
        session,
        output,
        Action.PUBLISH,
        State.PUBLISHED,
        by=by,
        detail={
            "pdf_sha256": output.pdf_sha256,
            "csv_sha256": output.csv_sha256,
            **public_hashes(output),
        },
    )
    notices.published(session, output)
    return output
