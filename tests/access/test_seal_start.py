"""Rows stored before seals were kept are sealed once, by `governance init`, recorded; a seal
blanked after that is never made again by a command, so its row allows nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import insert, inspect, select, update
from sqlalchemy.orm import Session

from governance import schema
from governance.access import seals
from governance.access.live_grants import load_changes
from governance.access.models import Grant, GrantColumn
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType
from governance.authz.grant_index import GRANT_SEAL_RULE
from governance.identity.actors import System
from governance.identity.models import TrainingRecord
from governance.incidents.alerts import open_from_broken_seals
from governance.incidents.models import Incident, IncidentKind
from governance.kernel.db import Base
from governance.kernel.types import utcnow
from tests.access.test_grant_seals import api_read, as_the_dba, assert_refused_by_seal, stored
from tests.access.test_requests_and_grants import ask_and_grant
from tests.agreements.builders import Datasets
from tests.conftest import fresh
from tests.support import SETUP, People

__all__ = ["stored"]


def test_rows_are_sealed_by_the_service_and_a_blanked_seal_is_not_sealed_again(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets, stored: None
) -> None:
    """`governance init` seals the rows stored before seals were kept once, recorded; a seal
    blanked after that stays blank, and its grant allows nothing."""
    grant_id = ask_and_grant(db, people, agreement, datasets, columns=("sex",)).grant_id
    assert grant_id is not None
    sealed = fresh(db).scalars(select(Grant.seal).where(Grant.id == grant_id)).one()
    assert sealed
    assert all(fresh(db).scalars(select(TrainingRecord.seal)))
    first = seals.seal_unsealed_once(db, by=SETUP, now=utcnow())
    db.commit()
    assert first is not None
    assert set(first.values()) == {0}
    started = fresh(db).scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.GRANT_SEALS_START)
    )
    assert [e.detail["grants"] for e in started] == [0]
    as_the_dba(
        app,
        (
            "UPDATE access_grant SET seal = NULL, changed_epoch = :epoch WHERE id = :id",
            {"id": grant_id},
        ),
    )
    assert seals.seal_unsealed_once(fresh(db), by=SETUP, now=utcnow()) is None
    db.commit()
    status, event = api_read(app, db, people, agreement, datasets, "sex")
    assert_refused_by_seal(status, event, grant_id, GRANT_SEAL_RULE)


def test_a_broken_seal_opens_one_incident_before_anyone_reads(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets, stored: None
) -> None:
    """The compliance team hears of a tampered grant or training record from the periodic
    job, whether or not the holder ever tries to read with it; once per row."""
    grant_id = ask_and_grant(db, people, agreement, datasets, columns=("sex",)).grant_id
    assert grant_id is not None
    assert open_from_broken_seals(fresh(db), System("alerts"), utcnow()) == 0
    as_the_dba(
        app,
        ("UPDATE access_grant SET purpose = 'matched_comparison' WHERE id = :id", {"id": grant_id}),
        (
            "UPDATE training_record SET expires_on = '2099-01-01' WHERE user_id = :user",
            {"user": people.analyst.id},
        ),
    )
    opened = open_from_broken_seals(fresh(db), System("alerts"), utcnow())
    db.commit()
    training = (
        fresh(db)
        .scalars(select(TrainingRecord.id).where(TrainingRecord.user_id == people.analyst.id))
        .all()
    )
    assert opened == 1 + len(training)
    incidents = fresh(db).scalars(select(Incident).order_by(Incident.id)).all()
    assert incidents[0].kind == IncidentKind.AUDIT_ALERT
    assert f"Grant {grant_id}" in incidents[0].description
    assert [a.agreement_id for a in incidents[0].agreements] == [agreement.id]
    assert "seal check" in incidents[-1].description
    followed = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.INCIDENT_FROM_ALERT))
        .all()
    )
    assert {(e.target_type, e.rule) for e in followed} == {
        ("access_grant", GRANT_SEAL_RULE),
        ("training_record", seals.TRAINING_SEAL_RULE),
    }
    assert open_from_broken_seals(fresh(db), System("alerts"), utcnow()) == 0


def test_migration_0050_adds_the_seals_and_rows_before_it_allow_nothing_until_sealed_once(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    grant_id = ask_and_grant(db, people, agreement, datasets, columns=("sex",)).grant_id
    engine = db.get_bind()
    db.close()
    config = schema.alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0049")
    assert "seal" not in {c["name"] for c in inspect(engine).get_columns("access_grant")}
    assert "seal" not in {c["name"] for c in inspect(engine).get_columns("training_record")}
    schema.upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert not [d for d in differences if "access_grant" in repr(d) or "training" in repr(d)]
    # What a process starting after the upgrade loads: the grant, unsealed, allows nothing.
    [(_, entry)] = [c for c in load_changes(fresh(db), -1) if c[0] == grant_id]
    assert entry is not None
    assert not entry.sealed
    training = len(fresh(db).scalars(select(TrainingRecord.id)).all())
    counts = seals.seal_unsealed_once(db, by=SETUP, now=utcnow())
    assert counts is not None
    assert (counts["access_grant"], counts["training_record"]) == (1, training)
    db.commit()
    [(_, entry)] = [c for c in load_changes(fresh(db), -1) if c[0] == grant_id]
    assert entry is not None
    assert entry.sealed


def test_bulk_statements_through_a_session_seal_what_they_change(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    """The service's own bulk UPDATE and INSERT statements (not the flush) seal again the
    grants and training records they change, as the flush does."""
    grant_id = ask_and_grant(db, people, agreement, datasets, columns=("sex",)).grant_id
    assert grant_id is not None
    later = utcnow() + dt.timedelta(days=90)
    db.execute(update(Grant).where(Grant.id == grant_id).values(valid_until=later))
    db.execute(
        insert(GrantColumn),
        [{"grant_id": grant_id, "column_name": "age_at_arrest", "classification": "general"}],
    )
    db.execute(
        update(TrainingRecord)
        .where(TrainingRecord.user_id == people.analyst.id)
        .values(expires_on=later.date())
    )
    db.commit()
    [(_, entry)] = [c for c in load_changes(fresh(db), -1) if c[0] == grant_id]
    assert entry is not None
    assert entry.sealed
    assert entry.columns == {"sex", "age_at_arrest"}
    assert not [b for b in seals.broken_seals(fresh(db)) if b.user_id == people.analyst.id]
    with pytest.raises(ValueError, match="names each grant's id"):
        db.execute(insert(Grant), [{"user_id": people.analyst.id}])
