"""The reaper: no analysis run is ever lost, whatever happens to its message or its worker.

Two ways a run can be stranded, both noticed from the run rows (the source of truth):
* running, but its heartbeat is older than ANALYSIS_HEARTBEAT_TIMEOUT: the worker died (killed,
  out of memory, machine lost). While attempts remain it is queued again (`analysis:retry`),
  otherwise it fails with "worker stopped responding after N attempts" (`analysis:fail`);
* queued for a while with no message on the queue: the message was never sent (the queue was
  down when the submission committed) or was lost; it is sent again (`analysis:retry`).
Every change is a conditional UPDATE, so a worker that beats at the last moment keeps its run.
Registered as the periodic job `analysis.reap`; workers also run it at start and every minute.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.analysis.models import AnalysisRun, RunStatus
from governance.analysis.run_lifecycle import LIFECYCLE, Action
from governance.audit.models import Outcome
from governance.identity.actors import System
from governance.kernel import jobs

log = logging.getLogger(__name__)
QUEUED_GRACE = dt.timedelta(seconds=60)


def _timeout(session: Session) -> dt.timedelta:
    settings = session.info.get("settings") or {}
    return dt.timedelta(seconds=int(settings.get("ANALYSIS_HEARTBEAT_TIMEOUT", 120)))


def reap_runs(session: Session, actor: System, now: dt.datetime) -> int:
    """Retry or fail runs whose worker died; re-send messages of runs left without one."""
    return _dead_workers(session, actor, now) + _lost_messages(session, actor, now)


def _dead_workers(session: Session, actor: System, now: dt.datetime) -> int:
    cutoff = now - _timeout(session)
    stale = session.scalars(
        select(AnalysisRun).where(
            AnalysisRun.status == RunStatus.RUNNING, AnalysisRun.heartbeat_at < cutoff
        )
    ).all()
    changed = 0
    for run in stale:
        retry = run.attempts < run.max_attempts
        reason = f"worker stopped responding after {run.attempts} attempts"
        action, values = (
            (
                Action.RETRY,
                {
                    "worker_id": None,
                    "enqueued_at": now,
                    "progress_message": "queued again: the worker stopped responding",
                },
            )
            if retry
            else (Action.GIVE_UP, {"finished_at": now, "reason": reason})
        )
        taken = session.execute(
            LIFECYCLE.update(
                action, AnalysisRun.id == run.id, AnalysisRun.heartbeat_at < cutoff, **values
            )
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            continue
        detail = {
            "worker": run.worker_id,
            "attempts": run.attempts,
            "max_attempts": run.max_attempts,
            "last_heartbeat": run.heartbeat_at.isoformat() if run.heartbeat_at else None,
            "reason": "worker stopped responding" if retry else reason,
        }
        fields = {
            "agreement_id": run.agreement_id,
            "agreement_version": run.agreement_version,
            "target_type": "analysis_run",
            "target_id": run.id,
            "now": now,
            "detail": detail,
        }
        if not retry:
            fields["outcome"] = Outcome.FAILURE
        LIFECYCLE.record(session, action, by=actor, source=RunStatus.RUNNING, record=fields)
        if retry:
            jobs.enqueue_after_commit(session, run.id)
        changed += 1
    return changed


def _lost_messages(session: Session, actor: System, now: dt.datetime) -> int:
    waiting = session.scalars(
        select(AnalysisRun).where(
            AnalysisRun.status == RunStatus.QUEUED, AnalysisRun.enqueued_at < now - QUEUED_GRACE
        )
    ).all()
    if not waiting:
        return 0
    try:
        pending = jobs.pending_run_ids(jobs.session_queue(session))
    except Exception:
        log.exception("the queue cannot be read; queued runs are checked again later")
        return 0
    changed = 0
    for run in waiting:
        if run.id in pending:
            continue
        run.enqueued_at = now
        LIFECYCLE.apply(
            session,
            run,
            Action.RESEND,
            by=actor,
            record={
                "agreement_id": run.agreement_id,
                "agreement_version": run.agreement_version,
                "target_type": "analysis_run",
                "target_id": run.id,
                "now": now,
                "detail": {"reason": "no queue message for a queued run; sent again"},
            },
        )
        jobs.enqueue_after_commit(session, run.id)
        changed += 1
    return changed
