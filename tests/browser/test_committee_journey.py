"""A three-member committee decides a request by majority in a real browser, with the
keyboard alone, while the requester watches where the request stands."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access.models import AccessRequest, RequestStatus
from governance.committees.models import CommitteeCase
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets, approved
from tests.browser.conftest import Console
from tests.browser.keyboard import choose, log_in, press, type_into
from tests.browser.test_journeys import world  # noqa: F401 (the fixture)
from tests.committees.conftest import make_committee
from tests.conftest import fresh
from tests.support import PASSWORD, People

VOTE_BUTTON = "form[action$='/vote'] button.primary"


def test_a_committee_decides_by_majority_while_the_requester_watches(
    db: Session,
    people: People,
    world: Datasets,  # noqa: F811 (the fixture imported above)
    live_server: Any,
    new_page: Any,
    console: Console,
) -> None:
    agreement = approved(db, people, world)
    make_committee(db, people, agreement)
    request = ask(db, people, agreement, world)
    case = fresh(db).scalar(select(CommitteeCase).where(CommitteeCase.request_id == request.id))
    assert case is not None
    base = live_server.url
    request_page = f"{base}/access/requests/{request.id}"
    case_page = f"{base}/committees/cases/{case.id}"

    requester = new_page()
    log_in(requester, base, people.analyst.email, PASSWORD)

    def standing() -> str:
        requester.goto(request_page)
        text: str = requester.locator("#committee-standing").inner_text()
        return text

    assert "0 of 3 votes, decision rule majority" in standing()

    votes = ((people.checker, "Approve"), (people.privacy2, "Reject"))
    for count, (member, choice) in enumerate(votes, start=1):
        page = new_page()
        log_in(page, base, member.email, PASSWORD)
        page.goto(case_page)
        choose(page, "#vote-vote", choice)
        type_into(page, "#vote-comment", f"{choice} from {member.name}.")
        press(page, VOTE_BUTTON)
        assert "Your vote is recorded." in page.content()
        said = standing()
        assert f"{count} of 3 votes, decision rule majority" in said
        assert member.email not in said

    chair = new_page()
    log_in(chair, base, people.compliance.email, PASSWORD)
    chair.goto(case_page)
    assert "Not voted yet" in chair.content()
    choose(chair, "#vote-vote", "Approve")
    press(chair, VOTE_BUTTON)
    assert "Decided: approved" in chair.locator("#case-status").inner_text()

    assert standing() == "Decided by Data access committee: approved."
    assert requester.locator(".page-head .badge").inner_text() == "approved"
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    assert found.status == RequestStatus.APPROVED
    assert found.grant_id is not None
