"""Someone with the database but not the key files cannot change the terms an agreement in
force enforces by writing rows.

An attacker's view: a DBA writes the agreement tables directly with SQL, as a competent one
would, bumping the policy epoch so that every running process reloads what it remembers. They
move the agreement's end date on, add a column or a dataset to its scope, add a person to its
authorised personnel, or lower its minimum cell size (also
tests/analysis/test_agreement_seal_runs.py).
Whatever was granted under it, and whatever is asked under it afterwards, is refused, recorded
with the rule `agreement-seal`: the agreement's row and each of its versions carry a keyed seal
(HMAC under a subkey of the audit key) that only the application can make.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement, AgreementVersion
from governance.datasets.models import Dataset
from governance.identity.actors import System
from governance.incidents.alerts import open_from_broken_seals
from governance.incidents.models import Incident
from governance.kernel.errors import PermissionDenied
from governance.kernel.types import utcnow
from tests.access.test_grant_seals import api_read, as_the_dba, stored
from tests.access.test_requests_and_grants import ask, ask_and_grant
from tests.agreements.builders import Datasets, approved
from tests.conftest import fresh
from tests.support import People

__all__ = ["stored"]

# The rule a refusal names (governance/access/agreement_seals.py), spelled out: these tests are
# also run against code from before agreement seals, where they must fail on their assertions.
AGREEMENT_SEAL = "agreement-seal"


def version_id(db: Session, agreement: Agreement) -> int:
    found = fresh(db).scalar(
        select(AgreementVersion.id).where(
            AgreementVersion.agreement_id == agreement.id,
            AgreementVersion.number == agreement.current_version_number,
        )
    )
    assert found is not None
    return found


def tampered(
    app: Flask, db: Session, agreement: Agreement, how: str, people: People, person: int = 0
) -> None:
    """The agreement in force changed with the database alone, `how` (naming `person`, the
    output checker unless told, as personnel)."""
    version = version_id(db, agreement)
    statements: dict[str, tuple[str, dict[str, Any]]] = {
        "end date": (
            "UPDATE agreement_version SET expiry_date = :later WHERE id = :version",
            {"later": utcnow().date() + dt.timedelta(days=800)},
        ),
        "column": (
            "INSERT INTO agreement_column (version_id, dataset_id, column_name)"
            " VALUES (:version, :dataset, 'district')",
            {"dataset": agreement.current_version.covered_dataset_ids[0]},  # type: ignore[union-attr]
        ),
        "personnel": (
            "INSERT INTO agreement_personnel (version_id, user_id, project_role)"
            " VALUES (:version, :user, 'analyst')",
            {"user": person or people.checker.id},
        ),
        "minimum cell size": (
            "UPDATE agreement_version SET min_cell_size = 1 WHERE id = :version",
            {},
        ),
        "dataset": (
            "INSERT INTO agreement_column (version_id, dataset_id, column_name)"
            " VALUES (:version, :dataset, 'sex')",
            {"dataset": fresh(db).scalar(select(Dataset.id).where(Dataset.name == "Supervision"))},
        ),
    }
    statement, params = statements[how]
    as_the_dba(app, (statement, {"version": version, **params}))
    fresh(db)  # the next request's transaction starts after the DBA's


def assert_refused(refused: pytest.ExceptionInfo[PermissionDenied]) -> None:
    assert "integrity check" in refused.value.message
    record = refused.value.audit
    assert record is not None
    assert record["rule"] == AGREEMENT_SEAL


@pytest.mark.parametrize("how", ["end date", "column", "dataset", "personnel", "minimum cell size"])
def test_a_read_under_an_agreement_changed_with_the_database_alone_is_refused(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    stored: None,
    how: str,
) -> None:
    """The analyst holds a grant made under the terms as approved; the terms change in the
    database; the analyst's next read is refused and recorded with the rule that caught it."""
    ask_and_grant(db, people, agreement, datasets, columns=("sex",))
    status, _ = api_read(app, db, people, agreement, datasets, "sex")
    assert status == 200
    tampered(app, db, agreement, how, people)
    status, event = api_read(app, db, people, agreement, datasets, "sex")
    assert status == 403
    assert event.outcome == "denied"
    assert event.rule == AGREEMENT_SEAL
    assert "integrity check" in event.detail["reason"]


def test_a_grant_past_the_approved_end_date_moved_on_with_the_database_alone_is_refused(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    """The DBA moves the end date two years on, then the analyst asks for access beyond the
    approved end: the request is refused, so no grant outlives the approved term."""
    tampered(app, db, agreement, "end date", people)
    beyond = utcnow().date() + dt.timedelta(days=600)
    with pytest.raises(PermissionDenied) as refused:
        ask(db, people, agreement, datasets, ("sex",), end_date=beyond, now=utcnow())
    assert_refused(refused)


def test_a_column_added_to_the_scope_with_the_database_alone_is_not_granted(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    tampered(app, db, agreement, "column", people)
    with pytest.raises(PermissionDenied) as refused:
        ask_and_grant(db, people, agreement, datasets, columns=("district",))
    assert_refused(refused)


def test_a_person_added_to_the_personnel_with_the_database_alone_is_not_granted(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    """An agreement naming the first analyst only; the DBA names the second."""
    agreement = approved(
        db, people, datasets, personnel={people.analyst.id: "principal_investigator"}
    )
    tampered(app, db, agreement, "personnel", people, people.analyst2.id)
    with pytest.raises(PermissionDenied) as refused:
        ask_and_grant(db, people, agreement, datasets, columns=("sex",), by=people.analyst2)
    assert_refused(refused)


def test_an_agreement_changed_with_the_database_alone_opens_one_incident(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    """The periodic alert job reports a tampered agreement whether or not anyone reads under
    it, once per tampered row."""
    assert open_from_broken_seals(fresh(db), System("alerts"), utcnow()) == 0
    tampered(app, db, agreement, "end date", people)
    session = fresh(db)
    assert open_from_broken_seals(session, System("alerts"), utcnow()) == 1
    session.commit()
    session = fresh(db)
    assert open_from_broken_seals(session, System("alerts"), utcnow()) == 0
    session.commit()
    incidents = fresh(db).scalars(select(Incident)).all()
    assert len(incidents) == 1
    assert "agreement" in incidents[0].description.lower()


def test_the_service_keeps_its_own_changes_to_an_agreement_sealed(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets, stored: None
) -> None:
    """Every write the service makes (approval, countersignature, activation) seals the rows
    again: nothing is reported and reads go on."""
    sealed = (
        fresh(db)
        .execute(
            select(Agreement.seal, AgreementVersion.seal).join(
                AgreementVersion, AgreementVersion.agreement_id == Agreement.id
            )
        )
        .all()
    )
    assert sealed
    assert all(a and v for a, v in sealed)
    ask_and_grant(db, people, agreement, datasets, columns=("sex",))
    status, _ = api_read(app, db, people, agreement, datasets, "sex")
    assert status == 200
    assert open_from_broken_seals(fresh(db), System("alerts"), utcnow()) == 0
