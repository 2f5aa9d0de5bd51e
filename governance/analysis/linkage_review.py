"""Probabilistic linkage's report and clerical review queue, kept with the run.

The pairs between an analysis' thresholds wait for a person to say whether the cohort row and
the register person are the same. Comparing them means reading direct identifiers, so opening
the queue reads the register's identifier columns through the data door (decided over the
person's grants for the run's purpose and recorded; refused and recorded without the grant)
and the cohort file's through its own door (the uploader only); deciding a pair asks the door
the same question. Nothing of either side is stored here: only row numbers, person keys,
scores and decisions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import data_door
from governance.analysis.linkage_model import LinkageReport, LinkageReviewPair, ReviewDecision
from governance.analysis.models import AnalysisRun
from governance.analysis.runs import runs_visible_to, unseen, visible_run
from governance.audit import service as audit
from governance.audit.models import AuditType, Outcome
from governance.identity.models import User
from governance.kernel.errors import InvalidTransition, NotFound, ValidationFailed

REGISTER_TABLE = "index_events"
REGISTER_COLUMNS = ("person_id", "name", "date_of_birth", "sex")
COHORT_COLUMNS = ("name", "date_of_birth", "sex")


def keep(session: Session, *, run: AnalysisRun, linkage: dict[str, Any]) -> None:
    """Store the report and the queue with the finished run (same transaction)."""
    session.add(LinkageReport(run_id=run.id, report=linkage["report"]))
    for pair in linkage["review"]:
        session.add(
            LinkageReviewPair(
                run_id=run.id,
                agreement_id=run.agreement_id,
                cohort_row=int(pair["cohort_row"]),
                person_key=str(pair["person_id"]),
                match_weight=float(pair["match_weight"]),
                match_probability=float(pair["match_probability"]),
                why=str(pair["why"])[:120],
            )
        )


def report_of(session: Session, run_id: int) -> dict[str, Any] | None:
    row = session.scalar(select(LinkageReport).where(LinkageReport.run_id == run_id))
    return None if row is None else row.report


def _run(session: Session, run_id: int, by: User, event: AuditType) -> AnalysisRun:
    """The run as `by` sees it (404, recorded as `event`, as for a missing id), with its
    linkage (404)."""
    return _linked(session, visible_run(session, run_id, by, event=event))


def _linked(session: Session, run: AnalysisRun) -> AnalysisRun:
    if REGISTER_TABLE not in (run.datasets or {}) or report_of(session, run.id) is None:
        raise NotFound(f"Analysis {run.id} has no probabilistic linkage.")
    return run


def _require_identifiers(
    session: Session, run: AnalysisRun, by: User, now: dt.datetime, event: AuditType
) -> int:
    """The door decides whether this person holds the register's identifier columns for the
    run's purpose; a refusal raises with its audit record."""
    dataset_id = int(run.datasets[REGISTER_TABLE])
    data_door.check_read(
        session,
        by=by,
        agreement_id=run.agreement_id,
        dataset_id=dataset_id,
        columns=REGISTER_COLUMNS,
        purpose=run.kind,
        now=now,
        event=event,
        context={"analysis_run": run.id, "clerical_review": True},
    )
    return dataset_id


@dataclass
class ReviewRow:
    pair: LinkageReviewPair
    cohort: dict[str, Any]
    register: dict[str, Any]


def open_queue(session: Session, *, run_id: int, by: User, now: dt.datetime) -> list[ReviewRow]:
    """The pairs with both sides' identifiers, read through the door and recorded."""
    run = _run(session, run_id, by, AuditType.LINKAGE_REVIEW_OPEN)
    dataset_id = _require_identifiers(session, run, by, now, AuditType.LINKAGE_REVIEW_OPEN)
    pairs = list(
        session.scalars(
            select(LinkageReviewPair)
            .where(LinkageReviewPair.run_id == run.id)
            .order_by(LinkageReviewPair.match_probability.desc(), LinkageReviewPair.id)
        )
    )
    context = {"analysis_run": run.id, "clerical_review": True}
    register = data_door.load_columns(
        session,
        by=by,
        agreement_id=run.agreement_id,
        dataset_id=dataset_id,
        columns=REGISTER_COLUMNS,
        purpose=run.kind,
        now=now,
        context=context,
    ).frame
    if run.cohort_file_id is None:
        raise NotFound(f"Analysis {run_id} has no cohort file.")
    cohort = data_door.load_cohort(
        session,
        by=by,
        agreement_id=run.agreement_id,
        cohort_id=run.cohort_file_id,
        columns=COHORT_COLUMNS,
        purpose=run.kind,
        now=now,
        context=context,
    ).frame
    wanted = {form for pair in pairs for form in key_forms(pair.person_key)}
    register = register.assign(_key=register["person_id"].astype(str))
    register = register[register["_key"].isin(wanted)].drop_duplicates("person_id")
    people = {row.pop("_key"): row for row in register.to_dict(orient="records")}
    audit.record(
        session,
        AuditType.LINKAGE_REVIEW_OPEN,
        by=by,
        outcome=Outcome.ALLOWED,
        now=now,
        agreement_id=run.agreement_id,
        target_type="analysis_run",
        target_id=run.id,
        detail={"pairs": len(pairs), "undecided": sum(p.decision is None for p in pairs)},
    )
    return [
        ReviewRow(
            pair=pair,
            cohort=_shown(cohort.iloc[pair.cohort_row].to_dict())
            if pair.cohort_row < len(cohort)
            else {},
            register=_shown(
                next((people[k] for k in key_forms(pair.person_key) if k in people), {})
            ),
        )
        for pair in pairs
    ]


def key_forms(stored: str) -> tuple[str, ...]:
    """The register keys a stored pair may name: its own text, and for "7.0" also "7".
    Pairs queued while integer keys with a gap reached the engine as floats were stored as
    "7.0"; the register's integer keys are now read as integers, gaps and all ("7")."""
    whole, dot, fraction = stored.partition(".")
    if dot and fraction == "0" and whole.lstrip("-").isdigit():
        return stored, whole
    return (stored,)


def _shown(values: dict[str, Any]) -> dict[str, str]:
    return {
        key: (value.date().isoformat() if isinstance(value, pd.Timestamp) else str(value))
        for key, value in values.items()
        if key in COHORT_COLUMNS
    }


def decide(
    session: Session, *, pair_id: int, decision: str, by: User, now: dt.datetime
) -> LinkageReviewPair:
    """Record whether the pair is one person; once decided, a pair stays decided (409)."""
    event = AuditType.LINKAGE_REVIEW_DECIDE
    pair = session.get(LinkageReviewPair, pair_id)
    seen = None
    if pair is not None:
        seen = session.scalars(runs_visible_to(by).where(AnalysisRun.id == pair.run_id)).first()
    if pair is None or seen is None:
        # A pair of a run the person may not see is answered as one that does not exist.
        hidden = session.get(AnalysisRun, pair.run_id) if pair else None
        raise unseen(event, "linkage pair", pair_id, hidden)
    run = _linked(session, seen)
    _require_identifiers(session, run, by, now, AuditType.LINKAGE_REVIEW_DECIDE)
    if decision not in {d.value for d in ReviewDecision}:
        raise ValidationFailed(
            "Say whether the two records are the same person.",
            {"decision": "Choose same person or different people."},
        )
    if pair.decision is not None:
        raise InvalidTransition(
            f"This pair was already decided ({ReviewDecision(pair.decision).label}).",
            allowed=[],
        )
    pair.decision = ReviewDecision(decision)
    pair.decided_by_id = by.id
    pair.decided_at = now
    audit.record(
        session,
        AuditType.LINKAGE_REVIEW_DECIDE,
        by=by,
        outcome=Outcome.ALLOWED,
        now=now,
        agreement_id=run.agreement_id,
        target_type="analysis_run",
        target_id=run.id,
        detail={
            "pair": pair.id,
            "decision": decision,
            "match_probability": pair.match_probability,
        },
    )
    return pair
