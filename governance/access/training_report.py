"""The compliance manager's training completion report: for every person authorised under an
agreement in force, each course the agreement's laws require, whether they are current, lapse
within the window (90 days by default) or have lapsed, and which law asks for the course.

The seeds' Data Compliance Manager "oversees annual audits and staff trainings": this is the
training half of that audit, exported as CSV headed with the audit chain head it was read at
(so a copy can be placed in the trail), and its export recorded.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.access.conditions import covered_until
from governance.agreements.law_model import BASELINE_COURSES
from governance.agreements.models import Agreement, AgreementStatus
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.identity.actors import Actor
from governance.identity.models import TrainingCourse, TrainingRecord
from governance.kernel.reports.tabular import chain_head_line, iter_csv

WINDOW = dt.timedelta(days=90)
IN_FORCE = (AgreementStatus.APPROVED, AgreementStatus.EXECUTED, AgreementStatus.ACTIVE)
COLUMNS = ("person", "email", "agreement", "course", "required_by", "status", "current_until")


@dataclass(frozen=True)
class TrainingLine:
    person: str
    email: str
    agreement: str
    course: str
    required_by: str
    status: str  # current, lapses_soon, lapsed
    current_until: str  # the first day not covered, or empty

    def cells(self) -> tuple[str, ...]:
        return (
            self.person,
            self.email,
            self.agreement,
            self.course,
            self.required_by,
            self.status,
            self.current_until,
        )


def training_lines(
    session: Session, *, today: dt.date, window: dt.timedelta = WINDOW
) -> list[TrainingLine]:
    agreements = session.scalars(
        select(Agreement).where(Agreement.status.in_(IN_FORCE)).order_by(Agreement.reference)
    ).all()
    periods: dict[tuple[int, str], list[tuple[dt.date, dt.date]]] = defaultdict(list)
    for user_id, course, start, stop in session.execute(
        select(
            TrainingRecord.user_id,
            TrainingRecord.course,
            TrainingRecord.completed_on,
            TrainingRecord.expires_on,
        )
    ):
        periods[(user_id, str(course))].append((start, stop))
    lines = []
    for agreement in agreements:
        version = agreement.current_version
        if version is None:
            continue
        required: dict[TrainingCourse, list[str]] = defaultdict(list)
        for course in BASELINE_COURSES:
            required[course].append("every agreement")
        for law in version.laws:
            for course in law.get("courses", []):
                required[TrainingCourse(course)].append(str(law["label"]))
        for person in version.personnel:
            for course in sorted(required, key=lambda c: c.label):
                until = covered_until(periods[(person.user_id, course.value)], today)
                status = (
                    "lapsed"
                    if until is None
                    else "lapses_soon"
                    if until <= today + window
                    else "current"
                )
                lines.append(
                    TrainingLine(
                        person.user.name,
                        person.user.email,
                        agreement.reference,
                        course.label,
                        "; ".join(required[course]),
                        status,
                        until.isoformat() if until else "",
                    )
                )
    return lines


STATUSES = ("current", "lapses_soon", "lapsed")


@dataclass(frozen=True)
class CourseSummary:
    """One required course, the laws that ask for it, and how many people are in each state."""

    course: str
    required_by: str
    counts: dict[str, int]

    @property
    def people(self) -> int:
        return sum(self.counts.values())


def summarise(lines: list[TrainingLine]) -> list[CourseSummary]:
    """Per course and the laws requiring it: how many are current, lapse soon, have lapsed."""
    counts = Counter(
        (line.course, law, line.status) for line in lines for law in line.required_by.split("; ")
    )
    pairs = sorted({(course, law) for course, law, _ in counts})
    return [
        CourseSummary(course, law, {s: counts[(course, law, s)] for s in STATUSES})
        for course, law in pairs
    ]


def export_training_report(
    session: Session, *, by: Actor, now: dt.datetime, period: str = ""
) -> Iterator[bytes]:
    """Check, record the export (same transaction as the caller's commit), then the CSV.
    `period` names the audit period the report was taken for, if any."""
    authz.require(
        by,
        Permission.AUDIT_EXPORT,
        audit={"event_type": AuditType.AUDIT_REPORT, "target_type": "training_report"},
    )
    lines = training_lines(session, today=now.date())
    audit.record(
        session,
        AuditType.AUDIT_REPORT,
        by=by,
        target_type="training_report",
        detail={
            "report": "training",
            "rows": len(lines),
            "lapsing_within_days": WINDOW.days,
            **({"period": period} if period else {}),
        },
        now=now,
    )
    seq, sha = audit.chain_head(session)
    return iter_csv(
        (line.cells() for line in lines),
        header=COLUMNS,
        preamble=[
            chain_head_line(seq, sha),
            f"training completion report at {now:%Y-%m-%d %H:%M} UTC"
            + (f" for the audit period {period}" if period else ""),
        ],
        trailer=True,
    )
