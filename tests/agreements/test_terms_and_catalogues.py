"""The read helpers other layers rely on, the clause list, the law catalogue, and the
lifecycle document generated from the transition table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.analysis_kind_model import AnalysisKind
from governance.agreements.clauses import CLAUSES
from governance.agreements.law_model import NATIONAL_LAWS, LawCode
from governance.agreements.laws import add_state_law, catalogue
from governance.agreements.lifecycle import (
    RULES,
    TRANSITIONS,
    Action,
    State,
    lifecycle_markdown,
)
from governance.agreements.queries import in_force_version
from governance.authz import Permission
from governance.identity.models import TrainingCourse
from governance.kernel.errors import Conflict, ValidationFailed
from governance.kernel.types import utcnow
from tests.agreements import builders
from tests.agreements.builders import Datasets
from tests.conftest import Browser
from tests.support import PASSWORD, People

REPO = Path(__file__).resolve().parents[2]
LEAD_CLAUSES = {
    "parties.provider",
    "parties.signatories",
    "scope.title",
    "scope.purpose",
    "scope.permitted_uses",
    "scope.datasets",
    "ownership.source_data",
    "ownership.research_products",
    "privacy.laws",
    "privacy.third_party_recipients",
    "privacy.no_identifiable_publication",
    "publication.aggregate_only",
    "publication.min_cell_size",
    "publication.min_cohort_size",
    "publication.preview_window_days",
    "publication.preview_scope",
    "publication.publication_allowed",
    "publication.two_checkers_required",
    "publication.dominance_threshold",
    "publication.rounding_base",
    "access.row_level_download",
    "analysis.eligibility.min_age",
    "analysis.eligibility.excluded_offence_categories",
    "retention.destruction_days",
    "personnel",
    "term.effective_date",
    "term.expiry_date",
}


def test_the_committed_lifecycle_document_matches_the_table() -> None:
    committed = (REPO / "docs" / "agreement-lifecycle.md").read_text()
    assert committed == lifecycle_markdown(), (
        "Regenerate: python -m governance.agreements.lifecycle > docs/agreement-lifecycle.md"
    )


def test_every_action_has_a_rule_and_every_state_is_reachable() -> None:
    assert set(RULES) == set(Action)
    reached = {State.DRAFT} | set(TRANSITIONS.values())
    assert reached == set(State)
    for rule in RULES.values():
        assert rule.permission is None or isinstance(rule.permission, Permission)


def test_clause_ids_are_stable_and_unique() -> None:
    ids = [clause_id for clause_id, _label in CLAUSES]
    assert len(ids) == len(set(ids))
    assert set(ids) >= LEAD_CLAUSES


def test_the_read_helpers_answer_from_the_version(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.approved(
        db,
        people,
        datasets,
        laws=["cjis", "hipaa"],
        legal_bases={"hipaa": "IRB waiver (45 CFR 164.512(i))"},
        rounding_base=5,
        min_age=None,
        row_level_download=True,
        excluded_offence_categories=["sexual"],
    )
    version = in_force_version(db, agreement.id)
    assert version is not None
    arrests = datasets.arrests.id
    assert version.covered_columns(arrests) == {
        "person_id",
        "sex",
        "age_at_arrest",
        "offence_category",
    }
    assert version.covered_columns(datasets.probation.id) == set()
    assert version.covers(arrests, ["sex", "age_at_arrest"])
    assert not version.covers(arrests, ["sex", "name"])
    assert version.permitted_uses == ["descriptive", "matched_comparison"]
    assert version.is_personnel(people.analyst.id)
    assert not version.is_personnel(people.checker.id)
    assert version.required_courses() == {
        TrainingCourse.PRIVACY_SECURITY,
        TrainingCourse.CJIS_SECURITY_AWARENESS,
        TrainingCourse.HIPAA_PRIVACY,
    }
    assert version.allows_row_level_download is True
    assert (
        version.min_cell_size,
        version.min_cohort_size,
        version.preview_window_days,
        version.two_checkers_required,
        version.publication_allowed,
        version.dominance_threshold,
        version.rounding_base,
    ) == (10, 60, 30, True, True, 0.9, 5)
    assert (version.min_age, version.excluded_offence_categories) == (None, ["sexual"])
    assert version.minimum_necessary
    assert [c[0] for c in version.clauses()] == [c[0] for c in CLAUSES]


def test_defaults_follow_the_partnerships_practice(
    db: Session, people: People, datasets: Datasets
) -> None:
    version = builders.draft(db, people, datasets).display_version
    assert (
        version.min_cell_size,
        version.min_cohort_size,
        version.preview_window_days,
        version.dominance_threshold,
        version.rounding_base,
        version.row_level_download,
        version.min_age,
        version.research_products_owner,
    ) == (10, 60, 30, 0.9, None, False, 14, "recipient")


def test_in_force_version_is_none_unless_active(
    db: Session, people: People, datasets: Datasets
) -> None:
    draft = builders.draft(db, people, datasets)
    assert in_force_version(db, draft.id) is None
    assert in_force_version(db, 424242) is None
    later = builders.approved(
        db, people, datasets, effective_date=builders.today() + dt.timedelta(days=1)
    )
    assert in_force_version(db, later.id) is None


def test_the_catalogue_carries_each_laws_training() -> None:
    expected = {
        LawCode.CJIS: {TrainingCourse.CJIS_SECURITY_AWARENESS},
        LawCode.HIPAA: {TrainingCourse.HIPAA_PRIVACY},
        LawCode.FERPA: {TrainingCourse.FERPA},
        LawCode.PART2: {TrainingCourse.PART2_CONFIDENTIALITY},
        LawCode.UK_GDPR: {TrainingCourse.UK_DATA_PROTECTION},
        LawCode.PRIVACY_ACT: set(),
    }
    assert {code: set(law.courses) for code, law in NATIONAL_LAWS.items()} == expected
    assert NATIONAL_LAWS[LawCode.HIPAA].minimum_necessary
    assert [k.label for k in AnalysisKind] == [
        "Descriptive statistics",
        "Rate comparison",
        "Matched-comparison impact evaluation",
        "Record linkage",
    ]


def test_a_state_law_is_added_by_name_and_then_known(
    db: Session, people: People, datasets: Datasets
) -> None:
    law = add_state_law(
        db,
        name="Illinois Juvenile Court Act",
        requirements="Juvenile records are confidential (705 ILCS 405/1-8).",
        by=people.privacy,
    )
    db.commit()
    assert law.code == "state:illinois-juvenile-court-act"
    assert law.code in catalogue(db)
    with pytest.raises(Conflict):
        add_state_law(db, name="Illinois  Juvenile Court Act", requirements="x", by=people.privacy)
    db.rollback()
    agreement = builders.draft(db, people, datasets, laws=["cjis", law.code])
    version = agreement.display_version
    laws = {c[0]: c[2] for c in version.clauses()}["privacy.laws"]
    assert "Illinois Juvenile Court Act: Juvenile records are confidential" in laws
    with pytest.raises(ValidationFailed):
        add_state_law(db, name="   ", requirements="", by=people.privacy)


def test_the_law_catalogue_page(app: Flask, people: People, browser: Browser) -> None:
    browser.login(people.privacy.email, PASSWORD)
    response = browser.post(
        "/agreements/laws",
        {
            "name": "California Welfare and Institutions Code 827",
            "requirements": "Juvenile case files are confidential.",
        },
    )
    assert response.status_code == 302
    page = browser.get("/agreements/laws").get_data(as_text=True)
    assert "California Welfare and Institutions Code 827" in page
    assert "CJIS Security Awareness Training" in page
    analyst = Browser(app.test_client())
    analyst.login(people.analyst.email, PASSWORD)
    assert "Add a state law" not in analyst.get("/agreements/laws").get_data(as_text=True)
    assert (
        analyst.post("/agreements/laws", {"name": "X Act", "requirements": "y"}).status_code == 403
    )


def test_references_number_agreements_within_the_year(
    db: Session, people: People, datasets: Datasets
) -> None:
    # One moment for this year's two: a run crossing New Year's midnight would number them
    # in different years.
    now = utcnow()
    first = builders.draft(db, people, datasets, now=now)
    second = agreements.create_agreement(
        db,
        provider_id=people.police.id,
        recipient_id=people.lab.id,
        by=people.privacy,
        now=dt.datetime(2031, 1, 2, tzinfo=dt.UTC),
        # Drafted in 2031: its expiry date must not have passed by then.
        terms=builders.terms(people, datasets, expiry_date=dt.date(2031, 12, 31)),
    )
    third = builders.draft(db, people, datasets, now=now)
    year = now.year
    assert [first.reference, second.reference, third.reference] == [
        f"DUA-{year}-001",
        "DUA-2031-001",
        f"DUA-{year}-002",
    ]
