"""Who a request waits on, as its requester sees it (a committee: its name and counts of
votes, never its members), and the task "Answer a reminder" a nudge gives each person it
reached, due per SERVICE_LEVELS, closed once they act."""

from __future__ import annotations

import datetime as dt

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import nudges, requests
from governance.agreements.models import Agreement
from governance.committees import cases
from governance.committees.models import Committee, CommitteeCase
from governance.kernel.types import utcnow
from tests.agreements.builders import Datasets
from tests.committees.conftest import make_committee
from tests.compliance.test_api import token_of
from tests.conftest import Browser
from tests.outputs.test_notifications import Inbox
from tests.reminders.test_schedule import ask
from tests.support import PASSWORD, People


@pytest.fixture
def committee(db: Session, people: People, agreement: Agreement) -> Committee:
    return make_committee(db, people, agreement)


def answer_tasks(db: Session, person: object) -> list[object]:
    return nudges.reminders_to_answer(db, person)  # type: ignore[arg-type]


def test_a_committee_request_waits_on_the_committee_with_counts_never_its_members(
    client: FlaskClient,
    browser: Browser,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    committee: Committee,
    mail: Inbox,
) -> None:
    request = ask(db, people, agreement, datasets)
    case = db.scalar(select(CommitteeCase).where(CommitteeCase.request_id == request.id))
    assert case is not None
    cases.cast_vote(
        db,
        case_id=case.id,
        vote="approve",
        comment="",
        conditions=None,
        by=people.compliance,
        now=utcnow(),
    )
    db.commit()
    url = f"/api/v1/access-requests/{request.id}"
    shown = client.get(url, headers=token_of(db, people.analyst))
    assert shown.status_code == 200
    waiting = shown.json["waiting_on"]
    assert waiting["role"] == "Committee"
    assert waiting["people"] == []
    assert waiting["committee"]["name"] == "Data access committee"
    assert waiting["committee"]["id"] == committee.id
    assert (waiting["committee"]["votes_cast"], waiting["committee"]["voters"]) == (1, 3)
    assert waiting["period_days"] == 7  # SERVICE_LEVELS["Vote"]
    # Attacker's test: no member's name or address anywhere in what the requester reads.
    text = shown.get_data(as_text=True)
    for member in (people.compliance, people.checker, people.privacy2, people.partner):
        assert member.name not in text
        assert member.email not in text

    browser.login(people.analyst.email, PASSWORD)
    page = browser.get(f"/access/requests/{request.id}").get_data(as_text=True)
    assert "Waiting on <strong>the committee Data access committee</strong>" in page
    assert "1 of 3 votes" in page

    # The nudge reaches the members who have not voted, not the chair who did, nor the steward.
    mail.clear()
    sent = client.post(f"{url}/nudge", headers=token_of(db, people.analyst))
    assert sent.status_code == 200
    assert {to for to, _s, _b in mail.messages} == {people.checker.email, people.privacy2.email}


def test_a_nudge_gives_the_people_it_reached_a_task_that_closes_when_they_act(
    client: FlaskClient,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    committee: Committee,
    mail: Inbox,
) -> None:
    request = ask(db, people, agreement, datasets)
    case = db.scalar(select(CommitteeCase).where(CommitteeCase.request_id == request.id))
    assert case is not None
    assert answer_tasks(db, people.checker) == []
    now = utcnow()
    nudges.nudge(db, request_id=request.id, by=people.analyst, now=now)
    db.commit()

    for member in (people.compliance, people.checker, people.privacy2):
        [task] = answer_tasks(db, member)
        assert task.kind == "Answer a reminder"  # type: ignore[attr-defined]
        assert task.title == f"Answer a reminder about access request #{request.id}"  # type: ignore[attr-defined]
        assert task.due == (now + dt.timedelta(days=2)).date()  # type: ignore[attr-defined]
        assert task.endpoint == "committees.case_page"  # type: ignore[attr-defined]
    # Attacker's test: the observer (no vote), the requester and the steward owe nothing.
    for other in (people.partner, people.analyst, people.steward):
        assert answer_tasks(db, other) == []

    # A vote is the answer: that member's task closes, the others' stay.
    cases.cast_vote(
        db,
        case_id=case.id,
        vote="approve",
        comment="",
        conditions=None,
        by=people.checker,
        now=now,
    )
    db.commit()
    assert answer_tasks(db, people.checker) == []
    assert len(answer_tasks(db, people.privacy2)) == 1
    # It is on the owner's dashboard.
    browser = Browser(client)
    browser.login(people.privacy2.email, PASSWORD)
    board = browser.get("/", follow_redirects=True).get_data(as_text=True)
    assert f"Answer a reminder about access request #{request.id}" in board


def test_a_stewards_reminder_task_closes_when_the_request_is_decided(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, mail: Inbox
) -> None:
    request = ask(db, people, agreement, datasets)
    assert request.committee_id is None
    nudges.nudge(db, request_id=request.id, by=people.analyst, now=utcnow())
    db.commit()
    [task] = answer_tasks(db, people.steward)
    assert task.endpoint == "access.request_detail"  # type: ignore[attr-defined]
    requests.return_request(
        db, request_id=request.id, comment="Say more.", by=people.steward, now=utcnow()
    )
    db.commit()
    assert answer_tasks(db, people.steward) == []
