"""Builders for agreement tests: the agencies' datasets, complete terms, and the same terms
as the draft form posts them."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.models import Agreement
from governance.agreements.terms import Signatory, TermsInput
from governance.datasets.models import (
    Classification,
    ColumnType,
    Dataset,
    DatasetColumn,
    SubjectArea,
)
from governance.identity.actors import Actor
from governance.kernel.types import utcnow
from tests.support import People

ARREST_COLUMNS = (
    ("person_id", Classification.DIRECT_IDENTIFIER),
    ("name", Classification.DIRECT_IDENTIFIER),
    ("date_of_birth", Classification.DIRECT_IDENTIFIER),
    ("sex", Classification.QUASI_IDENTIFIER),
    ("age_at_arrest", Classification.QUASI_IDENTIFIER),
    ("arrest_date", Classification.GENERAL),
    ("offence_category", Classification.SENSITIVE),
    ("district", Classification.QUASI_IDENTIFIER),
)
PROBATION_COLUMNS = (
    ("person_id", Classification.DIRECT_IDENTIFIER),
    ("sex", Classification.QUASI_IDENTIFIER),
    ("supervision_start", Classification.GENERAL),
    ("risk_level", Classification.SENSITIVE),
)


@dataclass
class Datasets:
    arrests: Dataset
    probation: Dataset


def _dataset(
    db: Session, name: str, provider_id: int, columns: tuple[tuple[str, Classification], ...]
) -> Dataset:
    dataset = Dataset(
        name=name,
        provider_id=provider_id,
        subject_area=SubjectArea.CRIMINAL_JUSTICE,
        columns=[
            DatasetColumn(position=i, name=col, type=ColumnType.STRING, classification=cls)
            for i, (col, cls) in enumerate(columns)
        ],
    )
    db.add(dataset)
    return dataset


def make_datasets(db: Session, people: People) -> Datasets:
    result = Datasets(
        arrests=_dataset(db, "Arrests", people.police.id, ARREST_COLUMNS),
        probation=_dataset(db, "Supervision", people.probation.id, PROBATION_COLUMNS),
    )
    db.commit()
    return result


def today() -> dt.date:
    return utcnow().date()


def terms(people: People, datasets: Datasets, **overrides: Any) -> TermsInput:
    """Complete, valid terms for an agreement with the test police department."""
    values: dict[str, Any] = {
        "title": "Diversion programme evaluation",
        "purpose": "Estimate the effect of pre-arrest diversion on re-arrest within a year.",
        "effective_date": today(),
        "expiry_date": today() + dt.timedelta(days=365),
        "permitted_uses": ["descriptive", "matched_comparison"],
        "columns": {datasets.arrests.id: ["person_id", "sex", "age_at_arrest", "offence_category"]},
        "signatories": [
            Signatory("provider", "Chief Dana Reyes", "Chief of Police"),
            Signatory("recipient", "Dr Lee Park", "Director"),
        ],
        "laws": ["cjis"],
        "third_party_recipients": [],
        "personnel": {people.analyst.id: "principal_investigator", people.analyst2.id: "analyst"},
        # The tests' agreement allows both forms (a new agreement allows none unless its
        # privacy officer chooses): the tests of the term override it.
        "derived_forms": "both",
    }
    values.update(overrides)
    return TermsInput(**values)


def draft(
    db: Session,
    people: People,
    datasets: Datasets,
    *,
    by: Actor | None = None,
    now: dt.datetime | None = None,
    **overrides: Any,
) -> Agreement:
    agreement = agreements.create_agreement(
        db,
        provider_id=people.police.id,
        recipient_id=people.lab.id,
        terms=terms(people, datasets, **overrides),
        by=by or people.privacy,
        now=now or utcnow(),
    )
    db.commit()
    return agreement


def approved(
    db: Session,
    people: People,
    datasets: Datasets,
    *,
    now: dt.datetime | None = None,
    countersigned: bool = True,
    **overrides: Any,
) -> Agreement:
    """Drafted and submitted by one privacy officer, approved by the other, and (unless
    `countersigned` is False) countersigned by the provider: active from its effective date."""
    moment = now or utcnow()
    agreement = draft(db, people, datasets, **overrides)
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=moment)
    agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=moment)
    if countersigned:
        countersign(db, people, agreement, now=moment)
    db.commit()
    return agreement


def signature(on: dt.date, **overrides: Any) -> agreements.Countersignature:
    """The provider's countersignature as the signed copy states it."""
    fields: dict[str, Any] = {
        "name": "Chief Dana Reyes",
        "title": "Chief of Police",
        "organisation": "Test Police",
        "signed_on": on,
        "signed_copy_reference": "RPD-LEGAL-2026-114",
    }
    return agreements.Countersignature(**{**fields, **overrides})


def countersign(
    db: Session, people: People, agreement: Agreement, *, now: dt.datetime | None = None
) -> None:
    """Record the provider's countersignature of an approved agreement or amendment (a privacy
    officer): the provider's first signatory the terms name signs for it."""
    moment = now or utcnow()
    version = agreement.version_to_countersign
    assert version is not None
    signatory = next(s for s in version.signatories if s["party"] == "provider")
    # An amendment's officer confirms the impact shown, as the page does.
    shown = agreements.impact_to_countersign(db, agreement)
    agreements.execute(
        db,
        agreement_id=agreement.id,
        impact_digest=shown.digest if shown is not None else None,
        signature=signature(
            moment.date(),
            name=signatory["name"],
            title=signatory["title"],
            organisation=agreement.provider.name,
        ),
        by=people.privacy,
        now=moment,
    )


def amend_in_force(
    db: Session, people: People, agreement: Agreement, *, reason: str, **changes: object
) -> None:
    """An amendment of the agreement's terms in force, approved and countersigned: in force now."""
    now = utcnow()
    agreements.start_amendment(
        db, agreement_id=agreement.id, reason=reason, by=people.privacy, now=now
    )
    assert agreement.working_version is not None
    terms = TermsInput.from_version(agreement.working_version)
    for name, value in changes.items():
        setattr(terms, name, value)
    agreements.update_draft(db, agreement_id=agreement.id, terms=terms, by=people.privacy, now=now)
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=now)
    agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=now)
    countersign(db, people, agreement, now=now)
    db.commit()


def amendment(
    db: Session,
    people: People,
    datasets: Datasets,
    agreement: Agreement,
    *,
    step: str = "approved",
    now: dt.datetime | None = None,
    **overrides: Any,
) -> None:
    """An amendment of the active agreement to the terms above changed by `overrides`, drafted
    (and at "submitted" or "approved", submitted) by one privacy officer and (at "approved")
    approved by the other: it then waits for the provider's countersignature (`countersign`)."""
    moment = now or utcnow()
    agreements.start_amendment(
        db, agreement_id=agreement.id, reason="Change the terms", by=people.privacy, now=moment
    )
    agreements.update_draft(
        db,
        agreement_id=agreement.id,
        terms=terms(people, datasets, **overrides),
        by=people.privacy,
        now=moment,
    )
    if step in ("submitted", "approved"):
        agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=moment)
    if step == "approved":
        agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=moment)
    db.commit()


def form(people: People, datasets: Datasets, **overrides: Any) -> dict[str, Any]:
    """The draft form as a browser posts it for the terms above."""
    data: dict[str, Any] = {
        "provider_id": people.police.id,
        "recipient_id": people.lab.id,
        "title": "Diversion programme evaluation",
        "purpose": "Estimate the effect of pre-arrest diversion on re-arrest within a year.",
        "permitted_uses": ["descriptive", "matched_comparison"],
        "laws": ["cjis"],
        "columns": [f"{datasets.arrests.id}:{c}" for c in ("person_id", "sex", "age_at_arrest")],
        "provider_signatories": "Chief Dana Reyes | Chief of Police",
        "recipient_signatories": "Dr Lee Park | Director",
        "research_products_owner": "recipient",
        "third_party_recipients": "",
        "publication_allowed": "y",
        "min_cell_size": "10",
        "min_cohort_size": "60",
        "dominance_threshold": "0.9",
        "rounding_base": "",
        "two_checkers_required": "y",
        "preview_window_days": "30",
        "min_age": "14",
        "excluded_offence_categories": "",
        "destruction_days": "30",
        "effective_date": today().isoformat(),
        "expiry_date": (today() + dt.timedelta(days=365)).isoformat(),
        f"personnel-{people.analyst.id}": "principal_investigator",
        f"personnel-{people.analyst2.id}": "analyst",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def make_probation_partner(db: Session, app: Any, people: People) -> Any:
    """A partner reviewer of the probation agency, which is not party to police agreements."""
    from governance.authz import Role
    from tests.support import add_person

    user = add_person(
        db,
        app,
        email="partner2@test.example",
        name="Probation Partner",
        org=people.probation,
        roles=(Role.PARTNER_REVIEWER,),
    )
    db.commit()
    return user


def shown_impact_digest(page: str) -> str:
    """The digest of the amendment's impact the agreement page's countersignature form shows
    (and sends back with the form)."""
    found = re.search(r'name="impact_digest"[^>]*value="([0-9a-f]{64})"', page) or re.search(
        r'value="([0-9a-f]{64})"[^>]*name="impact_digest"', page
    )
    assert found is not None, "the countersignature form shows no impact"
    return found.group(1)
