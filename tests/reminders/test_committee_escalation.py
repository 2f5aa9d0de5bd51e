"""An overdue committee vote escalates to the committee's chair (who may then decide alone),
once, not to the privacy officers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.committees import cases
from governance.committees.models import Committee, CommitteeCase
from governance.kernel.types import utcnow
from governance.reminders import ledger
from tests.agreements.builders import Datasets
from tests.committees.conftest import make_committee
from tests.outputs.test_notifications import Inbox
from tests.reminders.test_schedule import about, ask
from tests.support import People


@pytest.fixture
def committee(db: Session, people: People, agreement: Agreement) -> Committee:
    return make_committee(db, people, agreement)


def test_an_overdue_vote_escalates_to_the_chair(
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    committee: Committee,
    mail: Inbox,
    run: Any,
) -> None:
    request = ask(db, people, agreement, datasets)
    case = db.scalar(select(CommitteeCase).where(CommitteeCase.request_id == request.id))
    assert case is not None
    now = utcnow()
    # The chair has voted; the two members have not.
    cases.cast_vote(
        db,
        case_id=case.id,
        vote="approve",
        comment="",
        conditions=None,
        by=people.compliance,
        now=now,
    )
    db.commit()
    title = f"Vote on access request #{request.id}"
    run(ledger.remind_tasks, now)
    assert about(mail, people.checker.email, title)  # the member is told it arrived
    mail.clear()

    run(ledger.remind_tasks, case.deadline + dt.timedelta(days=2))
    for member in (people.checker, people.privacy2):
        [(_to, _subject, body)] = about(mail, member.email, "Overdue:")
        assert title in body or title in _subject
        assert people.compliance.name in body  # the owner learns who else was told
    escalated = about(mail, people.compliance.email, "Overdue with")
    assert len(escalated) == 1  # two members hold the same vote: the chair hears once
    assert title in escalated[0][1]
    assert f"/committees/cases/{case.id}" in escalated[0][2]
    assert not about(mail, people.privacy.email, title)  # not the privacy officers
