"""A privacy officer, in a real browser with the keyboard alone, sees an approved amendment
waiting for the provider's countersignature, is refused a signature typed for the recipient,
and records the provider's: only then does the amendment replace the version in force."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement, VersionStatus
from governance.agreements.queries import in_force_version
from governance.kernel.types import utcnow
from tests.agreements import builders
from tests.agreements.builders import Datasets
from tests.browser.conftest import Console
from tests.browser.keyboard import log_in, press, type_date, type_into
from tests.browser.test_journeys import world  # noqa: F401 (the fixture)
from tests.conftest import fresh
from tests.support import PASSWORD, People


def test_the_privacy_officer_countersigns_an_approved_amendment_on_the_agreement_page(
    db: Session,
    people: People,
    world: Datasets,  # noqa: F811 (the fixture imported above)
    live_server: Any,
    new_page: Any,
    console: Console,
) -> None:
    agreement = builders.approved(db, people, world)
    now = utcnow()
    builders.amendment(
        db, people, world, agreement, now=now, min_cell_size=1, preview_window_days=0
    )
    today = now.date().isoformat()

    base = live_server.url
    officer = new_page()
    log_in(officer, base, people.privacy.email, PASSWORD)
    officer.goto(f"{base}/agreements/{agreement.id}")
    assert officer.inner_text("#agreement-state") == "active: amendment approved"
    heading = officer.inner_text("#amendment-heading")
    assert heading.startswith("Amendment approved, awaiting the provider's countersignature")
    assert "Version 1 stays in force" in officer.inner_text("#amendment-awaiting")
    assert "countersignature of version 2" in officer.inner_text("#execute-form h3")
    # The form starts with the provider and the signatory the amendment's terms name.
    assert officer.input_value("#execute-form #name") == "Chief Dana Reyes"
    assert officer.input_value("#execute-form #organisation") == "Test Police"

    # Typed for the recipient's organisation: refused on the form, nothing changes.
    console.expect("the server responded with a status of 422")
    type_into(officer, "#execute-form #organisation", "Test Lab")
    type_date(officer, "#execute-form #signed_on", today)
    type_into(officer, "#execute-form #signed_copy_reference", "TPD-LEGAL-AMEND-2")
    press(officer, "#execute-form button[type=submit]")
    assert "The data provider is Test Police" in officer.content()
    assert officer.input_value("#execute-form #organisation") == "Test Lab"
    assert in_force_version(fresh(db), agreement.id).number == 1  # type: ignore[union-attr]
    db.rollback()

    type_into(officer, "#execute-form #organisation", "Test Police")
    type_date(officer, "#execute-form #signed_on", today)
    press(officer, "#execute-form button[type=submit]")
    assert "countersignature is recorded" in officer.content()
    assert officer.inner_text("#agreement-state") == "active"
    assert officer.locator("#amendment-heading").count() == 0
    assert "Version 2: approved" in officer.content()
    assert "Version 1: superseded" in officer.content()

    after = fresh(db).scalars(select(Agreement).where(Agreement.id == agreement.id)).one()
    assert [v.status for v in after.versions] == [VersionStatus.SUPERSEDED, VersionStatus.APPROVED]
    in_force = after.current_version
    assert in_force is not None
    assert (in_force.number, in_force.min_cell_size, in_force.preview_window_days) == (2, 1, 0)
    assert in_force.signed_copy_reference == "TPD-LEGAL-AMEND-2"


def test_the_dashboard_task_leads_to_the_countersignature_form_and_goes_once_it_is_recorded(
    db: Session,
    people: People,
    world: Datasets,  # noqa: F811 (the fixture imported above)
    live_server: Any,
    new_page: Any,
) -> None:
    """The privacy officer learns from the dashboard that an approved amendment waits for the
    provider, follows the task to the form (which shows what the amendment will do), records
    the countersignature, and the task is gone."""
    agreement = builders.approved(db, people, world)
    now = utcnow()
    builders.amendment(db, people, world, agreement, now=now, min_cell_size=5)
    reference = agreement.reference

    base = live_server.url
    officer = new_page()
    log_in(officer, base, people.privacy.email, PASSWORD)
    officer.goto(f"{base}/dashboard/privacy_officer")
    task = f'a:has-text("Record Test Police\'s countersignature of {reference}")'
    assert officer.locator(task).count() == 1
    assert "Countersignature to record" in officer.inner_text("#tasks-heading + *")
    press(officer, task)
    assert officer.url.endswith(f"/agreements/{agreement.id}#execute-form")
    assert "countersignature of version 2" in officer.inner_text("#execute-form h3")
    shown = officer.inner_text("#countersignature-impact")
    assert "It is the impact approved on" in shown
    assert "No grant changes." in shown

    type_date(officer, "#execute-form #signed_on", now.date().isoformat())
    type_into(officer, "#execute-form #signed_copy_reference", "TPD-LEGAL-AMEND-2")
    press(officer, "#execute-form button[type=submit]")
    assert "countersignature is recorded" in officer.content()
    assert officer.inner_text("#agreement-state") == "active"
    assert in_force_version(fresh(db), agreement.id).number == 2  # type: ignore[union-attr]
    db.rollback()

    officer.goto(f"{base}/dashboard/privacy_officer")
    assert officer.locator(task).count() == 0
