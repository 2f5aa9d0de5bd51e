"""A dataset says what its data is about (criminal justice, education, health, substance use
treatment, social care, other), chosen on the declaration form and changed with the schema;
each choice is audited, and anything else is refused with 422 and nothing saved."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType
from governance.datasets.models import Dataset, SubjectArea
from tests.conftest import Browser, fresh
from tests.datasets.support import COLUMNS
from tests.support import PASSWORD, People


def declaration(people: People, **changes: str) -> dict[str, str]:
    return {
        "name": "Clinic visits",
        "provider_id": str(people.probation.id),
        "description": "Visits to the county clinic",
        "columns-0-name": "patient_id",
        "columns-0-type": "string",
        "columns-0-classification": "direct_identifier",
        "columns-0-required": "y",
        **changes,
    }


def test_the_subject_area_is_declared_shown_and_audited(
    browser: Browser, db: Session, people: People
) -> None:
    browser.login(people.steward.email, PASSWORD)
    form_page = browser.get("/datasets/new").get_data(as_text=True)
    assert 'name="subject_area"' in form_page
    assert "Substance use treatment" in form_page
    response = browser.post("/datasets/new", declaration(people, subject_area="health"))
    assert response.status_code == 302
    dataset = fresh(db).scalars(select(Dataset).where(Dataset.name == "Clinic visits")).one()
    assert dataset.subject_area == SubjectArea.HEALTH
    page = browser.get(f"/datasets/{dataset.id}").get_data(as_text=True)
    assert '<span id="subject-area">Health</span>' in page
    created = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.DATASET_CREATE)
    ).one()
    assert created.detail["subject_area"] == "health"


def test_an_unknown_subject_area_is_refused(browser: Browser, db: Session, people: People) -> None:
    browser.login(people.steward.email, PASSWORD)
    response = browser.post("/datasets/new", declaration(people, subject_area="astrology"))
    assert response.status_code == 422
    assert "Choose what the data is about" in response.get_data(as_text=True)
    assert fresh(db).scalars(select(Dataset)).first() is None


def test_changing_the_subject_area_with_the_schema_is_audited(
    browser: Browser, db: Session, people: People, arrests: Dataset
) -> None:
    assert fresh(db).get(Dataset, arrests.id).subject_area == SubjectArea.OTHER  # type: ignore[union-attr]
    browser.login(people.admin.email, PASSWORD)
    page = browser.get(f"/datasets/{arrests.id}/schema").get_data(as_text=True)
    assert '<option selected value="other">' in page or 'value="other" selected' in page
    form = {"description": "Arrest records", "subject_area": "criminal_justice"}
    for index, column in enumerate(COLUMNS):
        form |= {
            f"columns-{index}-name": column.name,
            f"columns-{index}-type": column.type,
            f"columns-{index}-classification": column.classification,
            f"columns-{index}-description": column.description,
        }
        if column.required:
            form[f"columns-{index}-required"] = "y"
    assert browser.post(f"/datasets/{arrests.id}/schema", form).status_code == 302
    assert fresh(db).get(Dataset, arrests.id).subject_area == SubjectArea.CRIMINAL_JUSTICE  # type: ignore[union-attr]
    updated = db.scalars(
        select(AuditEvent)
        .where(AuditEvent.event_type == AuditType.DATASET_UPDATE)
        .order_by(AuditEvent.seq.desc())
    ).first()
    assert updated is not None
    assert updated.detail["subject_area"] == {"before": "other", "after": "criminal_justice"}
