"""A cited law that does not fit the data is flagged: HIPAA on police arrest records, FERPA
outside education, CJIS on health data, 42 CFR Part 2 on anything but substance use treatment.
Datasets carry a subject area (declared on the form, changed with the schema, audited); the
draft and review pages warn, and approving despite the warning records it."""

from __future__ import annotations

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.law_fit import FITS, law_warnings, unfitting
from governance.agreements.law_model import NATIONAL_LAWS, LawCode
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType
from governance.datasets.models import Dataset, SubjectArea
from governance.kernel.types import utcnow
from tests.agreements import builders
from tests.agreements.builders import Datasets
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People

A = SubjectArea
BASES = {
    "hipaa": "IRB waiver (45 CFR 164.512(i))",
    "ferpa": "Studies exception (34 CFR 99.31(a)(6))",
    "42cfr2": "Research disclosure (42 CFR 2.52)",
}


def about(db: Session, datasets: Datasets, area: SubjectArea) -> None:
    for dataset in (datasets.arrests, datasets.probation):
        found = db.get(Dataset, dataset.id)
        assert found is not None
        found.subject_area = area
    db.commit()


@pytest.mark.parametrize(
    ("law", "area", "warned"),
    [
        ("hipaa", A.CRIMINAL_JUSTICE, True),  # HIPAA on police arrest records
        ("hipaa", A.HEALTH, False),
        ("hipaa", A.SUBSTANCE_USE_TREATMENT, False),
        ("ferpa", A.HEALTH, True),  # FERPA on non-education data
        ("ferpa", A.EDUCATION, False),
        ("cjis", A.HEALTH, True),  # CJIS on health data
        ("cjis", A.CRIMINAL_JUSTICE, False),
        ("42cfr2", A.HEALTH, True),  # 42 CFR Part 2 on non-SUD data
        ("42cfr2", A.SUBSTANCE_USE_TREATMENT, False),
        ("privacy_act_1974", A.SOCIAL_CARE, False),  # applies to any personal records
        ("uk_gdpr_dpa2018", A.OTHER, False),
    ],
)
def test_a_cited_law_is_checked_against_the_data(
    db: Session, people: People, datasets: Datasets, law: str, area: SubjectArea, warned: bool
) -> None:
    about(db, datasets, area)
    agreement = builders.draft(
        db,
        people,
        datasets,
        laws=[law],
        legal_bases={law: BASES[law]} if law in BASES else {},
    )
    found = law_warnings(db, fresh(db).get(Agreement, agreement.id).display_version)  # type: ignore[union-attr]
    assert bool(found) == warned
    if warned:
        (sentence,) = found
        assert sentence.startswith(NATIONAL_LAWS[law].label)
        assert f"Arrests ({area.label.lower()})" in sentence


@given(
    st.lists(st.sampled_from([str(c) for c in LawCode]), unique=True),
    st.sets(st.sampled_from(list(SubjectArea))),
    st.sampled_from(list(SubjectArea)),
)
def test_adding_data_a_law_governs_never_adds_a_warning(
    codes: list[str], areas: set[SubjectArea], extra: SubjectArea
) -> None:
    before = unfitting(codes, areas)
    after = unfitting(codes, areas | {extra})
    assert set(after) <= set(before)
    # Only the sector laws are checked, and each is silenced by a dataset it governs.
    assert set(before) <= set(FITS)
    for code in before:
        assert unfitting([code], areas | set(FITS[code])) == []


def test_reviewers_are_warned_and_approving_despite_it_is_recorded(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.draft(
        db, people, datasets, laws=["cjis", "hipaa"], legal_bases={"hipaa": BASES["hipaa"]}
    )
    drafter = Browser(app.test_client())
    drafter.login(people.privacy.email, PASSWORD)
    form = drafter.get(f"/agreements/{agreement.id}/edit").get_data(as_text=True)
    assert 'id="law-warnings"' in form
    assert "HIPAA Privacy and Security Rules" in form
    assert drafter.post(f"/agreements/{agreement.id}/submit").status_code == 302

    reviewer = Browser(app.test_client())
    reviewer.login(people.privacy2.email, PASSWORD)
    page = reviewer.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "may not fit the data it covers" in page
    assert "Arrests (criminal justice)" in page
    assert "the approval records these warnings" in page
    assert "FBI CJIS Security Policy is cited" not in page  # CJIS fits police records
    assert reviewer.post(f"/agreements/{agreement.id}/approve").status_code == 302
    approval = (
        fresh(db)
        .scalars(
            select(AuditEvent).where(
                AuditEvent.agreement_id == agreement.id,
                AuditEvent.event_type == AuditType.AGREEMENT_APPROVE,
            )
        )
        .one()
    )
    (recorded,) = approval.detail["law_warnings"]
    assert recorded.startswith("HIPAA Privacy and Security Rules")
    submitted = (
        fresh(db)
        .scalars(
            select(AuditEvent).where(
                AuditEvent.agreement_id == agreement.id,
                AuditEvent.event_type == AuditType.AGREEMENT_SUBMIT,
            )
        )
        .one()
    )
    assert submitted.detail["law_warnings"] == approval.detail["law_warnings"]


def test_a_fitting_agreement_is_approved_without_warnings(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.draft(db, people, datasets)  # CJIS on police records
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=utcnow())
    db.commit()
    approval = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.AGREEMENT_APPROVE))
        .one()
    )
    assert "law_warnings" not in approval.detail
