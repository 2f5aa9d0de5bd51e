"""Progress reports: the personnel report on the schedule the agreement sets; a privacy officer
who did not write the report accepts or returns it (separation of duties, as for versions).

Reports fall due every `progress_months` from the agreement's effective date; the outputs a
report lists must be outputs of this agreement released to the team or published (the report
cannot claim work the output checkers never cleared).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.agreements.common import get_agreement
from governance.agreements.models import AgreementStatus
from governance.agreements.obligations import LIVE_AGREEMENT, add_months, personnel_version
from governance.agreements.progress_model import ProgressReport, ReportStatus
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.identity.actors import Actor
from governance.identity.models import User
from governance.kernel.errors import (
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from governance.kernel.text import clean_text
from governance.lifecycle import Lifecycle, Transition, already
from governance.outputs.models import Output, OutputStatus

REPORTABLE_OUTPUTS = (OutputStatus.RELEASED, OutputStatus.PUBLISHED)
# The final report may still be written once the agreement has ended (before it closes).
FINAL_REPORT_AFTER = (AgreementStatus.EXPIRED, AgreementStatus.TERMINATED)
CAN_REPORT = (*LIVE_AGREEMENT, *FINAL_REPORT_AFTER)


class ReportAction(StrEnum):
    ACCEPT = "accept"
    RETURN = "return"


_R = ReportStatus
LIFECYCLE: Lifecycle[ReportStatus, ReportAction] = Lifecycle(
    "progress report",
    ProgressReport,
    ReportStatus,
    ReportAction,
    [
        Transition(
            _R.SUBMITTED,
            ReportAction.ACCEPT,
            _R.ACCEPTED,
            Permission.AGREEMENT_REVIEW,
            AuditType.PROGRESS_REPORT_ACCEPT,
            "by a privacy officer who did not write it",
        ),
        Transition(
            _R.SUBMITTED,
            ReportAction.RETURN,
            _R.RETURNED,
            Permission.AGREEMENT_REVIEW,
            AuditType.PROGRESS_REPORT_RETURN,
            "by a privacy officer who did not write it, saying what it lacks",
        ),
    ],
    initial=[_R.SUBMITTED],
    refusal=already("report", tense="is"),
)


def due_dates(effective: dt.date, months: int, until: dt.date) -> list[dt.date]:
    """Every period end from the effective date up to `until` (inclusive)."""
    ends, step = [], 1
    while (end := add_months(effective, months * step)) <= until:
        ends.append(end)
        step += 1
    return ends


def reportable_outputs(session: Session, agreement_id: int) -> list[Output]:
    return list(
        session.scalars(
            select(Output)
            .where(Output.agreement_id == agreement_id, Output.status.in_(REPORTABLE_OUTPUTS))
            .order_by(Output.id)
        )
    )


def reports(session: Session, agreement_id: int) -> list[ProgressReport]:
    return list(
        session.scalars(
            select(ProgressReport)
            .where(ProgressReport.agreement_id == agreement_id)
            .order_by(ProgressReport.id)
        )
    )


def outstanding(session: Session, agreement_id: int, now: dt.datetime) -> list[dt.date]:
    """Period ends that have come without a submitted or accepted report."""
    agreement = get_agreement(session, agreement_id)
    version = agreement.current_version
    if version is None or not version.progress_months:
        return []
    covered = {
        r.period_end for r in reports(session, agreement_id) if r.status != ReportStatus.RETURNED
    }
    return [
        end
        for end in due_dates(
            version.effective_date, version.progress_months, min(now.date(), version.expiry_date)
        )
        if end not in covered
    ]


def submit_report(
    session: Session,
    *,
    agreement_id: int,
    period_end: dt.date,
    work_done: str,
    team_changes: str,
    output_ids: Sequence[int],
    by: User,
    now: dt.datetime,
    final: bool = False,
) -> ProgressReport:
    """Submit the report of a period of the schedule, or the final report (any day up to the
    agreement's end, also once it has expired or was terminated)."""
    agreement, version = personnel_version(
        session,
        agreement_id,
        by,
        AuditType.PROGRESS_REPORT_SUBMIT,
        statuses=CAN_REPORT if final else LIVE_AGREEMENT,
    )
    errors: dict[str, str] = {}
    done = clean_text(work_done, "work_done", errors, max_length=20_000)
    changes = clean_text(team_changes, "team_changes", errors, max_length=5_000, required=False)
    if final:
        if period_end > version.expiry_date or period_end < version.effective_date:
            errors["period_end"] = "The final report ends within the agreement's term."
        elif any(
            r.final and r.status != ReportStatus.RETURNED for r in reports(session, agreement.id)
        ):
            errors["period_end"] = "This agreement already has a final report."
    elif not version.progress_months:
        errors["agreement"] = "This agreement asks for no progress reports."
    elif period_end not in due_dates(
        version.effective_date, version.progress_months, version.expiry_date
    ):
        errors["period_end"] = "Not a reporting period of this agreement."
    elif any(
        r.period_end == period_end and r.status != ReportStatus.RETURNED
        for r in reports(session, agreement.id)
    ):
        errors["period_end"] = "This period already has a report."
    ids = sorted(set(output_ids))
    found = {o.id: o for o in session.scalars(select(Output).where(Output.id.in_(ids)))}
    wrong = [
        i
        for i in ids
        if i not in found
        or found[i].agreement_id != agreement.id
        or found[i].status not in REPORTABLE_OUTPUTS
    ]
    if wrong:
        errors["output_ids"] = (
            "Only outputs of this agreement released to the team or "
            f"published can be listed: not {', '.join(map(str, wrong))}."
        )
    if errors:
        raise ValidationFailed("The progress report was not submitted.", errors)
    report = ProgressReport(
        agreement_id=agreement.id,
        period_end=period_end,
        work_done=done,
        team_changes=changes,
        output_ids=ids,
        final=final,
        status=ReportStatus.SUBMITTED,
        submitted_by_id=by.id,
        submitted_at=now,
        comment="",
    )
    session.add(report)
    session.flush()
    _record(
        session,
        AuditType.PROGRESS_REPORT_SUBMIT,
        report,
        by=by,
        now=now,
        detail={"period_end": period_end.isoformat(), "output_ids": ids, "final": final},
    )
    return report


def decide_report(
    session: Session, *, report_id: int, accept: bool, comment: str, by: Actor, now: dt.datetime
) -> ProgressReport:
    event = AuditType.PROGRESS_REPORT_ACCEPT if accept else AuditType.PROGRESS_REPORT_RETURN
    authz.require(
        by,
        Permission.AGREEMENT_REVIEW,
        audit={"event_type": event, "target_type": "progress_report", "target_id": report_id},
    )
    report = session.get(ProgressReport, report_id)
    if report is None:
        raise NotFound(f"There is no progress report {report_id}.")
    if by.id == report.submitted_by_id:
        raise PermissionDenied(
            "Another privacy officer decides on a report you wrote.",
            audit={
                "event_type": event,
                "target_type": "progress_report",
                "target_id": report_id,
                "agreement_id": report.agreement_id,
            },
        )
    action = ReportAction.ACCEPT if accept else ReportAction.RETURN
    LIFECYCLE.check(report, action)
    errors: dict[str, str] = {}
    text = clean_text(comment, "comment", errors, max_length=5_000, required=not accept)
    if errors:
        raise ValidationFailed("Say what the report lacks.", errors)
    report.decided_by_id, report.decided_at, report.comment = by.id, now, text
    LIFECYCLE.apply(
        session, report, action, by=by, record=_fields(report, now=now, detail={"comment": text})
    )
    return report


def _fields(
    report: ProgressReport, *, now: dt.datetime, detail: dict[str, object]
) -> dict[str, Any]:
    return {
        "agreement_id": report.agreement_id,
        "target_type": "progress_report",
        "target_id": report.id,
        "clause": "reporting.progress_months",
        "detail": detail,
        "now": now,
    }


def _record(
    session: Session,
    event: AuditType,
    report: ProgressReport,
    *,
    by: Actor,
    now: dt.datetime,
    detail: dict[str, object],
) -> None:
    audit.record(session, event, by=by, **_fields(report, now=now, detail=detail))
