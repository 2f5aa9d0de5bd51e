"""The agreement page's load (`queries.get_visible_page`): every version's parts read by one
statement each and put in their collections as loaded. Each version must get its own covered
columns, personnel, comments and documents, in the order the relationships declare, and the
covered datasets their columns in declared order: the same as the model's own loading, in six
statements whatever the number of versions; four when no version has a comment or a document
(the first statement says so)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.models import Agreement
from governance.agreements.parts_model import AgreementDocument
from governance.agreements.queries import get_visible_page
from governance.identity.models import User
from governance.kernel.types import utcnow
from tests.agreements import builders
from tests.agreements.builders import Datasets
from tests.agreements.test_amendments_and_events import amend
from tests.conftest import fresh
from tests.support import People


def _shown(agreement: Agreement) -> list[tuple[Any, ...]]:
    """What the page reads of each version."""
    return [
        (
            version.number,
            [(c.dataset_id, c.column_name, c.dataset.column_names) for c in version.covered],
            [(p.user_id, p.project_role, p.user.name) for p in version.personnel],
            [(c.kind, c.body) for c in version.comments],
            [d.id for d in version.documents],
            version.clauses(),
        )
        for version in agreement.versions
    ]


def test_each_version_gets_its_own_parts_as_the_model_loads_them(
    db: Session, people: People, datasets: Datasets
) -> None:
    stops = builders._dataset(db, "Stops", people.police.id, builders.PROBATION_COLUMNS)
    db.commit()
    agreement = builders.approved(db, people, datasets)
    # Columns out of their declared order, and a second dataset; other personnel.
    columns = {
        datasets.arrests.id: ["offence_category", "person_id"],
        stops.id: ["risk_level", "person_id"],
    }
    analyst2 = {people.analyst2.id: "principal_investigator"}
    amend(db, people, datasets, agreement, columns=columns, personnel=analyst2)
    agreements.return_to_draft(
        db, agreement_id=agreement.id, comment="Why stops?", by=people.privacy2, now=utcnow()
    )
    db.commit()
    agreement_id = agreement.id

    expected = _shown(fresh(db).get(Agreement, agreement_id))  # type: ignore[arg-type]
    assert len(expected) == 2
    assert expected[0][1] != expected[1][1]
    assert expected[0][2] != expected[1][2]
    assert expected[1][3]
    assert not expected[0][3]

    document = AgreementDocument(
        version_id=agreement.versions[0].id,
        sha256="0" * 64,
        byte_size=1,
        issued_by_id=people.privacy.id,
        issued_by_label=people.privacy.email,
        issued_at=utcnow(),
    )
    db.add(document)
    db.commit()
    expected = _shown(fresh(db).get(Agreement, agreement_id))  # type: ignore[arg-type]
    assert expected[0][4] == [document.id]
    assert not expected[1][4]

    shown, selects = _page(db, people, agreement_id)
    assert shown == expected
    # The agreement with its versions, the four parts, the datasets' columns.
    assert selects == 6


def test_parts_no_version_has_are_not_asked_for(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement_id = builders.approved(db, people, datasets).id
    expected = _shown(fresh(db).get(Agreement, agreement_id))  # type: ignore[arg-type]
    assert len(expected) == 1
    assert not [v for v in expected if v[3] or v[4]]  # no comment, no document
    assert expected[0][1]
    assert expected[0][2]

    shown, selects = _page(db, people, agreement_id)
    assert shown == expected
    # The agreement with its versions (and that no version has a comment or a document), the
    # covered columns, the personnel, the datasets' columns.
    assert selects == 4


def _page(db: Session, people: People, agreement_id: int) -> tuple[list[tuple[Any, ...]], int]:
    """What the page's load gives, read by a privacy officer in a session of their own, and
    how many SELECT statements it sent."""
    sent: list[str] = []
    engine = db.get_bind()

    def count(*args: Any) -> None:
        sent.append(args[2])

    with Session(bind=engine, info=db.info) as page_db:
        reader = page_db.get(User, people.privacy.id)
        assert reader is not None
        assert reader.roles
        event.listen(engine, "before_cursor_execute", count)
        try:
            shown = _shown(get_visible_page(page_db, agreement_id, by=reader))
        finally:
            event.remove(engine, "before_cursor_execute", count)
    return shown, len([s for s in sent if s.lstrip().upper().startswith("SELECT")])
