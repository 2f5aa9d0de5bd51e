"""The audit writer: chained in the same transaction, all or nothing, append-only in the DB."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.format import checkpoint_message, sign
from governance.audit.models import AuditCheckpoint, AuditEvent, AuditType
from governance.audit.service import GENESIS_HASH, canonical_content, chain_hash
from governance.identity import users
from governance.identity.models import User
from tests.support import SETUP, People, forge_the_next_event


def test_events_form_one_chain(db: Session, people: People) -> None:
    events = db.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    previous = GENESIS_HASH
    for event in events:
        assert event.prev_hash == previous
        content = canonical_content(
            {
                c: getattr(event, c)
                for c in (
                    "seq",
                    "occurred_at",
                    "event_type",
                    "outcome",
                    "actor_id",
                    "actor_email",
                    "agreement_id",
                    "agreement_version",
                    "dataset_id",
                    "target_type",
                    "target_id",
                    "rule",
                    "clause",
                    "detail",
                )
            }
        )
        assert event.hash == chain_hash(previous, content)
        previous = event.hash
    assert audit.chain_head(db) == (events[-1].seq, events[-1].hash)


def test_a_failed_audit_write_fails_the_action_and_commits_nothing(
    db: Session, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = audit.chain_head(db)

    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("audit storage unavailable")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(RuntimeError):
        users.create_user(
            db,
            email="ghost@test.example",
            name="Ghost",
            organization_id=people.lab.id,
            roles=["analyst"],
            password="a long enough password",
            password_min_length=12,
            by=SETUP,
        )
    db.rollback()
    assert db.scalars(select(User).where(User.email == "ghost@test.example")).first() is None
    assert audit.chain_head(db) == before


def test_a_failed_audit_insert_rolls_back_the_page_action(
    app: Flask, people: People, db: Session
) -> None:
    """The database itself refuses the event (a broken audit table): the user is not saved."""
    from tests.conftest import Browser
    from tests.support import PASSWORD

    browser = Browser(app.test_client())
    browser.login(people.admin.email, PASSWORD)
    with db.begin():
        forge_the_next_event(db)  # next seq collides
    with pytest.raises(DBAPIError):
        browser.post(
            "/admin/users/new",
            {
                "email": "never@test.example",
                "name": "Never",
                "organization_id": people.lab.id,
                "roles": ["analyst"],
                "password": "a long enough password",
            },
        )
    db.rollback()
    assert db.scalars(select(User).where(User.email == "never@test.example")).first() is None


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET outcome = 'allowed'",
        "DELETE FROM audit_event",
        "UPDATE audit_checkpoint SET signature = 'x'",
        "DELETE FROM audit_checkpoint",
    ],
)
def test_database_refuses_update_and_delete(db: Session, people: People, statement: str) -> None:
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(text(statement))
    db.rollback()


def test_first_event_is_checkpointed_and_signed(db: Session, people: People) -> None:
    checkpoint = db.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).first()
    assert checkpoint is not None
    assert checkpoint.seq == 1
    settings = audit.settings_of(db)
    assert checkpoint.key_id == settings.current_key_id
    assert (checkpoint.cadence_events, checkpoint.cadence_minutes) == (
        settings.checkpoint_every,
        settings.checkpoint_minutes,
    )
    assert checkpoint.signature == sign(
        settings.current_key,
        checkpoint_message(
            checkpoint.seq,
            checkpoint.head_hash,
            format_since=1,
            every=settings.checkpoint_every,
            minutes=settings.checkpoint_minutes,
        ),
    )


def test_checkpoint_every_n_events(app: Flask, db: Session, people: People) -> None:
    settings = audit.settings_of(db)
    every = settings.checkpoint_every
    start, _ = audit.chain_head(db)
    for _ in range(every + 1):
        audit.record(db, AuditType.AUDIT_SEARCH, by=people.compliance)
    db.commit()
    seqs = [c.seq for c in db.scalars(select(AuditCheckpoint))]
    assert any(start < seq <= start + every + 1 for seq in seqs)
