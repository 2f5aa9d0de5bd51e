"""The agreement page's load (`queries.get_visible_page`): every version's parts read by one
statement each and put in their collections as loaded. Each version must get its own covered
columns, personnel, comments and documents, in the order the relationships declare, and the
covered datasets their columns in declared order: the same as the model's own loading, in six
statements whatever the number of versions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.models import Agreement
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
    assert shown == expected
    # The agreement with its versions, the four parts, the datasets' columns.
    assert len([s for s in sent if s.lstrip().upper().startswith("SELECT")]) == 6, sent
