"""The one way a status changes: a lifecycle is a table of transitions, (state, action) ->
(next state, permission, audit event type), and `Lifecycle.apply` is the only code that writes
a status (tests/test_lifecycle_guards.py fails on any other assignment).

`apply` checks, in this order, that the state allows the action (409, nothing written), that
the actor holds the transition's permission (403, the refusal recorded), then sets the status
and appends the transition's audit event in the caller's transaction, so the change and its
record commit or roll back together. Object-level rules (own request, steward of this
dataset...) are checked by the service before it calls `apply`.

A transition with neither permission nor object rule is taken by the system, never by a person:
the scheduler, the worker, or the service itself as a consequence of another transition
(releasing an output as it clears). A transition whose event is None is recorded by the event
of the transition that causes it (an agreement version is approved under `agreement:approve`).
Runs are claimed and finished by compare-and-set UPDATE statements (several workers race for
them); `Lifecycle.update` builds those from the same table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import Update, update
from sqlalchemy.orm import Session

from governance import authz
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.identity.actors import Actor
from governance.kernel.errors import InvalidTransition

S = TypeVar("S", bound=StrEnum)
A = TypeVar("A", bound=StrEnum)

# The audit fields that identify what a refused transition was aimed at.
_REFUSAL_FIELDS = ("target_type", "target_id", "agreement_id", "agreement_version", "dataset_id")


@dataclass(frozen=True)
class Transition(Generic[S, A]):
    source: S
    action: A
    target: S
    permission: Permission | None
    event: AuditType | None
    when: str = ""
    rule: str = ""  # the object rules (governance/authz/rules.py) the service checks first

    @property
    def by_system(self) -> bool:
        return self.permission is None and not self.rule


Refusal = Callable[[Any, Any, Any, list[str]], InvalidTransition]


def refused_in_state(
    what: str, state: str, action: StrEnum, allowed: list[str]
) -> InvalidTransition:
    """The 409 of an action the state forbids, in words a person reads: 'Output OUT-00008 is
    published: "no concerns" is not possible now.' The action is quoted as its name (some are
    identifiers such as `no_concerns`, which no verb phrase around them reads well); `allowed`
    keeps the identifiers for API clients."""
    words = str(action.value).replace("_", " ")
    return InvalidTransition(f'{what} is {state}: "{words}" is not possible now.', allowed=allowed)


def _default_refusal(
    obj: Any, state: StrEnum, action: StrEnum, allowed: list[str]
) -> InvalidTransition:
    return refused_in_state(f"This {type(obj).__name__}", state.value, action, allowed)


def already(what: str, *, tense: str = "was") -> Refusal:
    """The 409 of a decision taken once: "This request was already approved."."""

    def refusal(obj: Any, state: StrEnum, action: StrEnum, allowed: list[str]) -> InvalidTransition:
        return InvalidTransition(f"This {what} {tense} already {state}.")

    return refusal


class Lifecycle(Generic[S, A]):
    """One noun's states, actions and transitions, and the one function that applies them.

    `stored` maps a lifecycle state to the value kept in the status column when the two differ
    (an agreement amending is stored as active; the state is read back by `state_of`)."""

    def __init__(
        self,
        noun: str,
        model: type,
        states: type[S],
        actions: type[A],
        transitions: Iterable[Transition[S, A]],
        *,
        initial: Iterable[S],
        state_of: Callable[[Any], S] | None = None,
        stored: Mapping[S, StrEnum] | None = None,
        refusal: Refusal = _default_refusal,
        people_only_in_refusal: bool = True,
    ) -> None:
        self.noun, self.model, self.states, self.actions = noun, model, states, actions
        self.transitions: tuple[Transition[S, A], ...] = tuple(transitions)
        self.initial: frozenset[S] = frozenset(initial)  # the states a new row is written in
        self._state_of = state_of
        self._stored = dict(stored or {})
        self._refusal = refusal
        self._people_only = people_only_in_refusal
        for t in self.transitions:
            if (
                not isinstance(t.source, states)
                or not isinstance(t.target, states)
                or not isinstance(t.action, actions)
            ):
                raise TypeError(f"{noun}: {t} mixes states or actions of another lifecycle")
            if not t.by_system and t.event is None:
                raise TypeError(f"{noun}: {t} is a person's action: it needs its audit event")

    # Reading the table

    def state_of(self, obj: Any) -> S:
        if self._state_of is not None:
            return self._state_of(obj)
        return self.states(getattr(obj, "status"))  # noqa: B009 (the one generic reader)

    def stored(self, state: S) -> StrEnum:
        return self._stored.get(state, state)

    def steps(self, state: S, action: A) -> list[Transition[S, A]]:
        return [t for t in self.transitions if t.source == state and t.action == action]

    def allowed_actions(self, state: S) -> list[A]:
        return list(dict.fromkeys(t.action for t in self.transitions if t.source == state))

    def people_actions(self, state: S) -> list[A]:
        return list(
            dict.fromkeys(
                t.action for t in self.transitions if t.source == state and not t.by_system
            )
        )

    def check(self, obj: Any, action: A) -> list[Transition[S, A]]:
        """The transitions the action can take from the object's state; 409 (naming the
        actions the state allows) if there is none. Writes nothing."""
        state = self.state_of(obj)
        steps = self.steps(state, action)
        if not steps:
            allowed = (
                self.people_actions(state) if self._people_only else self.allowed_actions(state)
            )
            raise self._refusal(obj, state, action, [a.value for a in allowed])
        return steps

    # Changing a state

    def apply(
        self,
        session: Session,
        obj: Any,
        action: A,
        *,
        by: Actor,
        target: S | None = None,
        record: Mapping[str, Any] | None = None,
    ) -> Transition[S, A]:
        """Take `action` on `obj`: 409 if its state forbids it, 403 without the transition's
        permission, else set its status and append the transition's audit event (`record`
        holds the event's fields: target, agreement, detail, now...).

        When an action can lead to more than one state, the service names the `target`; it
        must be one the table lists for the action (anything else is a programming error)."""
        steps = self.check(obj, action)
        step = self._choose(obj, action, steps, target)
        self._authorise(by, step, record)
        setattr(obj, "status", self.stored(step.target))  # noqa: B010 (the one writer)
        self._record(session, step, by, record)
        return step

    def update(self, action: A, *where: Any, target: S | None = None, **values: Any) -> Update:
        """The compare-and-set statement that takes `action` on the rows `where` selects,
        only while they are in a state the action leaves from (for rows several processes
        race to change: the caller checks the row count and then calls `record`)."""
        steps = [
            t
            for t in self.transitions
            if t.action == action and (target is None or t.target == target)
        ]
        targets = {t.target for t in steps}
        if len(targets) != 1:
            raise RuntimeError(
                f"{self.noun}: {action.value} leads to {sorted(targets)}; name one target"
            )
        column = getattr(self.model, "status")  # noqa: B009
        sources = sorted({self.stored(t.source) for t in steps})
        return (
            update(self.model)
            .where(column.in_(sources), *where)
            .values({"status": self.stored(steps[0].target), **values})
            .execution_options(synchronize_session=False)
        )

    def record(
        self,
        session: Session,
        action: A,
        *,
        by: Actor,
        source: S,
        target: S | None = None,
        record: Mapping[str, Any] | None = None,
    ) -> None:
        """The audit event of a transition that `update` applied."""
        steps = self.steps(source, action)
        step = self._choose(None, action, steps, target)
        self._record(session, step, by, record)

    def _choose(
        self, obj: Any, action: A, steps: list[Transition[S, A]], target: S | None
    ) -> Transition[S, A]:
        if target is None and len(steps) == 1:
            return steps[0]
        for step in steps:
            if step.target == target:
                return step
        raise RuntimeError(
            f"{self.noun}: {action.value} cannot lead from "
            f"{steps[0].source.value if steps else '?'} to "
            f"{target.value if target else 'an unnamed state'}"
        )

    @staticmethod
    def _authorise(by: Actor, step: Transition[S, A], record: Mapping[str, Any] | None) -> None:
        if step.permission is None:
            return
        refusal = {
            "event_type": step.event,
            **{k: record[k] for k in _REFUSAL_FIELDS if record and k in record},
        }
        authz.require(by, step.permission, audit=refusal)

    def _record(
        self, session: Session, step: Transition[S, A], by: Actor, record: Mapping[str, Any] | None
    ) -> None:
        if step.event is None:
            if record is not None:
                raise RuntimeError(
                    f"{self.noun}: {step.action.value} writes no event of its "
                    "own; its cause records it"
                )
            return
        if record is None:
            raise RuntimeError(f"{self.noun}: {step.action.value} needs its audit fields")
        audit.record(session, step.event, by=by, **record)


def markdown(lifecycles: Iterable[Lifecycle[Any, Any]], notes: Mapping[str, str]) -> str:
    """Every state and transition of every lifecycle, for a privacy officer to review."""
    lines = [
        "# Lifecycles",
        "",
        "Generated from the transition tables by `python -m governance.lifecycle_docs > "
        "docs/lifecycles.md`;",
        "a test fails if this page and the code disagree. Every status changes through one",
        "of these transitions (`Lifecycle.apply` in `governance/lifecycle.py`): an action the",
        "state does not allow is refused with 409 and writes nothing; a person without the",
        "permission is refused with 403 and the refusal is recorded. A permission of",
        '"(system)" means the scheduler, the worker or the service itself takes the',
        'transition; an event of "(by its cause)" means the event of the transition that',
        "causes it records it.",
        "",
    ]
    for lifecycle in lifecycles:
        lines += [f"## {lifecycle.noun}", ""]
        if lifecycle.noun in notes:
            lines += [notes[lifecycle.noun], ""]
        lines += [
            "States: " + ", ".join(f"`{s.value}`" for s in lifecycle.states) + "; a new "
            f"{lifecycle.noun} starts "
            + " or ".join(f"`{s.value}`" for s in lifecycle.states if s in lifecycle.initial)
            + ".",
            "",
            "| from | action | to | permission | object rule | audit event | when |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for t in lifecycle.transitions:
            permission = (
                f"`{t.permission.value}`" if t.permission else ("(system)" if t.by_system else "-")
            )
            event = f"`{t.event.value}`" if t.event else "(by its cause)"
            lines.append(
                f"| {t.source.value} | {t.action.value} | {t.target.value} | "
                f"{permission} | {t.rule or '-'} | {event} | {t.when} |"
            )
        lines.append("")
    return "\n".join(lines)
