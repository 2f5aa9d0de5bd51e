"""The close-out of an ended agreement in a real browser, with the keyboard (the one file is
chosen through the file dialog's API): the privacy officer sees what is missing and is refused
the close; the analyst files the final report; another privacy officer accepts it; the signed
agreement is filed; destruction is certified (the attachment destroyed with the data); every
item then holds and the agreement closes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.models import Agreement, AgreementStatus
from governance.datasets.attachment_model import Attachment
from governance.kernel.types import utcnow
from tests.agreements.builders import Datasets, approved
from tests.agreements.test_attachments import pdf_bytes
from tests.browser.keyboard import choose, log_in, press, toggle, type_date, type_into
from tests.browser.test_journeys import world  # noqa: F401  (the fixture)
from tests.conftest import fresh
from tests.support import PASSWORD, People


def met(page: Any) -> dict[str, str]:
    items = page.locator("ol.checklist li").all()
    return {i.get_attribute("data-item"): i.get_attribute("data-met") for i in items}


def test_an_ended_agreement_is_walked_through_its_close_out_and_closed(
    db: Session,
    people: People,
    world: Datasets,  # noqa: F811  (the fixture imported above)
    live_server: Any,
    new_page: Any,
    console: Any,
    tmp_path: Any,
) -> None:
    console.expect("status of 409 (CONFLICT)")
    agreement = approved(db, people, world)
    agreements.terminate(
        db, agreement_id=agreement.id, reason="Study ended early.", by=people.privacy, now=utcnow()
    )
    db.commit()
    base = live_server.url
    closeout_url = f"{base}/agreements/{agreement.id}/closeout"

    officer = new_page()
    log_in(officer, base, people.privacy.email, PASSWORD)
    officer.goto(f"{base}/agreements/{agreement.id}")
    press(officer, f"a[href$='/agreements/{agreement.id}/closeout']")
    assert met(officer) == {
        "final_report": "no",
        "outputs_listed": "yes",
        "grants_ended": "yes",
        "downloads_attested": "yes",
        "data_destroyed": "no",
        "certificate": "no",
    }
    press(officer, "#close-agreement")
    assert "cannot close yet" in officer.content()
    assert "Final report accepted" in officer.content()
    assert fresh(db).get(Agreement, agreement.id).status == AgreementStatus.TERMINATED  # type: ignore[union-attr]

    analyst = new_page()
    log_in(analyst, base, people.analyst.email, PASSWORD)
    analyst.goto(f"{base}/agreements/{agreement.id}/progress")
    type_date(analyst, "#period_end", utcnow().date().isoformat())
    type_into(analyst, "#work_done", "Descriptive tables delivered; no output was released.")
    toggle(analyst, "#final")
    press(analyst, "main form button.primary")
    assert "(final)" in analyst.content()

    reviewer = new_page()
    log_in(reviewer, base, people.privacy2.email, PASSWORD)
    reviewer.goto(f"{base}/agreements/{agreement.id}/progress")
    press(reviewer, "form[action$='/accept'] button.primary")
    assert "accepted" in reviewer.content()

    officer.goto(f"{base}/agreements/{agreement.id}/attachments")
    choose(officer, "#kind", "Signed agreement")
    type_into(officer, "#title", "Signed agreement")
    choose(officer, "#file_type", "PDF")
    scan = tmp_path / "signed.pdf"
    scan.write_bytes(pdf_bytes())
    officer.set_input_files("#file", str(scan))
    press(officer, "form[enctype] button.primary")
    assert "version 1 is filed" in officer.content()

    officer.goto(f"{base}/agreements/{agreement.id}")
    type_into(officer, "#statement", "All extracts wiped (NIST SP 800-88 clear), DC-99.")
    press(officer, "form[action$='/certify-destruction'] button")
    officer.goto(closeout_url)
    assert set(met(officer).values()) == {"yes"}
    filed = fresh(db).scalars(select(Attachment)).one()
    assert filed.destroyed_at is not None
    assert filed.certificate_id is not None

    press(officer, "#close-agreement")
    assert "is closed" in officer.content()
    assert fresh(db).get(Agreement, agreement.id).status == AgreementStatus.CLOSED  # type: ignore[union-attr]
