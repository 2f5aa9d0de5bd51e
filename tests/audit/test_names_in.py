"""The audit search's names in one statement (registry_names.names_in) are what each noun's own
table says: people by lower-case e-mail (whatever the case asked), agreements' references and
datasets' names by id; ids and e-mails that name nothing are left out, so the page shows them as
they are stored ("agreement 999", the bare e-mail)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.audit.directory import Names, names_for
from governance.datasets.models import Dataset
from governance.identity.models import User
from governance.registry_names import names_in
from tests.agreements import builders
from tests.agreements.builders import make_datasets
from tests.support import People


def test_names_in_one_statement_are_each_tables_own(db: Session, people: People) -> None:
    datasets = make_datasets(db, people)
    agreement = builders.draft(db, people, datasets)
    users = list(db.scalars(select(User)))
    emails = [u.email.upper() for u in users] + ["nobody@test.example"]
    names = names_in(
        db,
        [e.lower() for e in emails],
        [agreement.id, 999_999],
        [datasets.arrests.id, datasets.probation.id, 888_888],
    )
    assert names.people == {u.email.lower(): u.name for u in users}
    assert names.agreements == {agreement.id: agreement.reference}
    assert names.datasets == {
        d.id: d.name for d in db.scalars(select(Dataset)) if d.id in names.datasets
    }
    assert set(names.datasets) == {datasets.arrests.id, datasets.probation.id}
    assert names.agreement(999_999) == "agreement 999999"
    assert names.person("nobody@test.example") == "nobody@test.example"
    # Only some of the three kinds asked: the others come back empty.
    assert names_in(db, [], [agreement.id], []) == Names(
        agreements={agreement.id: db.get(Agreement, agreement.id).reference}  # type: ignore[union-attr]
    )
    assert names_in(db, [], [], []) == Names()


def test_names_for_events_asks_for_what_they_mention(db: Session, people: People) -> None:
    class Event:
        def __init__(self, **fields: object) -> None:
            self.__dict__.update(fields)

    datasets = make_datasets(db, people)
    events = [
        Event(actor_email=people.analyst.email.upper(), agreement_id=None, dataset_id=None),
        Event(
            actor_email="system:expiry",
            detail={"email": people.steward.email},
            agreement_id=None,
            dataset_id=datasets.arrests.id,
        ),
    ]
    names = names_for(db, events)
    assert names.people == {
        people.analyst.email.lower(): people.analyst.name,
        people.steward.email.lower(): people.steward.name,
    }
    assert names.datasets == {datasets.arrests.id: datasets.arrests.name}
    assert names.agreements == {}
    assert names_for(db, [Event(actor_email="system:expiry")]) == Names()
