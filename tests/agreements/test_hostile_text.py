"""Text people type (titles, purposes, comments, signatories) is stored exactly and shown
escaped everywhere; the cleaning rules hold for any input."""

from __future__ import annotations

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.kernel.text import clean_line, clean_text
from tests.agreements import builders
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People

HOSTILE = [
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "Robert'); DROP TABLE agreement;--",
    "a) b, c), d,",
    "{{ 7*7 }} {% if true %}",
    "Zoë — 東京 ≤ 10",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_round_trips_and_is_shown_escaped(
    app: Flask, db: Session, people: People, datasets: Datasets, browser: Browser, text: str
) -> None:
    browser.login(people.privacy.email, PASSWORD)
    response = browser.post(
        "/agreements/new",
        builders.form(
            people,
            datasets,
            title=text,
            purpose=text,
            provider_signatories=f"{text} | {text}",
            third_party_recipients=text,
            excluded_offence_categories=text,
        ),
    )
    assert response.status_code == 302
    agreement = fresh(db).scalars(select(Agreement)).one()
    version = agreement.display_version
    assert version.title == text
    assert version.purpose == text
    assert version.third_party_recipients == [text]
    assert version.signatories[0] == {"party": "provider", "name": text, "title": text}

    reviewer = Browser(app.test_client())
    reviewer.login(people.privacy2.email, PASSWORD)
    browser.post(f"/agreements/{agreement.id}/submit")
    assert reviewer.post(f"/agreements/{agreement.id}/return", {"comment": text}).status_code == 302
    for page in (
        browser.get(f"/agreements/{agreement.id}"),
        browser.get("/agreements/"),
        browser.get(f"/agreements/{agreement.id}/edit"),
    ):
        html = page.get_data(as_text=True)
        assert str(escape(text)) in html
        if "<" in text or '"' in text:
            assert text not in html


@given(st.text())
def test_clean_line_never_keeps_control_characters_and_is_idempotent(raw: str) -> None:
    errors: dict[str, str] = {}
    value = clean_line(raw, "f", errors, max_length=10_000, required=False)
    if not errors:
        assert all(ch in "\t" or ch >= " " for ch in value if ch != "\x7f")
        assert "\x7f" not in value
        again: dict[str, str] = {}
        assert clean_line(value, "f", again, max_length=10_000, required=False) == value
        assert not again


@given(st.text())
def test_clean_text_keeps_lines_but_refuses_control_characters(raw: str) -> None:
    errors: dict[str, str] = {}
    value = clean_text(raw, "f", errors, max_length=10_000, required=False)
    if any(ch in raw for ch in "\x00\x01\x1b\x7f"):
        assert "f" in errors
    if not errors:
        assert "\r" not in value
        assert value == value.strip()
