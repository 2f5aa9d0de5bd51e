"""The analysis run lifecycle, declared as data: a run is queued by its submission, claimed by
one worker, and ends succeeded, refused or failed; a run whose worker died is queued again
while attempts remain. Every transition is the system's (the worker or the reaper): a person
only submits."""

from __future__ import annotations

from enum import StrEnum

from governance.analysis.models import AnalysisRun, RunStatus
from governance.audit.models import AuditType
from governance.lifecycle import Lifecycle, Transition


class Action(StrEnum):
    CLAIM = "claim"
    COMPLETE = "complete"
    REFUSE = "refuse"
    REFUSE_AT_GATE = "refuse at the scope gate"
    FAIL = "fail"
    RETRY = "retry"
    GIVE_UP = "give up"
    RESEND = "resend"


_S = RunStatus

TRANSITIONS: list[Transition[RunStatus, Action]] = [
    Transition(
        _S.QUEUED,
        Action.CLAIM,
        _S.RUNNING,
        None,
        AuditType.ANALYSIS_START,
        "one worker wins the compare-and-set; a duplicate message finds nothing",
    ),
    Transition(
        _S.QUEUED,
        Action.RESEND,
        _S.QUEUED,
        None,
        AuditType.ANALYSIS_RETRY,
        "queued with no message on the queue: sent again",
    ),
    Transition(
        _S.RUNNING,
        Action.COMPLETE,
        _S.SUCCEEDED,
        None,
        AuditType.ANALYSIS_COMPLETE,
        "with its result, provenance, ledger populations and output",
    ),
    Transition(
        _S.RUNNING,
        Action.REFUSE,
        _S.REFUSED,
        None,
        AuditType.ANALYSIS_REFUSE,
        "the engine, the differencing ledger, or the gate with no event of its own refuses",
    ),
    Transition(
        _S.RUNNING,
        Action.REFUSE_AT_GATE,
        _S.REFUSED,
        None,
        None,
        "the scope gate or the data door refuses (their refusal is the event)",
    ),
    Transition(
        _S.RUNNING,
        Action.FAIL,
        _S.FAILED,
        None,
        AuditType.ANALYSIS_FAIL,
        "the engine or the worker fails",
    ),
    Transition(
        _S.RUNNING,
        Action.RETRY,
        _S.QUEUED,
        None,
        AuditType.ANALYSIS_RETRY,
        "the heartbeat stopped and attempts remain",
    ),
    Transition(
        _S.RUNNING,
        Action.GIVE_UP,
        _S.FAILED,
        None,
        AuditType.ANALYSIS_FAIL,
        "the heartbeat stopped after the last attempt",
    ),
]

LIFECYCLE: Lifecycle[RunStatus, Action] = Lifecycle(
    "analysis run", AnalysisRun, RunStatus, Action, TRANSITIONS, initial=[RunStatus.QUEUED]
)
