"""The case page's vote form names every condition the API accepts: on an agreement approval a
partner preview before publication (`preview_days`), on an access request each requested
column as stored, coarsened or pseudonymised. A bad value comes back beside its field (422) and
nothing is recorded. Both databases."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.committees.models import Committee, CommitteeVote
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets
from tests.committees.test_agreement_approvals import narrow, version_case
from tests.committees.test_committee_pages import case_for, signed_in
from tests.conftest import fresh
from tests.support import People


def ballots(db: Session, case_id: int) -> list[CommitteeVote]:
    return list(fresh(db).scalars(select(CommitteeVote).where(CommitteeVote.case_id == case_id)))


def error_beside(page: str, field_id: str) -> bool:
    """The field's own block carries the error (the `field` macro's has-error)."""
    return (
        re.search(
            rf'<div class="field has-error">\s*<label for="{field_id}">.*?<p class="error"',
            page,
            re.S,
        )
        is not None
    )


def test_a_member_sets_a_partner_preview_on_an_agreement_approval(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    committee: Committee,
) -> None:
    narrow(db, people, datasets, agreement)
    case = version_case(db, agreement, 2)
    version = fresh(db).get(Agreement, agreement.id).version(2)  # type: ignore[union-attr]
    assert version is not None
    preview = version.preview_window_days
    db.rollback()
    checker = signed_in(app, people.checker.email)
    page = f"/committees/cases/{case.id}"
    shown = checker.get(page).get_data(as_text=True)
    assert 'name="vote-preview_days"' in shown
    assert f"preview window of {preview} days" in shown
    assert 'name="vote-form_0"' not in shown  # column forms are a grant's term
    referer = {"Referer": f"http://localhost{page}"}
    for typed, said in (
        ("many", "Not a valid integer value."),
        ("0", "Number must be between 1 and 365."),
        (str(preview), f"More than {preview} days"),  # not longer than the version's window
    ):
        refused = checker.post(
            f"{page}/vote",
            {"vote-vote": "approve_with_conditions", "vote-preview_days": typed},
            headers=referer,
        )
        assert refused.status_code == 422, typed
        text = refused.get_data(as_text=True)
        assert said in text, typed
        assert error_beside(text, "vote-preview_days"), typed
        assert f'value="{typed}"' in text  # what was typed is kept
        assert ballots(db, case.id) == []
    answer = checker.post(
        f"{page}/vote",
        {"vote-vote": "approve_with_conditions", "vote-preview_days": str(preview + 10)},
    )
    assert answer.status_code == 302
    [ballot] = ballots(db, case.id)
    assert ballot.conditions == {"preview_days": preview + 10}
    shown = checker.get(page).get_data(as_text=True)
    assert f"publication only after the partner&#39;s preview of {preview + 10} days" in shown


def test_a_member_grants_requested_columns_coarsened_or_pseudonymised(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    committee: Committee,
) -> None:
    request = ask(db, people, agreement, datasets, columns=("sex", "age_at_arrest"))
    case = case_for(db, request)
    db.rollback()
    checker = signed_in(app, people.checker.email)
    page = f"/committees/cases/{case.id}"
    shown = checker.get(page).get_data(as_text=True)
    for n, column in enumerate(("sex", "age_at_arrest")):
        assert f'<label for="vote-form_{n}">Condition: {column} granted</label>' in shown
    assert "Pseudonymised" in shown
    assert "As stored" in shown
    assert 'name="vote-preview_days"' not in shown  # a term of an agreement, not of a grant
    # Attacker's test: a form the picker does not offer is refused beside the field.
    refused = checker.post(
        f"{page}/vote",
        {"vote-vote": "approve_with_conditions", "vote-form_0": "plain"},
        headers={"Referer": f"http://localhost{page}"},
    )
    assert refused.status_code == 422
    assert error_beside(refused.get_data(as_text=True), "vote-form_0")
    assert ballots(db, case.id) == []
    answer = checker.post(
        f"{page}/vote",
        {
            "vote-vote": "approve_with_conditions",
            "vote-form_0": "pseudonymised",
            "vote-form_1": "coarsened",
        },
    )
    assert answer.status_code == 302
    [ballot] = ballots(db, case.id)
    assert ballot.conditions == {"forms": {"age_at_arrest": "coarsened", "sex": "pseudonymised"}}
    # Left as stored, a column names no form; the other conditions still apply.
    answer = checker.post(
        f"{page}/vote",
        {"vote-vote": "approve_with_conditions", "vote-form_1": "", "vote-no_download": "y"},
    )
    assert answer.status_code == 302
    current = [b for b in ballots(db, case.id) if b.superseded_at is None]
    assert [b.conditions for b in current] == [{"no_download": True}]
