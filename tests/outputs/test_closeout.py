"""The close-out of an agreement (issue 17): the checklist the service walks through once the
agreement has ended, each item computed from the live records, and the close transition that
is refused (409, naming what is missing) until every item holds."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements import attachments
from governance.agreements import service as agreements
from governance.agreements.destruction_model import DestructionCertificate
from governance.agreements.models import Agreement, AgreementStatus
from governance.agreements.schedule import agreement_tasks
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.kernel.errors import InvalidTransition, PermissionDenied
from governance.kernel.types import utcnow
from governance.outputs import closeout
from governance.outputs import progress_reports as progress
from tests.agreements.builders import Datasets
from tests.agreements.test_attachments import pdf_bytes
from tests.conftest import fresh
from tests.outputs.builders import released
from tests.support import People


def unmet_keys(db: Session, agreement: Agreement) -> set[str]:
    fresh_agreement = fresh(db).get(Agreement, agreement.id)
    assert fresh_agreement is not None
    return {i.key for i in closeout.checklist(db, fresh_agreement) if not i.met}


def final_report(db: Session, people: People, agreement: Agreement, outputs: list[int]) -> None:
    report = progress.submit_report(
        db,
        agreement_id=agreement.id,
        period_end=utcnow().date(),
        work_done="The evaluation is complete; the outputs below were released.",
        team_changes="",
        output_ids=outputs,
        by=people.analyst,
        now=utcnow(),
        final=True,
    )
    progress.decide_report(
        db, report_id=report.id, accept=True, comment="", by=people.privacy, now=utcnow()
    )
    db.commit()


def test_the_close_waits_for_every_item_of_the_checklist(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    output = released(db, people, agreement)
    # Closing an agreement in force is not a close-out: the lifecycle refuses it.
    with pytest.raises(InvalidTransition):
        closeout.close_agreement(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    db.rollback()
    agreements.terminate(
        db, agreement_id=agreement.id, reason="Study ended.", by=people.privacy, now=utcnow()
    )
    db.commit()
    assert unmet_keys(db, agreement) == {
        "final_report",
        "outputs_listed",
        "data_destroyed",
        "certificate",
    }
    with pytest.raises(InvalidTransition) as refused:
        closeout.close_agreement(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    assert "Final report accepted" in refused.value.message
    assert f"#{output.id}" in refused.value.message
    db.rollback()
    assert fresh(db).get(Agreement, agreement.id).status == AgreementStatus.TERMINATED  # type: ignore[union-attr]

    # A final report that leaves the released output out does not list it.
    final_report(db, people, agreement, [])
    assert unmet_keys(db, agreement) == {"outputs_listed", "data_destroyed", "certificate"}
    # The analyst may not close; the refusal is recorded.
    with pytest.raises(PermissionDenied):
        closeout.close_agreement(db, agreement_id=agreement.id, by=people.analyst, now=utcnow())
    db.rollback()

    agreements.certify_destruction(
        db, agreement_id=agreement.id, statement="Wiped.", by=people.privacy, now=utcnow()
    )
    db.commit()
    assert unmet_keys(db, agreement) == {"outputs_listed"}
    # The privacy officers' task moves from certifying destruction to the close-out.
    tasks = [t for t in agreement_tasks(db, people.privacy) if agreement.reference in t.title]
    assert [(t.kind, t.endpoint) for t in tasks] == [("Close-out", "closeout.checklist")]
    # Certifying twice is refused.
    with pytest.raises(InvalidTransition):
        agreements.certify_destruction(
            db, agreement_id=agreement.id, statement="Again.", by=people.privacy, now=utcnow()
        )
    db.rollback()
    with pytest.raises(InvalidTransition) as still:
        closeout.close_agreement(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    assert "Outputs listed" in still.value.message
    db.rollback()


def test_a_complete_close_out_closes_the_agreement_with_its_record(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    output = released(db, people, agreement)
    attachments.upload(
        db,
        agreement_id=agreement.id,
        kind="signed_agreement",
        title="Signed agreement",
        filename="signed.pdf",
        declared_type="pdf",
        content=pdf_bytes(),
        by=people.privacy,
        now=utcnow(),
    )
    agreements.terminate(
        db, agreement_id=agreement.id, reason="Study ended.", by=people.privacy, now=utcnow()
    )
    db.commit()
    final_report(db, people, agreement, [output.id])
    agreements.certify_destruction(
        db, agreement_id=agreement.id, statement="Wiped.", by=people.privacy, now=utcnow()
    )
    db.commit()
    assert unmet_keys(db, agreement) == set()
    closeout.close_agreement(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    db.commit()
    closed = fresh(db).get(Agreement, agreement.id)
    assert closed is not None
    assert closed.status == AgreementStatus.CLOSED
    event = (
        fresh(db)
        .scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.AGREEMENT_CLOSE))
        .one()
    )
    assert event.detail["checklist"] == list(closeout.CHECKLIST)
    # The certificate lists the attachment destroyed with the data.
    certificate = fresh(db).scalars(select(DestructionCertificate)).one()
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(certificate.pdf)).pages)
    assert "Attachments destroyed" in text
    assert "Signed agreement" in text


def test_viewing_the_close_out_is_recorded_and_refused_to_others(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    closeout.view_checklist(db, agreement_id=agreement.id, by=people.compliance, now=utcnow())
    db.commit()
    with pytest.raises(PermissionDenied) as refused:
        closeout.view_checklist(db, agreement_id=agreement.id, by=people.analyst, now=utcnow())
    assert refused.value.audit is not None
    assert refused.value.audit["event_type"] == AuditType.AGREEMENT_CLOSEOUT_VIEW
    db.rollback()
    seen: list[Any] = list(
        fresh(db).scalars(
            select(AuditEvent.outcome).where(
                AuditEvent.event_type == AuditType.AGREEMENT_CLOSEOUT_VIEW
            )
        )
    )
    assert seen == [Outcome.SUCCESS]
