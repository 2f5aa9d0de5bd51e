"""The outputs list shows exactly the outputs their look-up opens: someone removed from the
personnel by an amendment, or named only in an amendment not yet in force, is not listed an
output that answers them as a missing id (docs/decisions/api.md)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.outputs.common import can_view
from governance.outputs.models import Output
from governance.outputs.queries import list_statement
from tests.agreements.builders import Datasets, amendment, countersign
from tests.conftest import fresh
from tests.outputs.builders import produce
from tests.support import People


def listed(db: Session, people: People) -> dict[str, set[int]]:
    session = fresh(db)
    return {
        key: {o.id for o in session.scalars(list_statement(getattr(people, key), status=None))}
        for key in ("analyst", "analyst2", "checker", "partner", "steward", "compliance")
    }


def viewable(db: Session, people: People) -> dict[str, set[int]]:
    session = fresh(db)
    outputs = session.query(Output).all()
    return {
        key: {o.id for o in outputs if can_view(getattr(people, key), o)}
        for key in ("analyst", "analyst2", "checker", "partner", "steward", "compliance")
    }


def test_the_list_and_the_look_up_agree_across_an_amendment(
    db: Session, people: People, datasets: Datasets, agreement: Agreement
) -> None:
    before = produce(db, people, agreement)  # under version 1, naming analyst and analyst2
    # Version 2 names the analyst only: analyst2 is no longer on the project.
    amendment(
        db, people, datasets, agreement, personnel={people.analyst.id: "principal_investigator"}
    )
    countersign(db, people, fresh(db).get(Agreement, agreement.id))  # type: ignore[arg-type]
    db.commit()
    after = produce(db, people, fresh(db).get(Agreement, agreement.id))  # type: ignore[arg-type]
    assert after.agreement_version == 2
    shown = listed(db, people)
    assert shown == viewable(db, people)
    # analyst2 keeps the output made while they were named, not the later one.
    assert shown["analyst2"] == {before.id}
    assert shown["analyst"] == {before.id, after.id}


def test_a_draft_amendment_naming_someone_lists_nothing_for_them(
    db: Session, people: People, datasets: Datasets, agreement: Agreement
) -> None:
    # Version 2 (in force) names the analyst only; a submitted amendment would add analyst2
    # back.
    amendment(
        db, people, datasets, agreement, personnel={people.analyst.id: "principal_investigator"}
    )
    countersign(db, people, fresh(db).get(Agreement, agreement.id))  # type: ignore[arg-type]
    db.commit()
    produce(db, people, fresh(db).get(Agreement, agreement.id))  # type: ignore[arg-type]
    amendment(
        db,
        people,
        datasets,
        fresh(db).get(Agreement, agreement.id),  # type: ignore[arg-type]
        step="submitted",
        personnel={people.analyst.id: "principal_investigator", people.analyst2.id: "analyst"},
    )
    db.commit()
    shown = listed(db, people)
    assert shown == viewable(db, people)
    assert shown["analyst2"] == set()
