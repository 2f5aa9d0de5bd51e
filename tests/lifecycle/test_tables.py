"""The lifecycle tables: complete, reachable, documented, and applied by one function that
refuses an illegal action (409) or a missing permission (403) without writing anything."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import governance.all_models  # noqa: F401  (every model on the registry)
from governance import lifecycle as lifecycle_module
from governance.identity.actors import System
from governance.kernel.db import Base
from governance.kernel.errors import InvalidTransition, PermissionDenied
from governance.lifecycle import Lifecycle
from governance.lifecycle_docs import LIFECYCLES, lifecycles_markdown

REPO = Path(__file__).resolve().parents[2]
# Lifecycles whose state is the status column alone (agreements and outputs read more).
PLAIN = [lc for lc in LIFECYCLES if lc._state_of is None]


def test_the_committed_page_matches_the_tables() -> None:
    committed = (REPO / "docs" / "lifecycles.md").read_text()
    assert committed == lifecycles_markdown(), (
        "Regenerate: python -m governance.lifecycle_docs > docs/lifecycles.md"
    )


def test_every_status_column_has_its_lifecycle() -> None:
    with_status = {mapper.class_ for mapper in Base.registry.mappers if "status" in mapper.columns}
    assert with_status == {lc.model for lc in LIFECYCLES}


@pytest.mark.parametrize("lifecycle", LIFECYCLES, ids=lambda lc: lc.noun)
def test_every_state_is_reachable_and_every_action_leads_somewhere(
    lifecycle: Lifecycle[Any, Any],
) -> None:
    reached = set(lifecycle.initial)
    frontier = list(reached)
    while frontier:
        state = frontier.pop()
        for t in lifecycle.transitions:
            if t.source == state and t.target not in reached:
                reached.add(t.target)
                frontier.append(t.target)
    assert reached == set(lifecycle.states), f"unreachable: {set(lifecycle.states) - reached}"
    assert {t.action for t in lifecycle.transitions} == set(lifecycle.actions)


@pytest.mark.parametrize("lifecycle", LIFECYCLES, ids=lambda lc: lc.noun)
def test_every_stored_status_is_a_state(lifecycle: Lifecycle[Any, Any]) -> None:
    """The status enum of the model has no value the table cannot reach or leave."""
    stored = {lifecycle.stored(s) for s in lifecycle.states}
    (status_enum,) = {type(value) for value in stored}
    assert stored == set(status_enum)


class Person:
    """Someone signed in with no role: holds no permission."""

    id = 999
    email = "nobody@example.org"
    is_active = True
    role_set: frozenset[Any] = frozenset()


@settings(max_examples=60, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("lifecycle", PLAIN, ids=lambda lc: lc.noun)
def test_any_sequence_of_actions_stays_in_the_table(
    lifecycle: Lifecycle[Any, Any], data: st.DataObject
) -> None:
    events: list[Any] = []
    original = lifecycle_module.audit.record
    lifecycle_module.audit.record = lambda session, event, **f: events.append(event)  # type: ignore[assignment]
    try:
        _walk(lifecycle, data, events)
    finally:
        lifecycle_module.audit.record = original  # type: ignore[assignment]


def _walk(lifecycle: Lifecycle[Any, Any], data: st.DataObject, events: list[Any]) -> None:
    row = SimpleNamespace(status=data.draw(st.sampled_from(sorted(lifecycle.initial))))
    system, person = System("test"), Person()
    for _ in range(data.draw(st.integers(1, 12))):
        action = data.draw(st.sampled_from(list(lifecycle.actions)))
        by = data.draw(st.sampled_from([system, person]))
        before, written = row.status, len(events)
        steps = lifecycle.steps(lifecycle.states(before), action)
        target = data.draw(st.sampled_from([s.target for s in steps])) if steps else None
        record = {"target_type": "test", "target_id": 1}
        try:
            step = lifecycle.apply(
                None,
                row,
                action,
                by=by,
                target=target,  # type: ignore[arg-type]
                record=record if steps and steps[0].event else None,
            )
        except InvalidTransition:
            assert not steps
            assert (row.status, len(events)) == (before, written)
            continue
        except PermissionDenied:
            assert by is person
            assert steps[0].permission is not None
            assert (row.status, len(events)) == (before, written)
            continue
        assert step.source == before
        assert step.target == row.status
        assert row.status in lifecycle.states
        assert len(events) == written + (1 if step.event else 0)
