"""The audit search's kept rows are found by the event's loaded values, read in one call."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import InstrumentedAttribute

from governance.audit import service as audit
from governance.audit import web_rows
from governance.audit.directory import names_for
from governance.audit.models import AuditEvent, AuditType, Outcome
from tests.support import People


def _events(db: Session, people: People) -> list[AuditEvent]:
    """Six reads, two refused, each with its own detail; newest first."""
    outcomes = [Outcome.DENIED, Outcome.ALLOWED, Outcome.ALLOWED] * 2
    for i, outcome in enumerate(outcomes):
        audit.record(
            db,
            AuditType.DATASET_READ,
            outcome=outcome,
            detail={"i": i, "columns": ["a", "b"]},
            dataset_id=4,
            agreement_id=3,
            by=people.analyst,
        )
    db.commit()
    return list(db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(6)))


def _by_attribute(event: AuditEvent) -> tuple[Any, ...]:
    return (*(getattr(event, name) for name in web_rows._SHOWN[:-1]), repr(event.detail))


def test_a_kept_page_is_found_without_reading_each_mapped_attribute(
    app: Flask, db: Session, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _events(db, people)
    names = names_for(db, events)
    with app.test_request_context("/audit/"):
        drawn = web_rows.event_rows(events, names)
        read: list[str] = []
        through = InstrumentedAttribute.__get__

        def counted(self: Any, instance: Any, owner: Any) -> Any:
            if isinstance(instance, AuditEvent):
                read.append(self.key)
            return through(self, instance, owner)

        monkeypatch.setattr(InstrumentedAttribute, "__get__", counted)
        again = web_rows.event_rows(events, names)
        monkeypatch.undo()
    assert again == drawn
    assert read == []


def test_the_key_is_the_shown_fields_loaded_or_not(db: Session, people: People) -> None:
    assert web_rows._SHOWN[-1] == "detail"
    events = _events(db, people)
    keys = [web_rows._shown(event) for event in events]
    assert keys == [_by_attribute(event) for event in events]
    assert len(set(keys)) == len(keys)
    for event in events:
        db.expire(event)  # nothing loaded: the key loads what it reads
    assert [web_rows._shown(event) for event in events] == keys
