"""Analysis runs: submitting one inside an approved scope, and who may see and download what.

`submit_run` passes the scope gate (analysis/scope.py) before anything is read, writes
the run as queued with its `analysis:submit` event, and asks for the queue message to be sent
once the caller's transaction commits. Workers execute runs (analysis/runner.py).
The requester, output checkers and privacy officers may see a run (anyone else is answered as
for a run that does not exist: `visible_run`); the requester reads its
figures only inside the service while the agreement is in force and they hold a current grant
for its purpose. A run's files leave only as the files of the output it became, under the
output's rule (outputs/files.py), and every download and refusal is recorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from governance import authz
from governance.agreements.analysis_kind_model import AnalysisKind
from governance.agreements.common import actor_key
from governance.agreements.models import Agreement, AgreementStatus, AgreementVersion
from governance.analysis.models import AnalysisRun, RunStatus
from governance.analysis.scope import check_scope
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission, rules
from governance.datasets.models import Dataset
from governance.identity.models import User
from governance.kernel import jobs
from governance.kernel.errors import NotFound, ValidationFailed
from governance.kernel.text import clean_line
from governance.outputs import files as output_files
from governance.outputs.files import FILE_KINDS, Download
from governance.outputs.models import Output


def submit_run(
    session: Session,
    *,
    agreement_id: int,
    kind: str,
    parameters: Mapping[str, Any],
    datasets: Mapping[str, int],
    cohort_id: int | None = None,
    title: str = "",
    by: User,
    now: dt.datetime,
) -> AnalysisRun:
    """Queue an analysis after the scope gate allowed it; the message is sent after commit."""
    scope = check_scope(
        session,
        agreement_id=agreement_id,
        kind=kind,
        parameters=parameters,
        datasets=datasets,
        cohort_id=cohort_id,
        by=by,
        now=now,
    )
    errors: dict[str, str] = {}
    name = (
        clean_line(title, "title", errors, max_length=200, required=False)
        or (f"{AnalysisKind.label_of(kind)}: {scope.version.title}")[:200]
    )
    if errors:
        raise ValidationFailed("The title is not valid; nothing was saved.", errors)
    settings = session.info.get("settings") or {}
    run = AnalysisRun(
        requested_by_id=by.id,
        agreement_id=agreement_id,
        agreement_version=scope.version.number,
        kind=kind,
        purpose=kind,
        title=name,
        parameters=scope.parameters,
        datasets=scope.datasets,
        cohort_file_id=scope.cohort.id if scope.cohort else None,
        status=RunStatus.QUEUED,
        progress=0.0,
        progress_message="waiting for a worker",
        attempts=0,
        max_attempts=int(settings.get("ANALYSIS_MAX_ATTEMPTS", 3)),
        created_at=now,
        enqueued_at=now,
        reason="",
    )
    session.add(run)
    session.flush()
    audit.record(
        session,
        AuditType.ANALYSIS_SUBMIT,
        by=by,
        agreement_id=agreement_id,
        agreement_version=scope.version.number,
        target_type="analysis_run",
        target_id=run.id,
        clause="scope.permitted_uses",
        now=now,
        rule=",".join(d.rule or "" for d in scope.decisions.values()) or None,
        detail={
            "kind": kind,
            "parameters": scope.parameters,
            "datasets": scope.datasets,
            "columns": scope.columns,
            "cohort_file_id": run.cohort_file_id,
        },
    )
    jobs.enqueue_after_commit(session, run.id)
    return run


def oversees(user: User) -> bool:
    """Output checkers and privacy officers see every run (they check what leaves)."""
    return authz.can(user, Permission.OUTPUT_CHECK)


def runs_visible_to(user: User) -> Select[AnalysisRun]:
    """The one rule of who sees a run: its requester; output checkers and privacy officers
    every run (`oversees`)."""
    query = select(AnalysisRun)
    if not oversees(user):
        query = query.where(AnalysisRun.requested_by_id == user.id)
    return query


# Who sees a run (`runs_visible_to`), as the trail names the rule and as the person reads it.
VISIBILITY_RULE = "run-requester"
WHO_SEES = "Only the analyst who asked for a run, output checkers and privacy officers see it."


def visible_run(
    session: Session,
    run_id: int,
    user: User,
    *,
    event: AuditType = AuditType.ANALYSIS_DOWNLOAD,
) -> AnalysisRun:
    """The run if `user` may see it, for `event` (looking at it, taking its files, reviewing
    its linkage); else 404 worded as for an id that names nothing (`unseen`)."""
    run = session.scalars(runs_visible_to(user).where(AnalysisRun.id == run_id)).first()
    if run is not None:
        return run
    hidden = session.get(AnalysisRun, run_id)
    raise unseen(event, "analysis run", run_id, hidden)


def unseen(event: AuditType, noun: str, object_id: int, hidden: AnalysisRun | None) -> NotFound:
    """404 for a run, or a part of one (`noun`), that the person may not see, worded as for an
    id that names nothing, so that no answer tells which ids exist; recorded as a denied
    `event` either way, the trail telling the two apart (`audit.unseen`): `hidden` is the
    run that exists, None when nothing has the id."""
    return audit.unseen(
        noun,
        object_id,
        event,
        hidden=None if hidden is None else {"agreement_id": hidden.agreement_id},
        rule=VISIBILITY_RULE,
        who_sees=WHO_SEES,
    )


def conflicts_seen_by(
    session: Session, run: AnalysisRun, user: User
) -> list[dict[str, Any] | None]:
    """The earlier releases a differencing refusal conflicts with, as this person may see
    them: named (run, agreement, population) when they may see that earlier run
    (`runs_visible_to`), otherwise None: only that one exists. The numbers of people (the
    earlier population's size, how many on each side) only to those who oversee runs: to
    the analyst they are the count the refusal keeps back, less the total they were shown."""
    counted = oversees(user)
    shown: list[dict[str, Any] | None] = []
    for record in run.conflicts or []:
        earlier = session.scalars(
            runs_visible_to(user).where(AnalysisRun.id == record.get("run_id"))
        ).first()
        if earlier is None:
            shown.append(None)
            continue
        agreement = session.get(Agreement, earlier.agreement_id)
        shown.append(
            {
                "run_id": earlier.id,
                "title": earlier.title,
                "agreement": agreement.reference if agreement else "",
                "label": record.get("label"),
                "cells": record.get("cells"),
                "outcome_cells": record.get("outcome_cells"),
                **{
                    key: record.get(key) if counted else None
                    for key in ("size", "only_in_new", "only_in_released")
                },
            }
        )
    return shown


def download(session: Session, *, run_id: int, what: str, by: User, now: dt.datetime) -> Download:
    """The PDF or CSV of the output the run became, under the output's one rule for its files
    (outputs/files.py): nobody takes a run's report away except as its output's checked
    revision, so the run's routes and the output's hand out the same bytes to the same
    people. Recorded as `output:download` before it is sent; a refusal too (403; 404, recorded
    as `analysis:download`, to someone who may not see the run, as for a missing id)."""
    if what not in FILE_KINDS:
        raise NotFound(f"There is no {what!r} download.")
    run = visible_run(session, run_id, by)
    output = output_of(session, run.id) if run.status == RunStatus.SUCCEEDED else None
    if output is None:
        raise NotFound(
            "This run has no files: it has not finished, it was refused, or its figures did "
            "not go to output checking."
        )
    return output_files.download(session, output_id=output.id, kind=what, by=by, now=now)


def figures_refused(session: Session, run: AnalysisRun, by: User, now: dt.datetime) -> str | None:
    """None if the run's figures (disclosure-controlled, not yet released) may be shown to
    `by` inside the service now, else the reason, recorded as a denied `analysis:download` of
    the figures. The analyst reads them only in the secure environment: the agreement in
    force and a current grant for the run's purpose (outputs/files.py)."""
    if run.status != RunStatus.SUCCEEDED or not run.result:
        return None
    agreement = session.get(Agreement, run.agreement_id)
    requester = session.get(User, run.requested_by_id)
    if agreement is None or requester is None:
        return None
    # Who asked for the run made it, and so did whoever produced or corrected its output.
    output = output_of(session, run.id)
    made_by = {actor_key(requester), *(output.contributors if output is not None else ())}
    return output_files.figures_withheld(
        session,
        by,
        agreement=agreement,
        purpose=run.purpose,
        independent=rules.independent_of_the_project(
            by, agreement, run.agreement_version, made_by, actor_key(by)
        ),
        now=now,
        view={
            "event_type": AuditType.ANALYSIS_DOWNLOAD,
            "agreement_id": run.agreement_id,
            "agreement_version": run.agreement_version,
            "target_type": "analysis_run",
            "target_id": run.id,
        },
    )


def output_of(session: Session, run_id: int) -> Output | None:
    """The output a finished run handed to output checking, if any (pages and the API)."""
    return session.scalars(select(Output).where(Output.run_id == run_id)).first()


def agreements_to_run_under(
    session: Session, user: User
) -> list[tuple[Agreement, AgreementVersion]]:
    """Active agreements naming the analyst as personnel, with their version in force."""
    found = []
    for agreement in session.scalars(
        select(Agreement)
        .where(Agreement.status == AgreementStatus.ACTIVE)
        .order_by(Agreement.reference)
    ):
        version = agreement.current_version
        if version is not None and version.is_personnel(user.id) and version.permitted_uses:
            found.append((agreement, version))
    return found


def datasets_of(session: Session, version: AgreementVersion) -> list[Dataset]:
    """The datasets the version covers, in its order."""
    return [d for d in (session.get(Dataset, i) for i in version.covered_dataset_ids) if d]


def run_parts(session: Session, run: AnalysisRun) -> tuple[User | None, Agreement | None]:
    """Who asked for the run and under which agreement (the run page names both)."""
    return session.get(User, run.requested_by_id), session.get(Agreement, run.agreement_id)
