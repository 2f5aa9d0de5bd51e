"""The pager's page and total come from one statement, and are what a count and a page asked
separately give: every page size, every page, both directions, an empty filter, a page past
the end (which asks the count on its own), entities and rows, a filter over a join."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.identity.models import User
from governance.identity.organization_model import Organization, OrganizationKind
from governance.web.paging import Page, paginate
from tests.support import statements_sent

SORTS = {"name": Organization.name, "id": Organization.id, "email": User.email}
AGENCIES = 9


@pytest.fixture
def agencies(db: Session) -> list[Organization]:
    db.add_all(
        Organization(name=f"Agency {n:02}", kind=OrganizationKind.PROVIDER) for n in range(AGENCIES)
    )
    db.commit()
    return list(db.scalars(select(Organization).order_by(Organization.name)))


@pytest.fixture
def statements(db: Session) -> Iterator[list[str]]:
    """What the test's session sends (the pager runs on the session it is given)."""
    with statements_sent(db.get_bind()) as seen:
        yield seen


def _page(app: Flask, db: Session, statement: Any, query: str, **options: Any) -> Page[Any]:
    with app.test_request_context(f"/?{query}"):
        return paginate(db, statement, sorts=SORTS, default_sort="name", **options)


def test_each_page_and_its_total_come_in_one_statement(
    app: Flask, db: Session, agencies: list[Organization], statements: list[str]
) -> None:
    for direction in ("asc", "desc"):
        ordered = agencies if direction == "asc" else agencies[::-1]
        for size in (1, 4, AGENCIES, AGENCIES + 1):
            pages = -(-AGENCIES // size)
            for number in range(1, pages + 1):
                statements.clear()
                page = _page(
                    app, db, select(Organization), f"page={number}&per_page={size}&dir={direction}"
                )
                assert len(statements) == 1, statements
                assert (page.total, page.pages) == (AGENCIES, pages)
                start = (number - 1) * size
                assert list(page.items) == ordered[start : start + size]


def test_a_page_past_the_end_still_says_how_many_there_are(
    app: Flask, db: Session, agencies: list[Organization], statements: list[str]
) -> None:
    statements.clear()
    page = _page(app, db, select(Organization), "page=50&per_page=4")
    assert (list(page.items), page.total, page.pages) == ([], AGENCIES, 3)
    assert len(statements) == 2  # the page, with no row to carry the total; then the count


def test_an_empty_first_page_is_no_rows_in_one_statement(
    app: Flask, db: Session, agencies: list[Organization], statements: list[str]
) -> None:
    statements.clear()
    nobody = select(Organization).where(Organization.name == "Nobody")
    page = _page(app, db, nobody, "")
    assert (list(page.items), page.total, page.pages) == ([], 0, 1)
    assert len(statements) == 1


def test_rows_come_as_their_columns_without_the_total(
    app: Flask, db: Session, agencies: list[Organization]
) -> None:
    statement = select(Organization.name, Organization.kind).where(
        Organization.kind == OrganizationKind.PROVIDER
    )
    expected = [tuple(row) for row in db.execute(statement.order_by(Organization.name))]
    page = _page(app, db, statement, "per_page=4&page=2", scalars=False)
    assert page.items == expected[4:8]
    assert page.total == len(expected) == AGENCIES


def test_the_total_counts_the_rows_of_a_join_not_of_its_tables(
    app: Flask, db: Session, agencies: list[Organization]
) -> None:
    for agency in agencies[:3]:
        for n in range(2):
            db.add(
                User(
                    email=f"{n}@{agency.id}.example",
                    name=f"P{n}",
                    password_hash="-",
                    organization_id=agency.id,
                )
            )
    db.commit()
    statement = select(User).join(Organization, Organization.id == User.organization_id)
    statement = statement.where(Organization.kind == OrganizationKind.PROVIDER)
    page = _page(app, db, statement, "per_page=4&sort=email")
    assert page.total == 6
    assert [u.email for u in page.items] == sorted(
        f"{n}@{a.id}.example" for a in agencies[:3] for n in range(2)
    )[:4]
