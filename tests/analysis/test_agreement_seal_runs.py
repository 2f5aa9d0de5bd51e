"""An analysis under an agreement whose minimum cell size was lowered with the database alone
is refused: neither a new run nor one waiting in the queue publishes a cell under the
approved minimum (tests/access/test_agreement_seals.py has the attacker's other moves)."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.analysis.models import RunStatus
from governance.kernel.errors import PermissionDenied
from governance.outputs.models import Output
from tests.access.test_grant_seals import as_the_dba
from tests.analysis.conftest import World, execute, grant_records, submit
from tests.conftest import fresh
from tests.support import People

AGREEMENT_SEAL = "agreement-seal"
SMALL_CELLS = {"group_by": ["sex", "region", "offence_category"]}


def lower_the_minimum(app: Flask, db: Session, world: World) -> None:
    as_the_dba(
        app,
        (
            "UPDATE agreement_version SET min_cell_size = 1, rounding_base = NULL"
            " WHERE agreement_id = :agreement",
            {"agreement": world.agreement.id},
        ),
    )
    fresh(db)


def test_a_run_under_a_minimum_cell_size_lowered_with_the_database_alone_is_refused(
    app: Flask, db: Session, people: People, world: World
) -> None:
    grant_records(db, people, world, "descriptive")
    lower_the_minimum(app, db, world)
    with pytest.raises(PermissionDenied) as refused:
        submit(db, people, world, "descriptive", SMALL_CELLS)
    assert "integrity check" in refused.value.message
    assert refused.value.audit is not None
    assert refused.value.audit["rule"] == AGREEMENT_SEAL


def test_a_queued_run_executed_after_the_minimum_was_lowered_releases_nothing(
    app: Flask, db: Session, people: People, world: World
) -> None:
    grant_records(db, people, world, "descriptive")
    run = submit(db, people, world, "descriptive", SMALL_CELLS)
    lower_the_minimum(app, db, world)
    run = execute(app, db, run.id)
    assert run.status != RunStatus.SUCCEEDED
    assert "integrity check" in (run.reason or "")
    assert fresh(db).scalars(select(Output).where(Output.run_id == run.id)).first() is None
