"""The audit search's names of people, agreements and datasets in one statement.

Every audit search names the people, agreements and datasets its page of events mentions
(`audit.directory.names_for`). Each noun offers its own look-up, and asking the three was
three statements: on PostgreSQL three round trips per search. The composition root, which
knows all three nouns, puts their own statements together in one UNION ALL (the same
conditions, the same rows) and installs it in the audit directory (registry.AUDIT_DIRECTORY).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import String, cast, literal_column, select, union_all
from sqlalchemy.orm import Session

from governance.agreements import names as agreement_names
from governance.audit.directory import Names
from governance.datasets import names as dataset_names
from governance.identity import names as people_names

_PEOPLE = people_names.NAMES_BY_EMAIL.subquery()
_AGREEMENTS = agreement_names.REFERENCES_BY_ID.subquery()
_DATASETS = dataset_names.NAMES_BY_ID.subquery()

# Built once: (what, key, name), the key as text in every part.
_NAMES = union_all(
    select(literal_column("'p'"), _PEOPLE.c.email, _PEOPLE.c.name),
    select(literal_column("'a'"), cast(_AGREEMENTS.c.id, String), _AGREEMENTS.c.reference),
    select(literal_column("'d'"), cast(_DATASETS.c.id, String), _DATASETS.c.name),
)


def names_in(
    session: Session,
    emails: Sequence[str],
    agreement_ids: Sequence[int],
    dataset_ids: Sequence[int],
) -> Names:
    """Full names by (lower-case) e-mail, references and datasets' names by id."""
    people: dict[str, str] = {}
    agreements: dict[int, str] = {}
    datasets: dict[int, str] = {}
    rows = session.execute(
        _NAMES,
        {
            "emails": list(emails),
            "agreement_ids": list(agreement_ids),
            "dataset_ids": list(dataset_ids),
        },
    )
    for what, key, name in rows:
        if what == "p":
            people[key.lower()] = name
        elif what == "a":
            agreements[int(key)] = name
        else:
            datasets[int(key)] = name
    return Names(people=people, agreements=agreements, datasets=datasets)
