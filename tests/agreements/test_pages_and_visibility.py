"""Who sees which agreements, the list's filters and sorting, read-only pages for others, and
the privacy officer's dashboard of agreements expiring within 60, 30 and 7 days."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType
from governance.identity import users
from governance.identity.organization_model import OrganizationKind
from governance.kernel.types import utcnow
from tests.agreements import builders
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, SETUP, People

BUTTONS = (
    "Submit for review",
    "Approve version",
    "Return with comments",
    "Amend",
    "Terminate the agreement",
    "Certify destruction",
    "Edit the",
)


def references(page: str) -> set[str]:
    return set(re.findall(r"DUA-\d{4}-\d{3}", page))


@pytest.fixture
def world(app: Flask, db: Session, people: People, datasets: Datasets) -> dict[str, Agreement]:
    """A police agreement with the test lab, a probation one, and one with another lab."""
    other_lab = users.create_organization(
        db, name="Other Lab", kind=OrganizationKind.RESEARCH, by=SETUP
    )
    db.commit()
    police = builders.approved(
        db, people, datasets, expiry_date=builders.today() + dt.timedelta(days=5)
    )
    probation = agreements.create_agreement(
        db,
        provider_id=people.probation.id,
        recipient_id=people.lab.id,
        by=people.privacy,
        now=utcnow(),
        terms=builders.terms(
            people,
            datasets,
            title="Supervision outcomes",
            columns={datasets.probation.id: ["person_id", "risk_level"]},
        ),
    )
    elsewhere = agreements.create_agreement(
        db,
        provider_id=people.police.id,
        recipient_id=other_lab.id,
        by=people.privacy,
        now=utcnow(),
        terms=builders.terms(people, datasets, title="Other lab study", personnel={}),
    )
    db.commit()
    return {"police": police, "probation": probation, "elsewhere": elsewhere}


def test_privacy_officers_see_every_agreement(
    browser: Browser, people: People, world: dict[str, Agreement]
) -> None:
    browser.login(people.privacy.email, PASSWORD)
    page = browser.get("/agreements/").get_data(as_text=True)
    assert references(page) == {a.reference for a in world.values()}


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        ("analyst", {"police", "probation"}),  # the lab is recipient of both
        ("partner", {"police", "elsewhere"}),  # the police department provides both
        ("compliance", {"police", "probation", "elsewhere"}),
    ],
)
def test_others_see_the_agreements_they_are_party_to(
    browser: Browser, people: People, world: dict[str, Agreement], role: str, visible: set[str]
) -> None:
    browser.login(getattr(people, role).email, PASSWORD)
    page = browser.get("/agreements/").get_data(as_text=True)
    assert references(page) == {world[k].reference for k in visible}


def test_a_non_party_is_refused_the_detail_and_it_is_recorded(
    app: Flask, db: Session, people: People, world: dict[str, Agreement], browser: Browser
) -> None:
    browser.login(people.partner.email, PASSWORD)
    response = browser.get(f"/agreements/{world['probation'].id}")
    assert response.status_code == 403
    refusal = fresh(db).scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert refusal is not None
    assert (refusal.event_type, refusal.outcome, refusal.agreement_id) == (
        AuditType.AGREEMENT_READ,
        "denied",
        world["probation"].id,
    )
    assert browser.get("/agreements/999999").status_code == 404


@pytest.mark.parametrize("role", ["analyst", "partner", "steward", "compliance"])
def test_others_read_without_any_action_button(
    browser: Browser, people: People, world: dict[str, Agreement], role: str
) -> None:
    browser.login(getattr(people, role).email, PASSWORD)
    page = browser.get(f"/agreements/{world['police'].id}").get_data(as_text=True)
    assert "Diversion programme evaluation" in page
    assert "publication.min_cell_size" in page
    for button in BUTTONS:
        assert button not in page, button
    assert "Download the PDF" in page


def test_the_privacy_officer_sees_the_buttons_the_state_allows(
    browser: Browser, people: People, world: dict[str, Agreement]
) -> None:
    browser.login(people.privacy.email, PASSWORD)
    active = browser.get(f"/agreements/{world['police'].id}").get_data(as_text=True)
    assert "Amend" in active
    assert "Terminate the agreement" in active
    assert "Submit for review" not in active
    draft = browser.get(f"/agreements/{world['probation'].id}").get_data(as_text=True)
    assert "Submit for review" in draft
    assert "Edit the draft" in draft
    assert "Terminate the agreement" not in draft


def test_the_list_filters_by_status_provider_and_expiry(
    browser: Browser, people: People, world: dict[str, Agreement]
) -> None:
    browser.login(people.privacy.email, PASSWORD)

    def listed(query: str) -> set[str]:
        response = browser.get(f"/agreements/?{query}")
        assert response.status_code == 200
        return references(response.get_data(as_text=True))

    assert listed("status=draft") == {world["probation"].reference, world["elsewhere"].reference}
    assert listed(f"provider={people.probation.id}") == {world["probation"].reference}
    assert listed("expiring=7") == {world["police"].reference}
    assert listed("expiring=7&status=draft") == set()
    assert browser.get("/agreements/?expiring=12").status_code == 422
    assert browser.get("/agreements/?status=bogus").status_code == 422


def test_the_list_is_sorted_and_paged_on_the_server(
    browser: Browser, people: People, world: dict[str, Agreement]
) -> None:
    browser.login(people.privacy.email, PASSWORD)
    page = browser.get("/agreements/?sort=title&dir=desc&per_page=2").get_data(as_text=True)
    titles = re.findall(
        r"<td>(Supervision outcomes|Other lab study|Diversion programme "
        r"evaluation)</td>",
        page,
    )
    assert titles == ["Supervision outcomes", "Other lab study"]
    assert "Page 1 of 2" in page
    assert browser.get("/agreements/?sort=secret").status_code == 422


def test_the_dashboard_lists_agreements_expiring_within_60_30_and_7_days(
    app: Flask, db: Session, people: People, datasets: Datasets, browser: Browser
) -> None:
    today = builders.today()
    soon = {
        days: builders.approved(db, people, datasets, expiry_date=today + dt.timedelta(days=days))
        for days in (3, 20, 45, 90)
    }
    submitted = builders.draft(db, people, datasets, by=people.privacy2)
    agreements.submit(db, agreement_id=submitted.id, by=people.privacy2, now=utcnow())
    db.commit()
    browser.login(people.privacy.email, PASSWORD)
    page = browser.get("/dashboard/privacy_officer").get_data(as_text=True)
    assert "Agreement expiring within 7 days" in page
    assert "Agreement expiring within 30 days" in page
    assert "Agreement expiring within 60 days" in page
    for days in (3, 20, 45):
        assert soon[days].reference in page
    assert soon[90].reference not in page
    assert f"Review {submitted.reference}" in page


def test_a_changed_term_name_or_party_is_shown_at_the_next_view(
    browser: Browser, db: Session, people: People, datasets: Datasets
) -> None:
    """Each process keeps the terms tables it drew, by their text: a term edited in the
    database, a dataset renamed or a party renamed after the page was seen shows at once."""
    agreement = builders.draft(db, people, datasets)
    db.commit()
    dataset_name, provider_name = datasets.arrests.name, people.police.name
    browser.login(people.privacy.email, PASSWORD)
    url = f"/agreements/{agreement.id}"
    for _ in range(2):
        first = browser.get(url).get_data(as_text=True)
        assert "Estimate the effect of pre-arrest diversion" in first
        assert dataset_name in first
        assert provider_name in first
    session = fresh(db)
    version = session.get(Agreement, agreement.id).working_version  # type: ignore[union-attr]
    assert version is not None
    version.purpose = "A purpose changed behind the page's back."
    session.get(type(datasets.arrests), datasets.arrests.id).name = "Renamed arrests"  # type: ignore[union-attr]
    session.get(Agreement, agreement.id).provider.name = "Renamed Police"  # type: ignore[union-attr]
    session.commit()
    after = browser.get(url).get_data(as_text=True)
    assert "A purpose changed behind the page&#39;s back." in after
    assert "Estimate the effect of pre-arrest diversion" not in after
    terms = re.search(r'<table class="table clauses">.*?</table>', after, re.S)
    assert terms is not None
    assert "Renamed arrests" in terms.group(0)
    assert dataset_name not in terms.group(0)
    assert "Renamed Police" in terms.group(0)
    assert provider_name not in terms.group(0)
