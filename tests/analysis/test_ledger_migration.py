"""Ledger rows written per agreement before the keyed ledger: how migration 0015 moves them and
how later releases are compared with them (they keep a size and an unkeyed digest only)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import schema
from governance.analysis.engine.ledger import LEGACY_SCHEME, legacy_digest
from governance.analysis.models import AnalysisRun, ReleasedPopulation, RunStatus
from governance.datasets.models import Dataset
from tests.analysis.test_ledger_across_releases import (
    PEOPLE,
    agreement_over,
    run,
)
from tests.support import People


def test_migration_moves_per_agreement_rows_to_their_dataset_as_legacy_rows(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    schema.upgrade(engine, "0010")
    now = dt.datetime(2026, 5, 1, tzinfo=dt.UTC).isoformat()
    with engine.begin() as connection:
        for run_id, kind, datasets in (
            (1, "descriptive", '{"offences":8,"records":7}'),
            (2, "matched_comparison", '{"index_events":9,"offences":8}'),
        ):
            connection.execute(
                sa.text(
                    "INSERT INTO analysis_run (id, requested_by_id, agreement_id, "
                    "agreement_version, "
                    "kind, purpose, title, parameters, datasets, status, progress, "
                    "progress_message,"
                    " attempts, max_attempts, created_at, reason) VALUES (:id, 1, 3, 1, :kind, "
                    ":kind, 't', '{}', :datasets, 'succeeded', 1.0, '', 1, 3, :now, '')"
                ),
                {"id": run_id, "kind": kind, "datasets": datasets, "now": now},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO released_population (agreement_id, run_id, label, size, digest, "
                    "member_hashes, created_at) VALUES (3, :run, 'records', 4, :digest, :hashes, "
                    ":now)"
                ),
                {"run": run_id, "digest": "ab" * 32, "hashes": b"\x01" * 32, "now": now},
            )
    schema.upgrade(engine)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT run_id, dataset_id, scheme, member_hashes, key_fingerprint, size, digest "
                "FROM released_population ORDER BY run_id"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (1, 7, LEGACY_SCHEME, None, None, 4, "ab" * 32),
        (2, 9, LEGACY_SCHEME, None, None, 4, "ab" * 32),
    ]
    engine.dispose()


def legacy_row(db: Session, dataset: Dataset, run_id: int, keys: list[str]) -> None:
    db.add(
        ReleasedPopulation(
            agreement_id=1,
            dataset_id=dataset.id,
            run_id=run_id,
            label="records",
            size=len(keys),
            digest=legacy_digest(sorted(keys)),
            scheme=LEGACY_SCHEME,
            key_fingerprint=None,
            member_hashes=None,
        )
    )
    db.commit()


def test_legacy_rows_let_the_same_people_through_and_refuse_near_ones(
    app: Flask, db: Session, people: People, survey: Dataset
) -> None:
    agreement = agreement_over(db, people, survey, analyst=people.analyst)
    earlier = AnalysisRun(
        requested_by_id=people.analyst.id,
        agreement_id=agreement.id,
        agreement_version=1,
        kind="descriptive",
        purpose="descriptive",
        title="before the keyed ledger",
        parameters={},
        datasets={"records": survey.id},
        status=RunStatus.SUCCEEDED,
    )
    db.add(earlier)
    db.commit()
    same_people = [str(i) for i in range(1, PEOPLE + 1)]
    legacy_row(db, survey, earlier.id, same_people)
    identical = run(
        app, db, agreement, survey, people.analyst, "descriptive", {"group_by": ["sex"]}
    )
    assert identical.status == RunStatus.SUCCEEDED, identical.reason
    # A legacy release of 305 other people: too close in size to compare safely.
    legacy_row(db, survey, earlier.id, [str(i) for i in range(1000, 1305)])
    near = run(app, db, agreement, survey, people.analyst, "descriptive", {"group_by": ["aid"]})
    assert near.status == RunStatus.REFUSED
    assert "possibly fewer than 10 people" in near.reason
    assert near.conflicts is not None
    assert [c["exact"] for c in near.conflicts] == [False]
    assert (
        len(
            db.scalars(select(ReleasedPopulation).where(ReleasedPopulation.run_id == near.id)).all()
        )
        == 0
    )


def test_migration_0047_adds_the_sealed_outcomes_and_takes_them_away(tmp_path: Path) -> None:
    """Rows before 0047 have no outcomes column value (compared on people only); downgrading
    drops the column and the outcomes with it."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:

        def columns() -> set[str]:
            return {c["name"] for c in sa.inspect(engine).get_columns("released_population")}

        schema.upgrade(engine, "0046")
        assert "cell_codes" in columns()
        assert "cell_events" not in columns()
        schema.upgrade(engine)
        assert "cell_events" in columns()
        config = schema.alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0046")
        assert "cell_events" not in columns()
        assert "cell_codes" in columns()
    finally:
        engine.dispose()
