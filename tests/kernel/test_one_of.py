"""`kernel.one_of`: `column IN (a list given at execution)`, as an expanding IN on SQLite and as
`column = ANY(one array parameter)` on PostgreSQL. The same rows either way (duplicates, an
empty list, values that match nothing, a NULL, a SQL function's result), and on PostgreSQL one
statement text whatever the list's length, so psycopg can prepare it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, event, func, select
from sqlalchemy.orm import Session

from governance.identity.models import User
from governance.kernel.one_of import one_of
from tests.support import People

_BY_ID = select(User.id).where(one_of(User.id, "ids")).order_by(User.id)
_BY_EMAIL = (
    select(User.id).where(one_of(func.lower(User.email), "emails", String())).order_by(User.id)
)


def test_the_same_rows_as_in_and_one_text_on_postgresql(db: Session, people: People) -> None:
    known = [people.analyst.id, people.steward.id, people.privacy.id]
    sent: list[str] = []

    def remember(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        sent.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", remember)
    try:
        for ids in ([], [known[0]], known, [*known, known[0], 999_999], [999_999], [None]):
            got = list(db.scalars(_BY_ID, {"ids": ids}))
            expected = list(db.scalars(select(User.id).where(User.id.in_(ids)).order_by(User.id)))
            assert got == expected == sorted({i for i in ids if i in known})
        emails = [people.analyst.email.upper(), "nobody@example.org"]
        assert list(db.scalars(_BY_EMAIL, {"emails": [e.lower() for e in emails]})) == [
            people.analyst.id
        ]
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    if engine.dialect.name == "postgresql":
        by_id = {s for s in sent if "ANY" in s and "lower" not in s}
        assert len(by_id) == 1, by_id  # one text for lists of 0, 1, 3, 5 values
        assert "= ANY (%(ids)s::INTEGER[])" in next(iter(by_id))
        assert any("lower(user_account.email) = ANY (%(emails)s::VARCHAR[])" in s for s in sent)
    else:
        # The expanding IN, standing as a comparison (not `(... IN (...)) = 1`).
        assert not any("ANY" in s or ") = 1" in s for s in sent)
        assert any("WHERE user_account.id IN (" in s for s in sent)
