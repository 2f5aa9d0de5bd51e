"""The committee's pages: administration, the case page members vote on, the votes waiting on
a member's dashboard, and where the request stands on the requester's page."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access.models import AccessRequest
from governance.agreements.models import Agreement
from governance.committees.models import Committee, CommitteeCase
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People


def signed_in(app: Flask, email: str) -> Browser:
    browser = Browser(app.test_client())
    assert browser.login(email, PASSWORD).status_code == 302
    return browser


def case_for(db: Session, request: AccessRequest) -> CommitteeCase:
    found = fresh(db).scalar(select(CommitteeCase).where(CommitteeCase.request_id == request.id))
    assert found is not None
    return found


def test_members_vote_on_the_case_page_and_the_requester_sees_the_count(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    committee: Committee,
) -> None:
    request = ask(db, people, agreement, datasets)
    case = case_for(db, request)
    checker = signed_in(app, people.checker.email)
    dashboard = checker.get("/dashboard/output_checker").get_data(as_text=True)
    assert f"Vote on access request #{request.id} (Data access committee)" in dashboard
    page = checker.get(f"/committees/cases/{case.id}").get_data(as_text=True)
    for section in (
        "The request",
        "Clauses it relies on",
        "training and history",
        "Prior decisions on similar requests",
        "Votes so far",
        "Re-identification figures",
        "Not computed",
        "Record my vote",
    ):
        assert section in page, section
    answer = checker.post(
        f"/committees/cases/{case.id}/vote", {"vote-vote": "approve", "vote-comment": "Fine."}
    )
    assert answer.status_code == 302
    requester = signed_in(app, people.analyst.email)
    shown = requester.get(f"/access/requests/{request.id}").get_data(as_text=True)
    assert "1 of 3 votes, decision rule majority" in shown
    assert people.checker.email not in shown
    # The observer follows the case but has no vote form.
    observer = signed_in(app, people.partner.email).get(f"/committees/cases/{case.id}")
    assert observer.status_code == 200
    assert "Record my vote" not in observer.get_data(as_text=True)
    assert "Observer: does not vote" in observer.get_data(as_text=True)
    # Nobody outside the committee (nor the requester) opens the case page.
    assert requester.get(f"/committees/cases/{case.id}").status_code == 403


def test_a_refused_vote_comes_back_on_the_case_page(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    committee: Committee,
) -> None:
    request = ask(db, people, agreement, datasets)
    case = case_for(db, request)
    checker = signed_in(app, people.checker.email)
    page = f"/committees/cases/{case.id}"
    checker.get(page)
    answer = checker.post(
        f"{page}/vote",
        {"vote-vote": "approve", "vote-comment": "x" * 4001},
        headers={"Referer": f"http://localhost{page}"},
    )
    assert answer.status_code == 422
    assert "Record my vote" in answer.get_data(as_text=True)
    answer = checker.post(
        f"{page}/recuse", {"recuse-reason": ""}, headers={"Referer": f"http://localhost{page}"}
    )
    assert answer.status_code == 422
    assert "This field is required." in answer.get_data(as_text=True)
    # Conditions that do not narrow the request are refused beside the form too.
    answer = checker.post(
        f"{page}/vote",
        {"vote-vote": "approve_with_conditions"},
        headers={"Referer": f"http://localhost{page}"},
    )
    assert answer.status_code == 422
    assert "Name the conditions" in answer.get_data(as_text=True)


def test_an_administrator_sets_up_a_committee_on_its_pages(
    app: Flask, db: Session, people: People, agreement: Agreement
) -> None:
    admin = signed_in(app, people.admin.email)
    answer = admin.post(
        "/committees/",
        {
            "name": "Consortium DAC",
            "organization_id": str(people.lab.id),
            "rule": "quorum",
            "quorum": "2",
            "decision_days": "10",
        },
    )
    assert answer.status_code == 302
    committee = fresh(db).scalar(select(Committee).where(Committee.name == "Consortium DAC"))
    assert committee is not None
    assert (committee.rule, committee.quorum) == ("quorum", 2)
    detail = f"/committees/{committee.id}"
    for person, role in ((people.compliance, "chair"), (people.checker, "member")):
        assert (
            admin.post(
                f"{detail}/members", {"member-user_id": str(person.id), "member-role": role}
            ).status_code
            == 302
        )
    assert (
        admin.post(
            f"{detail}/assign",
            {"assign-subject_type": "agreement", "assign-subject_id": str(agreement.id)},
        ).status_code
        == 302
    )
    refused = admin.post(
        f"{detail}/rule",
        {"rule-rule": "majority", "rule-decision_days": "0"},
        headers={"Referer": f"http://localhost{detail}"},
    )
    assert refused.status_code == 422
    assert "Set the rule" in refused.get_data(as_text=True)
    page = admin.get(detail).get_data(as_text=True)
    assert people.compliance.email in page
    assert "quorum of 2, then majority" in page
    assert f"Agreement #{agreement.id}" in page
    # Someone without committee:manage cannot.
    steward = signed_in(app, people.steward.email)
    assert steward.get("/committees/").status_code == 403
    assert (
        steward.post(
            f"{detail}/members", {"member-user_id": str(people.steward.id), "member-role": "chair"}
        ).status_code
        == 403
    )


def test_the_case_page_shows_the_requests_re_identification_figures(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    committee: Committee,
) -> None:
    from governance.datasets.ingestion import ingest_frame
    from tests.access.test_data_door import ROWS
    from tests.support import SETUP

    ingest_frame(
        db, dataset_id=datasets.arrests.id, frame=ROWS, source_filename="arrests.csv", by=SETUP
    )
    db.commit()
    request = ask(db, people, agreement, datasets, columns=("sex", "age_at_arrest"))
    page = (
        signed_in(app, people.checker.email)
        .get(f"/committees/cases/{case_for(db, request).id}")
        .get_data(as_text=True)
    )
    assert "100.0% (30)" in page  # every record unique on sex and age as requested
    assert "Without <code>sex</code>" in page
    assert "theft" not in page  # counts only, never a row value
    assert "P0001" not in page
