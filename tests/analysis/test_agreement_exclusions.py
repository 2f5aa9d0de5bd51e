"""An agreement's excluded offence categories apply to every analysis kind, not only the
matched comparison: the records of those categories are left out before any counting, and the
output's notes say which and why."""

from __future__ import annotations

import pandas as pd
import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.analysis.models import RunStatus
from governance.kernel.errors import PermissionDenied
from tests.analysis.conftest import World, execute, grant_records, make_agreement, submit
from tests.support import People

EXCLUDED = ["sexual", "domestic_violence", "terrorism"]


def _excluding(db: Session, people: People, world: World) -> World:
    agreement = make_agreement(
        db, people, [world.events.id, world.offences.id], excluded_offence_categories=EXCLUDED
    )
    return World(agreement=agreement, events=world.events, offences=world.offences, data=world.data)


def _kept(world: World) -> pd.DataFrame:
    events = world.data.index_events
    kept = events[~events["offence_category"].isin(EXCLUDED)]
    return kept.sort_values("index_date", kind="stable").drop_duplicates("person_id")


def test_a_descriptive_table_leaves_out_the_agreements_excluded_categories(
    app: Flask, db: Session, people: People, world: World
) -> None:
    assert set(EXCLUDED) <= set(world.data.index_events["offence_category"])
    world = _excluding(db, people, world)
    grant_records(db, people, world, "descriptive", with_offences=False)
    run = execute(
        app, db, submit(db, people, world, "descriptive", {"group_by": ["offence_category"]}).id
    )
    assert run.status == RunStatus.SUCCEEDED, run.reason
    counts = next(t for t in run.result["tables"] if t["name"] == "counts")
    shown = {c["labels"]["offence_category"] for c in counts["cells"]}
    assert not shown & set(EXCLUDED)
    total = next(c for c in counts["cells"] if c["labels"]["offence_category"] == "Total")
    assert total["values"]["count"] == len(_kept(world))
    assert any(
        "sexual" in note
        and "domestic violence" in note
        and "terrorism" in note
        and "analysis.eligibility.excluded_offence_categories" in note
        for note in run.result["notes"]
    )


def test_a_rate_comparison_leaves_them_out_too(
    app: Flask, db: Session, people: People, world: World
) -> None:
    world = _excluding(db, people, world)
    grant_records(
        db,
        people,
        world,
        "rate_comparison",
        columns=["person_id", "employed", "index_date", "offence_category"],
    )
    run = execute(
        app,
        db,
        submit(
            db,
            people,
            world,
            "rate_comparison",
            {"group_column": "employed", "group_a": "1", "group_b": "0", "outcome": "reoffended"},
        ).id,
    )
    assert run.status == RunStatus.SUCCEEDED, run.reason
    rates = next(t for t in run.result["tables"] if t["name"] == "rates")
    total = next(c for c in rates["cells"] if c["labels"]["employed"] == "Total")
    assert total["values"]["count"] == len(_kept(world))
    assert any("left out" in note for note in run.result["notes"])


def test_without_the_category_column_granted_the_run_is_refused_not_silently_unfiltered(
    app: Flask, db: Session, people: People, world: World
) -> None:
    world = _excluding(db, people, world)
    grant_records(
        db, people, world, "descriptive", columns=["person_id", "sex"], with_offences=False
    )
    with pytest.raises(PermissionDenied, match="offence_category"):
        submit(db, people, world, "descriptive", {"group_by": ["sex"]})
