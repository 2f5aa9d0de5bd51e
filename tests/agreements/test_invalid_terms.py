"""Invalid terms are refused with 422 and a message on the field, and nothing is saved: not on
creation, not on editing a draft."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent
from governance.kernel.errors import ValidationFailed
from governance.kernel.types import utcnow
from tests.agreements import builders
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People


def invalid_cases(people: People, datasets: Datasets) -> dict[str, tuple[dict[str, Any], str, str]]:
    """(form overrides, field, message) for each kind of invalid input the issue names."""
    today = builders.today()
    return {
        "expiry before effective": (
            {
                "effective_date": today.isoformat(),
                "expiry_date": (today - dt.timedelta(days=1)).isoformat(),
            },
            "expiry_date",
            "is before the effective date",
        ),
        "expiry in the past": (
            {
                "effective_date": (today - dt.timedelta(days=10)).isoformat(),
                "expiry_date": (today - dt.timedelta(days=1)).isoformat(),
            },
            "expiry_date",
            "is in the past",
        ),
        "cell size below 1": ({"min_cell_size": "0"}, "min_cell_size", "at least 1"),
        "negative preview window": (
            {"preview_window_days": "-1"},
            "preview_window_days",
            "cannot be negative",
        ),
        "unknown law": ({"laws": ["cjis", "gdpr_mars"]}, "laws", "Unknown law 'gdpr_mars'"),
        "personnel without an account": (
            {"personnel-999999": "analyst"},
            "personnel",
            "there is no account 999999",
        ),
        "column not in the dataset": (
            {
                "columns": [
                    f"{datasets.arrests.id}:person_id",
                    f"{datasets.arrests.id}:social_security_number",
                ]
            },
            "columns",
            "social_security_number is not in the dataset Arrests",
        ),
        "dataset of another provider": (
            {"columns": [f"{datasets.probation.id}:person_id"]},
            "columns",
            "Supervision is not provided by this agreement's provider",
        ),
        "dominance above 1": ({"dominance_threshold": "1.5"}, "dominance_threshold", "at most 1"),
        "rounding base 3": ({"rounding_base": "3"}, "rounding_base", "base 5"),
        "unknown permitted use": (
            {"permitted_uses": ["descriptive", "mind_reading"]},
            "permitted_uses",
            "Unknown analysis kind 'mind_reading'",
        ),
        "unknown project role": (
            {f"personnel-{people.analyst.id}": "overlord"},
            "personnel",
            "unknown project role 'overlord'",
        ),
        "person outside the recipient": (
            {f"personnel-{people.partner.id}": "analyst"},
            "personnel",
            "does not belong to the recipient",
        ),
        "control character in title": ({"title": "Evaluation\x07"}, "title", "control characters"),
        # Shown as "Evaluation of exe.png" ("Trojan Source"): what is shown is not what is signed.
        "direction override in title": (
            {"title": "Evaluation of \u202egnp.exe"},
            "title",
            "invisible formatting",
        ),
        "zero-width space in purpose": (
            {"purpose": "Evaluate\u200b the programme"},
            "purpose",
            "invisible formatting",
        ),
        "title not a number field": (
            {"min_cell_size": "ten"},
            "min_cell_size",
            "Not a valid integer",
        ),
    }


CASES = [
    "expiry before effective",
    "cell size below 1",
    "negative preview window",
    "unknown law",
    "personnel without an account",
    "column not in the dataset",
    "dataset of another provider",
    "dominance above 1",
    "rounding base 3",
    "unknown permitted use",
    "unknown project role",
    "person outside the recipient",
    "control character in title",
    "direction override in title",
    "zero-width space in purpose",
    "title not a number field",
]


def counts(db: Session) -> tuple[int, int]:
    fresh(db)
    return (
        db.scalar(select(func.count()).select_from(Agreement)) or 0,
        db.scalar(select(func.count()).select_from(AuditEvent)) or 0,
    )


@pytest.mark.parametrize("case", CASES)
def test_invalid_terms_are_refused_on_creation_and_nothing_is_saved(
    app: Flask, db: Session, people: People, datasets: Datasets, browser: Browser, case: str
) -> None:
    overrides, field, message = invalid_cases(people, datasets)[case]
    browser.login(people.privacy.email, PASSWORD)
    before = counts(db)
    response = browser.post("/agreements/new", builders.form(people, datasets, **overrides))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'href="#f-{field}"' in page
    assert message.replace("'", "&#39;") in page
    # The summary names the field as its label does, not by its identifier.
    assert f'href="#f-{field}">{field}</a>' not in page
    assert counts(db) == before


@pytest.mark.parametrize("case", CASES)
def test_invalid_terms_are_refused_on_editing_and_the_draft_is_unchanged(
    app: Flask, db: Session, people: People, datasets: Datasets, browser: Browser, case: str
) -> None:
    overrides, field, _message = invalid_cases(people, datasets)[case]
    agreement = builders.draft(db, people, datasets)
    clauses_before = agreement.display_version.clauses()
    browser.login(people.privacy.email, PASSWORD)
    before = counts(db)
    response = browser.post(
        f"/agreements/{agreement.id}/edit", builders.form(people, datasets, **overrides)
    )
    assert response.status_code == 422
    assert f'href="#f-{field}"' in response.get_data(as_text=True)
    assert counts(db) == before
    refreshed = db.get(Agreement, agreement.id)
    assert refreshed is not None
    assert refreshed.display_version.clauses() == clauses_before


def test_the_form_keeps_what_was_typed_after_a_refusal(
    app: Flask, people: People, datasets: Datasets, browser: Browser
) -> None:
    browser.login(people.privacy.email, PASSWORD)
    response = browser.post(
        "/agreements/new",
        builders.form(people, datasets, title="Keep this title", min_cell_size="0"),
    )
    page = response.get_data(as_text=True)
    assert 'value="Keep this title"' in page
    assert f'value="{datasets.arrests.id}:sex" checked' in page


def test_an_incomplete_draft_saves_but_cannot_be_submitted(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.draft(
        db, people, datasets, laws=[], personnel={}, columns={}, signatories=[], permitted_uses=[]
    )
    with pytest.raises(ValidationFailed) as refusal:
        agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    assert set(refusal.value.fields) == {
        "permitted_uses",
        "columns",
        "laws",
        "personnel",
        "provider_signatories",
        "recipient_signatories",
    }


def test_the_parties_must_be_a_provider_and_a_research_organisation(
    db: Session, people: People, datasets: Datasets
) -> None:
    with pytest.raises(ValidationFailed) as refusal:
        agreements.create_agreement(
            db,
            provider_id=people.lab.id,
            recipient_id=people.police.id,
            terms=builders.terms(people, datasets),
            by=people.privacy,
            now=utcnow(),
        )
    assert set(refusal.value.fields) == {"provider_id", "recipient_id"}


def test_approval_is_refused_once_the_expiry_date_has_passed(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.draft(
        db, people, datasets, expiry_date=builders.today() + dt.timedelta(days=2)
    )
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    with pytest.raises(ValidationFailed) as refusal:
        agreements.approve(
            db, agreement_id=agreement.id, by=people.privacy2, now=utcnow() + dt.timedelta(days=5)
        )
    assert "expiry_date" in refusal.value.fields
