"""When the audit write fails, the action fails, nothing is committed, and it is logged as
CRITICAL (HIPAA 164.312(b), NIST SP 800-171 3.3.4: alert on audit logging failure)."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType
from governance.identity import users
from governance.identity.models import User
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, SETUP, People, forge_the_next_event


def break_the_audit_table(db: Session) -> None:
    """The next event's sequence number collides with an existing one."""
    with db.begin():
        forge_the_next_event(db)


def test_a_failed_audit_write_is_logged_as_critical_and_commits_nothing(
    db: Session, people: People, caplog: pytest.LogCaptureFixture
) -> None:
    db.rollback()
    break_the_audit_table(db)
    events_before = len(db.scalars(select(AuditEvent.seq)).all())
    db.rollback()
    with (
        caplog.at_level(logging.CRITICAL, logger="governance.audit.service"),
        pytest.raises(DBAPIError),
    ):
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
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1
    assert "AUDIT WRITE FAILED for user:create by system:test-setup" in critical[0].getMessage()
    assert fresh(db).scalars(select(User).where(User.email == "ghost@test.example")).first() is None
    assert len(db.scalars(select(AuditEvent.seq)).all()) == events_before


def test_a_failed_audit_write_on_a_page_is_logged_and_commits_nothing(
    app: Flask, people: People, db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    browser = Browser(app.test_client())
    browser.login(people.compliance.email, PASSWORD)
    break_the_audit_table(db)
    with (
        caplog.at_level(logging.CRITICAL, logger="governance.audit.service"),
        pytest.raises(DBAPIError),
    ):
        browser.get("/audit/?outcome=denied")
    assert any(
        "AUDIT WRITE FAILED for audit:search" in r.getMessage()
        for r in caplog.records
        if r.levelno == logging.CRITICAL
    )
    searches = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.AUDIT_SEARCH))
        .all()
    )
    assert searches == []


def test_audit_tables_refuse_update_and_delete_after_the_index_migration(
    db: Session, people: People
) -> None:
    """Migration 0006 adds indexes without rebuilding the table, so the triggers remain."""
    for statement in ("UPDATE audit_event SET detail = '{}'", "DELETE FROM audit_event"):
        with pytest.raises(DBAPIError, match="append-only"):
            db.execute(text(statement))
        db.rollback()
    assert audit.chain_head(db)[0] > 0
