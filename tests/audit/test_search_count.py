"""The audit search's count of matching events: exact below the cap, the cap at or above it,
whichever way it is worked out (from the first page, stepping to the cap-th match, or counting)."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from governance.audit import search as audit_search
from governance.audit import service as audit
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.audit.queries import AuditFilter
from tests.support import People


@pytest.fixture
def reads(db: Session, people: People) -> int:
    """60 reads by the analyst, every third one denied, every fifth naming direct identifiers."""
    for i in range(60):
        audit.record(
            db,
            AuditType.DATASET_READ,
            by=people.analyst,
            agreement_id=5,
            dataset_id=2,
            outcome=Outcome.DENIED if i % 3 == 0 else Outcome.ALLOWED,
            detail={"direct_identifier_columns": ["nhs_number"]} if i % 5 == 0 else {"i": i},
        )
    db.commit()
    return 60


FILTERS = [
    AuditFilter(event_type=AuditType.DATASET_READ),  # 60
    AuditFilter(event_type=AuditType.DATASET_READ, outcome=Outcome.DENIED),  # 20
    AuditFilter(kind="identifier_reads"),  # 12, a kind: counted in one pass
    AuditFilter(agreement_id=5, dataset_id=2),  # 60
    AuditFilter(event_type=AuditType.LOGIN_FAILED),  # none
]


@pytest.mark.parametrize("flt", FILTERS, ids=lambda f: f.describe())
@pytest.mark.parametrize("cap", [1, 12, 13, 60, 61, 10_000])
@pytest.mark.parametrize("per_page", [5, 100])
def test_the_count_is_the_number_of_matches_up_to_the_cap(
    db: Session,
    people: People,
    reads: int,
    flt: AuditFilter,
    cap: int,
    per_page: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audit_search, "COUNT_CAP", cap)
    matches = db.scalar(select(func.count()).select_from(AuditEvent).where(*flt.conditions()))
    assert matches is not None
    page = audit_search.search(db, flt, before=None, by=people.compliance, per_page=per_page)
    assert page.matched == min(matches, cap)
    assert page.matched_capped == (matches >= cap)
    if page.next_before is not None:  # a later page counts every match too, not what is left
        later = audit_search.search(
            db, flt, before=page.next_before, by=people.compliance, per_page=per_page
        )
        assert later.matched == min(matches, cap)
    db.rollback()


def test_a_count_at_the_cap_is_not_asked_again_and_one_below_follows_new_events(
    db: Session, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_search, "COUNT_CAP", 10)
    reads, denied = (
        AuditFilter(event_type=AuditType.DATASET_READ),
        AuditFilter(event_type=AuditType.DATASET_READ, outcome=Outcome.DENIED),
    )

    def add(count: int, outcome: Outcome = Outcome.ALLOWED) -> None:
        for _ in range(count):
            audit.record(db, AuditType.DATASET_READ, by=people.analyst, outcome=outcome)
        db.commit()

    def matched(flt: AuditFilter) -> tuple[int, int]:
        """The count shown on a second page's search, and the statements it sent."""
        sent: list[str] = []
        engine = db.get_bind()
        listener = lambda *args: sent.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            page = audit_search.search(db, flt, before=None, by=people.compliance, per_page=2)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        db.commit()
        return page.matched, sum("count(" in sql.lower() for sql in sent)

    add(6)
    assert matched(reads) == (6, 1)
    assert matched(denied) == (0, 0)  # the first page holds every match: nothing counted
    add(6)
    assert matched(reads)[0] == 10  # "at least 10"
    assert matched(reads) == (10, 0)  # the trail only grows: the cap is not asked again
    add(3, Outcome.DENIED)
    assert matched(denied) == (3, 1)  # below the cap, each search counts afresh
    add(3, Outcome.DENIED)
    assert matched(denied) == (6, 1)
    assert matched(reads) == (10, 0)
