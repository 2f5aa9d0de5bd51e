"""Agreements stored before their terms were sealed are sealed once, by `governance init`,
recorded by their own event: on a database whose grants were sealed by the upgrade before,
too. A seal blanked after that is never made again by a command, so its agreement allows
nothing."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import delete, inspect, select, update
from sqlalchemy.orm import Session

from governance import schema
from governance.access import agreement_seals, seals
from governance.agreements.models import Agreement, AgreementVersion
from governance.agreements.parts_model import Personnel
from governance.audit.models import AuditEvent, AuditType
from governance.datasets import seals as dataset_seals
from governance.identity import seals as identity_seals
from governance.kernel.db import Base
from governance.kernel.types import utcnow
from tests.access.test_grant_seals import api_read, as_the_dba, stored
from tests.access.test_requests_and_grants import ask_and_grant
from tests.agreements.builders import Datasets
from tests.conftest import fresh
from tests.support import SETUP, People

__all__ = ["stored"]

KINDS = {agreement_seals.AGREEMENT_KIND, agreement_seals.VERSION_KIND}


def starts(db: Session) -> list[AuditEvent]:
    return list(
        fresh(db).scalars(
            select(AuditEvent).where(AuditEvent.event_type == AuditType.AGREEMENT_SEALS_START)
        )
    )


def test_migration_0053_and_the_one_time_sealing_after_grants_were_sealed_before(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets, stored: None
) -> None:
    """An instance upgraded to 0050 sealed its grants (grant:seals_start) then; upgraded to
    0053, its agreements have no seal and allow nothing until `governance init` seals them,
    once; a seal blanked afterwards is not made again."""
    ask_and_grant(db, people, agreement, datasets, columns=("sex",))
    assert seals.seal_unsealed_once(db, by=SETUP, now=utcnow()) is not None
    db.commit()
    engine = db.get_bind()
    db.close()
    config = schema.alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0052")
    for table in ("agreement", "agreement_version"):
        assert "seal" not in {c["name"] for c in inspect(engine).get_columns(table)}
    schema.upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert not [d for d in differences if "agreement" in repr(d)]
    # The downgrade below 0055 also dropped the seals of the kinds it added (columns,
    # stewards, organisations), which this trail already records as sealed: an instance
    # really at 0052 had not sealed them, and its `governance init` after 0055 would.
    session = fresh(db)
    for kind in (*dataset_seals.KINDS, identity_seals.ORGANIZATION):
        kind.seal_unsealed(session)
    session.commit()
    status, event = api_read(app, db, people, agreement, datasets, "sex")
    assert (status, event.rule) == (403, agreement_seals.AGREEMENT_SEAL_RULE)
    # `governance init` after the upgrade: the grants were sealed before, the agreements now.
    assert seals.seal_unsealed_once(fresh(db), by=SETUP, now=utcnow()) is None
    versions = len(fresh(db).scalars(select(AgreementVersion.id)).all())
    assert seals.seal_kinds_once(db, by=SETUP, now=utcnow()) == {
        agreement_seals.AGREEMENT_KIND: 1,
        agreement_seals.VERSION_KIND: versions,
    }
    db.commit()
    assert [e.detail[agreement_seals.AGREEMENT_KIND] for e in starts(db)] == [1]
    status, _ = api_read(app, db, people, agreement, datasets, "sex")
    assert status == 200
    # Blanked with the database alone: no later command seals it again.
    as_the_dba(app, ("UPDATE agreement SET seal = NULL WHERE id = :id", {"id": agreement.id}))
    assert seals.seal_kinds_once(fresh(db), by=SETUP, now=utcnow()) == {}
    db.commit()
    assert len(starts(db)) == 1
    status, event = api_read(app, db, people, agreement, datasets, "sex")
    assert (status, event.rule) == (403, agreement_seals.AGREEMENT_SEAL_RULE)


def test_bulk_statements_through_a_session_seal_the_agreement_they_change(
    db: Session, people: People, agreement: Agreement
) -> None:
    """The service's own bulk statements on versions and their personnel seal the version
    again, as the flush does."""
    version = agreement.current_version
    assert version is not None
    db.execute(
        update(AgreementVersion)
        .where(AgreementVersion.id == version.id)
        .values(lay_summary="Plain words.", min_cell_size=11)
    )
    db.execute(
        delete(Personnel).where(
            Personnel.version_id == version.id, Personnel.user_id == people.analyst2.id
        )
    )
    db.commit()
    assert agreement_seals.check(fresh(db), agreement.id)
    assert not [b for b in seals.broken_seals(fresh(db)) if b.kind in KINDS]
