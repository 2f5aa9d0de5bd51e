"""Rows stored before seals were kept are sealed once, by `governance init`, recorded; a seal
blanked after that is never made again by a command, so its row allows nothing."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import seals
from governance.access.models import Grant
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType
from governance.authz.grant_index import GRANT_SEAL_RULE
from governance.identity.models import TrainingRecord
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
    assert first == (0, 0)
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
