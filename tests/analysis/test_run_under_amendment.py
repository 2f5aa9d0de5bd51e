"""A run that waits in the queue while an amendment takes effect is executed under the version
in force then (its thresholds are the ones the engine applies), and its output belongs to
that version, so the output's checks and preview follow the terms that produced it."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.analysis.models import RunStatus
from governance.outputs.models import Output
from tests.agreements import builders
from tests.analysis.conftest import World, execute, grant_records, submit
from tests.support import People


def amend_in_force(db: Session, people: People, world: World, **changes: object) -> None:
    """An amendment of the world's agreement, approved and countersigned: in force now."""
    builders.amend_in_force(db, people, world.agreement, reason="Stricter thresholds", **changes)


def test_the_output_of_a_run_executed_after_an_amendment_belongs_to_the_version_in_force(
    app: Flask, db: Session, people: People, world: World
) -> None:
    grant_records(db, people, world, "descriptive")
    run = submit(db, people, world, "descriptive", {"group_by": ["sex"]})
    assert run.agreement_version == 1
    amend_in_force(db, people, world, min_cell_size=13, preview_window_days=47)

    run = execute(app, db, run.id)
    assert run.status == RunStatus.SUCCEEDED, run.reason
    assert run.provenance is not None
    assert run.provenance["agreement"]["version"] == 2
    assert run.provenance["agreement"]["policy"]["min_cell_size"] == 13
    output = db.scalars(select(Output).where(Output.run_id == run.id)).one()
    assert output.agreement_version == 2
    assert output.version.min_cell_size == 13
