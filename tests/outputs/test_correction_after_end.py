"""The team corrects its outputs only while the agreement is in force: once it is terminated,
or past its expiry date before the expiry job marked it, a correction is a 409 naming the
agreement's state, recorded as a denied `output:correct`, and the output is left as it was
(docs/decisions/outputs.md, 12 and 14)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.endings import expiry_moment
from governance.agreements.models import Agreement
from governance.audit.models import AuditType
from governance.kernel.errors import Conflict
from governance.kernel.types import utcnow
from governance.outputs.models import Output
from governance.outputs.queries import abilities
from tests.conftest import Browser, fresh
from tests.outputs.builders import correct, denied, released, report_pdf
from tests.support import PASSWORD, People


def unchanged(db: Session, output: Output) -> None:
    stored = fresh(db).get(Output, output.id)
    assert stored is not None
    assert (stored.revision, stored.status) == (1, "released")


def test_a_correction_after_the_agreement_was_terminated_is_a_recorded_409(
    app: Flask, db: Session, people: People, agreement: Agreement
) -> None:
    output = released(db, people, agreement)
    agreements.terminate(
        db, agreement_id=agreement.id, reason="Study ended.", by=people.privacy, now=utcnow()
    )
    db.commit()
    with pytest.raises(Conflict, match="is terminated since"):
        correct(db, people, output, utcnow())
    db.rollback()

    browser = Browser(app.test_client())
    browser.login(people.analyst.email, PASSWORD)
    form = browser.get(f"/outputs/{output.id}/correct")
    assert form.status_code == 409, form.get_data(as_text=True)
    sent = browser.post(
        f"/outputs/{output.id}/correct",
        {"summary": "Corrected.", "pdf": (io.BytesIO(report_pdf("Corrected")), "report.pdf")},
        content_type="multipart/form-data",
    )
    assert sent.status_code == 409, sent.get_data(as_text=True)
    assert "is terminated since" in sent.get_data(as_text=True)
    refusals = denied(db, AuditType.OUTPUT_CORRECT)
    assert [(e.actor_email, e.target_id) for e in refusals] == [
        (people.analyst.email, str(output.id))
    ] * 2
    assert {(e.rule, e.clause) for e in refusals} == {("agreement-in-force", "term.expiry_date")}
    unchanged(db, output)
    stored = fresh(db).get(Output, output.id)
    assert stored is not None
    assert not abilities(stored, people.analyst, utcnow()).can_correct


def test_a_correction_past_the_expiry_date_is_a_recorded_409_before_the_job_ran(
    db: Session, people: People, agreement: Agreement
) -> None:
    output = released(db, people, agreement)
    version = agreement.current_version
    assert version is not None
    after = expiry_moment(version) + dt.timedelta(hours=1)
    with pytest.raises(Conflict, match="expired after") as refused:
        correct(db, people, output, after)
    db.rollback()
    assert refused.value.audit is not None
    assert refused.value.audit["event_type"] == AuditType.OUTPUT_CORRECT
    assert (refused.value.audit["rule"], refused.value.audit["clause"]) == (
        "agreement-in-force",
        "term.expiry_date",
    )
    unchanged(db, output)


def test_while_the_agreement_is_in_force_the_team_still_corrects_a_released_output(
    db: Session, people: People, agreement: Agreement
) -> None:
    output = released(db, people, agreement)
    corrected = correct(db, people, output, utcnow())
    db.commit()
    assert (corrected.revision, corrected.status) == (2, "produced")
