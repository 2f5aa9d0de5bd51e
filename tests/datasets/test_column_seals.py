"""Someone with the database but not the key files cannot change what enforcement reads of a
dataset's columns (their classification and their declared lowest value) or who stewards it.

An attacker's view: a DBA writes `dataset_column` directly with SQL on a connection of their
own, bumping the policy epoch as a competent one would so every process reloads. They make the
direct identifier `person_id` a quasi-identifier, so a single steward grants it (the "two
people for identifiers" promise); or they move the declared lowest value of a number column
between two releases, so one group's rounded mean from two origins gives its exact count
(tests/analysis/test_origin_across_versions.py); or they make a second steward the dataset's,
who approves its requests alone. Each is refused, recorded under the rule
`column-seal`: every column carries a keyed seal (HMAC under a subkey of the audit key,
governance/datasets/seals.py) that only the application can make.
"""

from __future__ import annotations

import pytest
from alembic import command
from flask import Flask
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from governance import schema
from governance.access import requests
from governance.access import seals as access_seals
from governance.access.models import Grant, GrantColumn
from governance.agreements.models import Agreement
from governance.analysis.models import RunStatus
from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType
from governance.datasets import reclassification
from governance.datasets.models import Dataset, DatasetColumn
from governance.identity import users
from governance.identity.actors import System
from governance.identity.organization_model import Organization
from governance.incidents.alerts import open_from_broken_seals
from governance.incidents.models import Incident
from governance.kernel import sealed_kinds
from governance.kernel.errors import PermissionDenied
from governance.kernel.types import utcnow
from tests.access.conftest import agreement, datasets
from tests.access.test_grant_seals import api_read, as_the_dba, stored
from tests.access.test_requests_and_grants import ask, ask_and_grant
from tests.access.test_two_person_rule import GENERAL, steward_lowers_person_id
from tests.agreements.builders import Datasets
from tests.analysis.test_origin_across_versions import (
    SECOND_LOWEST,
    declare_lowest,
    mean_of_group_a,
    submit_mean_of_group_a,
    table,
    world,
)
from tests.analysis.test_origin_across_versions import store as store_version
from tests.conftest import fresh
from tests.support import SETUP, People

__all__ = ["agreement", "datasets", "stored"]

# The rule a refusal names (governance/datasets/seals.py), spelled out: these tests also run
# against code from before column seals, where they must fail on their assertions.
COLUMN_SEAL = "column-seal"


def dba_reclassifies(app: Flask, dataset_id: int, column: str, to: str) -> None:
    """`column` of the dataset given the class `to` with the database alone."""
    as_the_dba(
        app,
        (
            "UPDATE dataset_column SET classification = :to WHERE dataset_id = :d AND name = :c",
            {"d": dataset_id, "c": column, "to": to},
        ),
    )


def dba_moves_lowest(app: Flask, dataset_id: int, column: str, value: float) -> None:
    """The declared lowest value of `column` moved to `value` with the database alone."""
    as_the_dba(
        app,
        (
            "UPDATE dataset_column SET lowest_value = :v WHERE dataset_id = :d AND name = :c",
            {"d": dataset_id, "c": column, "v": value},
        ),
    )


def single_steward_grants(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    """The analyst asks for `person_id` and `sex`; the steward approves alone."""
    request = ask(db, people, agreement, datasets, columns=("person_id", "sex"))
    requests.steward_approve(
        db,
        request_id=request.id,
        columns=["person_id", "sex"],
        comment="Linkage.",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()


def column_sealed(db: Session, dataset_id: int) -> bool:
    # Imported here so that the attacker tests above run (and fail) on the earlier code.
    from governance.datasets import seals as dataset_seals

    return dataset_seals.check(fresh(db), dataset_id)


def test_a_direct_identifier_made_ordinary_with_the_database_alone_is_not_granted_by_one(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    """The DBA makes `person_id` a quasi-identifier; the analyst asks for it and the steward
    approves alone. On the earlier code the grant was made by one person, `person_id` in it;
    now the request is refused, recorded under `column-seal`, and nothing is granted."""
    dba_reclassifies(app, datasets.arrests.id, "person_id", "quasi_identifier")
    fresh(db)
    with pytest.raises(PermissionDenied) as refused:
        single_steward_grants(db, people, agreement, datasets)
    db.rollback()
    assert "integrity check" in refused.value.message
    record = refused.value.audit
    assert record is not None
    assert record["rule"] == COLUMN_SEAL
    granted = fresh(db).scalars(
        select(GrantColumn.column_name).join(Grant, Grant.id == GrantColumn.grant_id)
    )
    assert "person_id" not in set(granted)


def test_a_read_of_a_dataset_whose_column_was_changed_with_the_database_alone_is_refused(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    stored: None,
) -> None:
    """The analyst reads `sex` under a grant; the DBA makes `person_id` ordinary: the next
    read of the dataset is refused and recorded with the rule, whatever the grant says."""
    ask_and_grant(db, people, agreement, datasets, columns=("sex",))
    status, _ = api_read(app, db, people, agreement, datasets, "sex")
    assert status == 200
    dba_reclassifies(app, datasets.arrests.id, "person_id", "general")
    status, event = api_read(app, db, people, agreement, datasets, "sex")
    assert status == 403
    assert event.outcome == "denied"
    assert event.rule == COLUMN_SEAL
    assert "integrity check" in event.detail["reason"]


def test_a_lowest_value_moved_with_the_database_alone_releases_no_second_mean(
    app: Flask, db: Session, people: People
) -> None:
    """The steward declared 1900 and a mean was released from it; the DBA moves the origin to
    1800 and a second version is stored. On the earlier code the second mean was released
    from the other origin (the difference gives the count); now the run is refused."""
    dataset, agreement_id = world(db, people)
    declare_lowest(db, people, dataset, 1900)
    first = mean_of_group_a(app, db, people, agreement_id, dataset)
    assert first.status == RunStatus.SUCCEEDED, first.reason
    dba_moves_lowest(app, dataset.id, "year_of_birth", 1800)
    fresh(db)
    store_version(db, dataset, table(SECOND_LOWEST))
    with pytest.raises(PermissionDenied) as refused:  # the earlier code: released
        mean_of_group_a(app, db, people, agreement_id, dataset)
    db.rollback()
    assert "integrity check" in refused.value.message
    assert refused.value.audit is not None
    assert refused.value.audit["rule"] == COLUMN_SEAL


def test_a_queued_run_executed_after_the_lowest_value_moved_releases_nothing(
    app: Flask, db: Session, people: People
) -> None:
    from tests.analysis.conftest import execute

    dataset, agreement_id = world(db, people)
    declare_lowest(db, people, dataset, 1900)
    run = submit_mean_of_group_a(db, people, agreement_id, dataset)
    dba_moves_lowest(app, dataset.id, "year_of_birth", 1800)
    run = execute(app, db, run.id)
    assert run.status != RunStatus.SUCCEEDED
    assert "integrity check" in (run.reason or "")


def test_a_steward_assigned_with_the_database_alone_approves_nothing(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    """A second steward, of no dataset yet, is made the arrests' steward by SQL and approves
    the analyst's request alone. On the earlier code the grant was made; now the request is
    not theirs to decide (the assignment's seal does not hold)."""
    users.update_user(
        db,
        user_id=people.analyst2.id,
        name=people.analyst2.name,
        organization_id=people.lab.id,
        roles=["data_steward"],
        by=SETUP,
    )
    db.commit()
    as_the_dba(
        app,
        (
            "INSERT INTO dataset_steward (dataset_id, user_id) VALUES (:d, :u)",
            {"d": datasets.arrests.id, "u": people.analyst2.id},
        ),
    )
    request = ask(fresh(db), people, agreement, datasets, columns=("sex",))
    db.commit()
    with pytest.raises(PermissionDenied):
        requests.steward_approve(
            fresh(db),
            request_id=request.id,
            columns=["sex"],
            comment="",
            by=people.analyst2,
            now=utcnow(),
        )
    assert fresh(db).scalars(select(Grant)).all() == []
    # Its alert names the assignment.
    session = fresh(db)
    assert open_from_broken_seals(session, System("alerts"), utcnow()) == 1
    session.commit()
    incident = fresh(db).scalars(select(Incident)).one()
    assert "Steward assignment" in incident.description


def test_changes_through_the_service_stay_sealed(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    stored: None,
) -> None:
    """Declaring, lowering a class (asked by the steward, approved by a privacy officer) and
    declaring a lowest value all seal the columns again; a column changed by SQL first stays
    broken when the service writes it later (the write does not launder it)."""
    assert column_sealed(db, datasets.arrests.id)
    steward_lowers_person_id(db, people, fresh(db).get(Dataset, datasets.arrests.id))
    (waiting,) = reclassification.pending(fresh(db), dataset_id=datasets.arrests.id)
    reclassification.approve(
        db, reclassification_id=waiting.id, comment="Pseudonymous.", by=people.privacy, now=utcnow()
    )
    db.commit()
    column = fresh(db).scalar(
        select(DatasetColumn).where(
            DatasetColumn.dataset_id == datasets.arrests.id, DatasetColumn.name == "person_id"
        )
    )
    assert column is not None
    assert column.classification == GENERAL
    assert column_sealed(db, datasets.arrests.id)
    ask_and_grant(db, people, agreement, datasets, columns=("sex",))
    # Tampered first, then changed through the service: still refused.
    dba_reclassifies(app, datasets.arrests.id, "sex", "general")
    assert not column_sealed(db, datasets.arrests.id)
    found = fresh(db)
    tampered = found.scalar(
        select(DatasetColumn).where(
            DatasetColumn.dataset_id == datasets.arrests.id, DatasetColumn.name == "sex"
        )
    )
    assert tampered is not None
    # (Not back to its sealed class, quasi-identifier: a row put back whole verifies.)
    tampered.classification = "sensitive"  # type: ignore[assignment]
    found.commit()
    assert not column_sealed(db, datasets.arrests.id)


def test_a_broken_column_opens_one_incident(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    assert open_from_broken_seals(fresh(db), System("alerts"), utcnow()) == 0
    dba_reclassifies(app, datasets.arrests.id, "person_id", "general")
    session = fresh(db)
    assert open_from_broken_seals(session, System("alerts"), utcnow()) == 1
    session.commit()
    assert open_from_broken_seals(fresh(db), System("alerts"), utcnow()) == 0
    incident = fresh(db).scalars(select(Incident)).one()
    assert COLUMN_SEAL in incident.description
    assert "Dataset column" in incident.description


def test_an_upgraded_instance_seals_columns_and_organisations_once(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    """An instance whose trail records earlier sealings seals its columns and organisations
    once after the upgrade, and never again: a seal blanked after that stays blank."""
    db.execute(text("UPDATE dataset_column SET seal = NULL"))
    db.execute(text("UPDATE organization SET seal = NULL"))
    db.execute(text("UPDATE dataset_steward SET seal = NULL"))
    db.commit()
    assert not column_sealed(db, datasets.arrests.id)
    new = {"dataset_column", "dataset_steward", "organization"}
    kinds = [k for k in sealed_kinds.KINDS if k not in new]
    audit.record(
        db,
        AuditType.GRANT_SEALS_START,
        by=SETUP,
        detail={"kinds": dict.fromkeys(["access_grant", "training_record", *kinds], 0)},
    )
    db.commit()
    counts = access_seals.seal_unsealed_once(fresh(db), by=SETUP, now=utcnow())
    db.commit()
    assert counts is not None
    assert set(counts) == new
    assert counts["dataset_column"] == len(fresh(db).scalars(select(DatasetColumn.id)).all())
    assert counts["organization"] == len(fresh(db).scalars(select(Organization.id)).all())
    assert column_sealed(db, datasets.arrests.id)
    assert access_seals.seal_unsealed_once(fresh(db), by=SETUP, now=utcnow()) is None
    as_the_dba(
        app,
        ("UPDATE dataset_column SET seal = NULL WHERE dataset_id = :d", {"d": datasets.arrests.id}),
    )
    assert access_seals.seal_unsealed_once(fresh(db), by=SETUP, now=utcnow()) is None
    assert not column_sealed(db, datasets.arrests.id)
    started = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.GRANT_SEALS_START))
        .all()
    )
    assert set(started[-1].detail["kinds"]) == new


def test_migration_0055_adds_the_seals_and_removes_them(app: Flask, db: Session) -> None:
    engine = db.get_bind()
    db.close()
    config = schema.alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0054")
    for table_name in ("dataset_column", "dataset_steward", "organization"):
        assert "seal" not in {c["name"] for c in inspect(engine).get_columns(table_name)}
    schema.upgrade(engine)
    for table_name in ("dataset_column", "dataset_steward", "organization"):
        assert "seal" in {c["name"] for c in inspect(engine).get_columns(table_name)}
