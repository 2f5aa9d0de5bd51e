"""The output lifecycle, declared as data in one place: states, actions, who may take each
action and where it can lead. Services consult it; docs/output-lifecycle.md is generated from
it (`python -m governance.outputs.lifecycle`) and a test keeps the two in step.

Some actions have two possible outcomes (the first of two required approvals waits for the
second; accepting the last open flag clears the output): the table lists every outcome with
the condition that selects it, and a service may only move an output to a state the table
names for that action. Partner reviewers hold exactly two actions (flag, accept an answer):
there is no partner action that edits, rejects or blocks an output.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from governance.audit.models import AuditType
from governance.authz import Permission
from governance.identity.actors import Actor
from governance.kernel.errors import InvalidTransition
from governance.lifecycle import Lifecycle, Transition, refused_in_state
from governance.outputs.models import CheckDecision, Output, OutputStatus


class State(StrEnum):
    PRODUCED = "produced"
    SECOND_CHECK = "produced: awaiting a second check"
    RETURNED = "returned"
    CHECKED = "checked"
    IN_PREVIEW = "in partner preview"
    PREVIEW_ENDED = "preview ended: flags open"
    CLEARED = "cleared"
    RELEASED = "released"
    PUBLISHED = "published"


class Action(StrEnum):
    CHECK_APPROVE = "check_approve"
    CHECK_RETURN = "check_return"
    OPEN_PREVIEW = "open_preview"
    FLAG = "flag"
    ANSWER = "answer_flag"
    ACCEPT = "accept_answer"
    NO_CONCERNS = "no_concerns"
    RESOLVE = "resolve_flag"
    CLOSE_PREVIEW = "close_preview"
    RELEASE = "release"
    PUBLISH = "publish"
    CORRECT = "correct"


@dataclass(frozen=True)
class Rule:
    """Who may take an action. `permission` None means the service takes it on its own (in the
    same transaction as the action that makes it due) or the scheduler does."""

    permission: Permission | None
    who: str
    note: str = ""


@dataclass(frozen=True)
class Step:
    target: State
    when: str = ""


RULES: dict[Action, Rule] = {
    Action.CHECK_APPROVE: Rule(
        Permission.OUTPUT_CHECK,
        "output checker or privacy officer",
        "Never someone who produced or corrected the output or is named in the agreement's "
        "personnel; never the same checker twice on one revision. With "
        "`publication.two_checkers_required` the first approval waits for a second.",
    ),
    Action.CHECK_RETURN: Rule(
        Permission.OUTPUT_CHECK,
        "output checker or privacy officer",
        "Reasons are required; the output goes back to the analyst.",
    ),
    Action.OPEN_PREVIEW: Rule(
        None,
        "automatic",
        "When the checks are complete: the provider's partner reviewers are notified and "
        "have the agreement's preview window.",
    ),
    Action.FLAG: Rule(
        Permission.OUTPUT_PREVIEW,
        "partner reviewer of the provider",
        "Only while the window is open; kind `identifiable_information` or `factual_error`, "
        "pointing at a part of the output.",
    ),
    Action.ANSWER: Rule(
        Permission.ANALYSIS_RUN,
        "producer or project personnel",
        "`corrected` (only once the output was corrected after the flag) or `explained`.",
    ),
    Action.ACCEPT: Rule(
        Permission.OUTPUT_PREVIEW,
        "partner reviewer of the provider",
        "Accepts an answer; when every flag is answered and accepted the output clears at once.",
    ),
    Action.NO_CONCERNS: Rule(
        Permission.OUTPUT_PREVIEW,
        "partner reviewer of the provider",
        "Only while the window is open and no flag is open: the provider has no concerns, "
        "so the preview ends early and the output clears and is released at once.",
    ),
    Action.RESOLVE: Rule(
        Permission.OUTPUT_RESOLVE,
        "privacy officer",
        "Only after the window has ended, only an answered flag, with a note: a partner "
        "cannot hold an output back by not responding. Never someone of the project.",
    ),
    Action.CLOSE_PREVIEW: Rule(
        None, "scheduler", "When the preview window ends (`governance expire`)."
    ),
    Action.RELEASE: Rule(
        None, "automatic", "At once on clearing: the project team may download the files."
    ),
    Action.PUBLISH: Rule(
        Permission.OUTPUT_PUBLISH,
        "privacy officer",
        "Only if the agreement allows publication (`publication.publication_allowed`); "
        "never someone of the project.",
    ),
    Action.CORRECT: Rule(
        Permission.ANALYSIS_RUN,
        "producer or project personnel",
        "A new revision: its checks and preview start again. Only while the agreement is in "
        "force (409 once it is terminated or past its expiry date).",
    ),
}

_CORRECT = Step(State.PRODUCED, "checks and preview start again")
_ANSWER = (Step(State.PRODUCED),)

TRANSITIONS: dict[tuple[State, Action], tuple[Step, ...]] = {
    (State.PRODUCED, Action.CHECK_APPROVE): (
        Step(State.SECOND_CHECK, "two checkers are required"),
        Step(State.CHECKED),
    ),
    (State.PRODUCED, Action.CHECK_RETURN): (Step(State.RETURNED),),
    (State.PRODUCED, Action.ANSWER): _ANSWER,
    (State.PRODUCED, Action.CORRECT): (_CORRECT,),
    (State.SECOND_CHECK, Action.CHECK_APPROVE): (Step(State.CHECKED),),
    (State.SECOND_CHECK, Action.CHECK_RETURN): (Step(State.RETURNED),),
    (State.SECOND_CHECK, Action.ANSWER): (Step(State.SECOND_CHECK),),
    (State.SECOND_CHECK, Action.CORRECT): (_CORRECT,),
    (State.RETURNED, Action.ANSWER): (Step(State.RETURNED),),
    (State.RETURNED, Action.CORRECT): (_CORRECT,),
    (State.CHECKED, Action.OPEN_PREVIEW): (Step(State.IN_PREVIEW),),
    (State.IN_PREVIEW, Action.FLAG): (Step(State.IN_PREVIEW),),
    (State.IN_PREVIEW, Action.ANSWER): (Step(State.IN_PREVIEW),),
    (State.IN_PREVIEW, Action.ACCEPT): (
        Step(State.CLEARED, "every flag is answered and accepted"),
        Step(State.IN_PREVIEW),
    ),
    (State.IN_PREVIEW, Action.NO_CONCERNS): (Step(State.CLEARED),),
    (State.IN_PREVIEW, Action.CLOSE_PREVIEW): (
        Step(State.CLEARED, "no flag is open"),
        Step(State.PREVIEW_ENDED),
    ),
    (State.IN_PREVIEW, Action.CORRECT): (_CORRECT,),
    (State.PREVIEW_ENDED, Action.ANSWER): (Step(State.PREVIEW_ENDED),),
    (State.PREVIEW_ENDED, Action.ACCEPT): (
        Step(State.CLEARED, "no flag is left open"),
        Step(State.PREVIEW_ENDED),
    ),
    (State.PREVIEW_ENDED, Action.RESOLVE): (
        Step(State.CLEARED, "no flag is left open"),
        Step(State.PREVIEW_ENDED),
    ),
    (State.PREVIEW_ENDED, Action.CORRECT): (_CORRECT,),
    (State.CLEARED, Action.RELEASE): (Step(State.RELEASED),),
    (State.RELEASED, Action.PUBLISH): (Step(State.PUBLISHED),),
    (State.RELEASED, Action.CORRECT): (_CORRECT,),
}

# Stored status -> lifecycle state; PRODUCED splits on the approvals of the revision.
_STATE_OF_STATUS = {
    OutputStatus.PRODUCED: State.PRODUCED,
    OutputStatus.RETURNED: State.RETURNED,
    OutputStatus.CHECKED: State.CHECKED,
    OutputStatus.IN_PREVIEW: State.IN_PREVIEW,
    OutputStatus.PREVIEW_ENDED: State.PREVIEW_ENDED,
    OutputStatus.CLEARED: State.CLEARED,
    OutputStatus.RELEASED: State.RELEASED,
    OutputStatus.PUBLISHED: State.PUBLISHED,
}
STATUS_OF_STATE = {state: status for status, state in _STATE_OF_STATUS.items()}
STATUS_OF_STATE[State.SECOND_CHECK] = OutputStatus.PRODUCED

# Who may download the PDF and CSV in each state (besides checkers and privacy officers, who
# may in every state: checking is reading). Declared here so the generated page shows it.
PARTNER_SEES = frozenset(
    {State.IN_PREVIEW, State.PREVIEW_ENDED, State.CLEARED, State.RELEASED, State.PUBLISHED}
)
TEAM_DOWNLOADS = frozenset({State.RELEASED, State.PUBLISHED})


def state_of(output: Output) -> State:
    status = OutputStatus(output.status)
    if status == OutputStatus.PRODUCED and any(
        c.decision == CheckDecision.APPROVE for c in output.current_checks
    ):
        return State.SECOND_CHECK
    return _STATE_OF_STATUS[status]


def allowed_actions(state: State) -> list[Action]:
    return [action for (source, action) in TRANSITIONS if source == state]


def steps_of(output: Output, action: Action) -> tuple[Step, ...]:
    """The outcomes the action can have from the output's state; 409 naming the actions people
    can take if the state does not allow it."""
    LIFECYCLE.check(output, action)
    return TRANSITIONS[(state_of(output), action)]


EVENT_TYPES = {
    Action.CHECK_APPROVE: AuditType.OUTPUT_CHECK_APPROVE,
    Action.CHECK_RETURN: AuditType.OUTPUT_CHECK_RETURN,
    Action.OPEN_PREVIEW: AuditType.OUTPUT_PREVIEW_OPEN,
    Action.FLAG: AuditType.OUTPUT_FLAG,
    Action.ANSWER: AuditType.OUTPUT_FLAG_ANSWER,
    Action.ACCEPT: AuditType.OUTPUT_FLAG_ACCEPT,
    Action.NO_CONCERNS: AuditType.OUTPUT_NO_CONCERNS,
    Action.RESOLVE: AuditType.OUTPUT_FLAG_RESOLVE,
    Action.CLOSE_PREVIEW: AuditType.OUTPUT_PREVIEW_CLOSE,
    Action.RELEASE: AuditType.OUTPUT_RELEASE,
    Action.PUBLISH: AuditType.OUTPUT_PUBLISH,
    Action.CORRECT: AuditType.OUTPUT_CORRECT,
}


def _refusal(output: Any, state: State, action: Action, allowed: list[str]) -> InvalidTransition:
    return refused_in_state(f"Output {output.reference}", state.value, action, allowed)


LIFECYCLE: Lifecycle[State, Action] = Lifecycle(
    "output",
    Output,
    State,
    Action,
    [
        Transition(
            source,
            action,
            step.target,
            RULES[action].permission,
            EVENT_TYPES[action],
            step.when,
            "" if RULES[action].permission is None else RULES[action].who,
        )
        for (source, action), steps in TRANSITIONS.items()
        for step in steps
    ],
    initial=[State.PRODUCED],
    state_of=state_of,
    stored=STATUS_OF_STATE,
    refusal=_refusal,
)


def move(
    session: Session,
    output: Output,
    action: Action,
    target: State,
    *,
    by: Actor,
    detail: dict[str, Any] | None = None,
) -> None:
    """Take the action to `target` (a state the table names for it from the output's state),
    written with the action's audit event."""
    session.flush()
    LIFECYCLE.apply(
        session,
        output,
        action,
        by=by,
        target=target,
        record={
            "agreement_id": output.agreement_id,
            "agreement_version": output.agreement_version,
            "target_type": "output",
            "target_id": output.id,
            "detail": {
                "reference": output.reference,
                "revision": output.revision,
                **(detail or {}),
            },
        },
    )


def lifecycle_markdown() -> str:
    """The state x action table and the rules, for a privacy officer to review."""
    actions = list(Action)
    lines = [
        "# Output lifecycle",
        "",
        "Generated from `governance/outputs/lifecycle.py` by",
        "`python -m governance.outputs.lifecycle > docs/output-lifecycle.md`;",
        "a test fails if this file and the code disagree. Each cell names the state the",
        "action leads to (two states when a condition chooses: the first when it holds);",
        "a dash means the action is refused (409) in that state.",
        "",
        "| state | " + " | ".join(a.value for a in actions) + " |",
        "| --- | " + " | ".join("---" for _ in actions) + " |",
    ]
    for state in State:
        cells = [TRANSITIONS.get((state, a)) for a in actions]
        lines.append(
            f"| {state.value} | "
            + " | ".join(" / ".join(s.target.value for s in c) if c else "-" for c in cells)
            + " |"
        )
    lines += ["", "## Conditions", "", "| from | action | to | when |", "| --- | --- | --- | --- |"]
    for (state, action), steps in TRANSITIONS.items():
        for step in steps:
            if step.when:
                lines.append(
                    f"| {state.value} | {action.value} | {step.target.value} | {step.when} |"
                )
    lines += [
        "",
        "## Who may act",
        "",
        "| action | permission | who | rule |",
        "| --- | --- | --- | --- |",
    ]
    for action, rule in RULES.items():
        permission = f"`{rule.permission.value}`" if rule.permission else "(none: automatic)"
        lines.append(f"| {action.value} | {permission} | {rule.who} | {rule.note} |")
    lines += [
        "",
        "## Who may download the PDF and CSV",
        "",
        "Checkers and privacy officers in every state (checking is reading). The provider's "
        "partner reviewers in: "
        + ", ".join(s.value for s in State if s in PARTNER_SEES)
        + ". The project team (the producer and the agreement's personnel) in: "
        + ", ".join(s.value for s in State if s in TEAM_DOWNLOADS)
        + ", and once the agreement is no longer in force (terminated, or past its expiry "
        "date) only if the output was released before it ended. The analysis run's download "
        "routes hand out the output's files under the same rule (`outputs/files.py`). Each "
        "download is recorded as `output:download`, and each refusal too, with its rule; the "
        "public page serves only published outputs, without login.",
        "",
        "A person without the permission is refused with 403 before the state is "
        "considered, and the refusal is recorded in the audit trail; so is a check by someone "
        "who produced or corrected the output, a second approval by the same checker, and a "
        "flag or acceptance by a partner reviewer of another agency.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(lifecycle_markdown(), end="")
