"""Time and corrections: the window closing clears an unflagged output (`governance expire
--now`, simulated time), and a correction resets the checks and the preview."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent
from governance.cli import main
from governance.kernel.errors import InvalidTransition, PermissionDenied, ValidationFailed
from governance.outputs import preview as output_preview
from governance.outputs import service as outputs
from governance.outputs.lifecycle import State, state_of
from governance.outputs.models import Output, OutputStatus
from governance.outputs.released_csv import csv_of
from tests.conftest import fresh
from tests.outputs.builders import (
    DAY,
    SOON,
    T0,
    check_twice,
    event_types,
    headline_result,
    produce,
    published,
    report_pdf,
)
from tests.support import People


def run_expire(app: Flask, monkeypatch: pytest.MonkeyPatch, now: dt.datetime) -> str:
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", app.config["DATABASE_URL"])
    result = CliRunner().invoke(main, ["expire", "--apply", "--now", now.isoformat()])
    assert result.exit_code == 0, result.output
    return result.output


def status(db: Session, output: Output) -> str:
    stored = fresh(db).get(Output, output.id)
    assert stored is not None
    return str(stored.status)


def test_the_window_closing_clears_an_unflagged_output(
    app: Flask, db: Session, people: People, agreement: Agreement, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = check_twice(db, people, produce(db, people, agreement))
    closes = T0 + SOON + 30 * DAY
    assert output.preview_closes_at == closes

    before = run_expire(app, monkeypatch, closes - dt.timedelta(seconds=1))
    assert "outputs.clear: 0 changed" in before
    assert status(db, output) == "in_preview"

    after = run_expire(app, monkeypatch, closes)
    assert "outputs.clear: 1 changed" in after
    assert f"output:clear {output.reference}" in after
    assert status(db, output) == "released"
    stored = fresh(db).get(Output, output.id)
    assert stored is not None
    assert stored.cleared_at == closes
    assert event_types(db, output.id)[-4:] == [
        "output:preview_open",
        "output:preview_close",
        "output:clear",
        "output:release",
    ]
    closing = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == "output:preview_close")
    ).one()
    assert closing.actor_email == "system:cli"
    assert closing.detail["open_flags"] == 0

    again = run_expire(app, monkeypatch, closes + DAY)
    assert "outputs.clear: 0 changed" in again


def test_a_flagged_output_does_not_clear_when_the_window_closes(
    app: Flask, db: Session, people: People, agreement: Agreement, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = check_twice(db, people, produce(db, people, agreement))
    output_preview.raise_flag(
        db,
        output_id=output.id,
        kind="identifiable_information",
        part="by_sex/total",
        comment="Could identify the one woman?",
        by=people.partner,
        now=T0 + DAY,
    )
    db.commit()
    run_expire(app, monkeypatch, T0 + 31 * DAY)
    assert status(db, output) == "preview_ended"


def test_a_correction_resets_checks_and_preview(
    db: Session, people: People, agreement: Agreement
) -> None:
    output = check_twice(db, people, produce(db, people, agreement))
    flag = output_preview.raise_flag(
        db,
        output_id=output.id,
        kind="factual_error",
        part="summary",
        comment="The summary says 32 per 100; the table says 38 of 120.",
        by=people.partner,
        now=T0 + 2 * DAY,
    )
    db.commit()
    old_pdf, old_csv = output.pdf_sha256, output.csv_sha256

    corrected = headline_result()
    corrected["notes"].append("Rates are per 100 people.")
    outputs.correct_output(
        db,
        output_id=output.id,
        result=corrected,
        pdf=report_pdf("Corrected report"),
        csv=csv_of(corrected),
        summary="For every 100 typical people in the treatment group, "
        "32 re-offended within a year (38 of 120), compared with 38 in the comparison group.",
        by=people.analyst,
        now=T0 + 3 * DAY,
    )
    db.commit()
    assert output.revision == 2
    assert state_of(output) == State.PRODUCED
    assert output.approvals == []
    assert len(output.checks) == 2
    assert output.preview_opened_at is None
    assert output.preview_closes_at is None
    assert output.pdf_sha256 != old_pdf

    correction = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == "output:correct")
    ).one()
    assert correction.detail["before"] == {
        "revision": 1,
        "pdf_sha256": old_pdf,
        "csv_sha256": old_csv,
    }
    assert correction.detail["after"]["pdf_sha256"] == output.pdf_sha256

    # The same two checkers may check the new revision; the preview opens again in full.
    check_twice(db, people, output, now=T0 + 4 * DAY)
    assert output.status == OutputStatus.IN_PREVIEW
    assert output.preview_closes_at == T0 + 34 * DAY
    # Now "corrected" is a truthful answer; the partner accepts and the output clears.
    output_preview.answer_flag(
        db,
        output_id=output.id,
        flag_id=flag.id,
        answer="corrected",
        text="The summary now gives both figures.",
        by=people.analyst,
        now=T0 + 5 * DAY,
    )
    output_preview.accept_answer(
        db, output_id=output.id, flag_id=flag.id, by=people.partner, now=T0 + 6 * DAY
    )
    db.commit()
    assert output.status == OutputStatus.RELEASED


def test_corrections_are_checked_like_productions(
    db: Session, people: People, agreement: Agreement
) -> None:
    output = produce(db, people, agreement)
    with pytest.raises(PermissionDenied):
        outputs.correct_output(
            db,
            output_id=output.id,
            result=headline_result(),
            pdf=report_pdf(),
            csv=output.csv,
            summary="x",
            by=people.checker,
            now=T0,
        )
    db.rollback()
    leaky = headline_result()
    leaky["tables"][1]["cells"][0] = {
        "id": "by_sex/female",
        "labels": {"sex": "Female"},
        "suppressed": False,
        "values": {"count": 7},
    }
    with pytest.raises(ValidationFailed, match="minimum cell size"):
        outputs.correct_output(
            db,
            output_id=output.id,
            result=leaky,
            pdf=report_pdf(),
            csv=csv_of(headline_result()),
            summary="x",
            by=people.analyst,
            now=T0,
        )
    db.rollback()
    # The producer's correction makes the corrector a contributor: they cannot check it.
    outputs.correct_output(
        db,
        output_id=output.id,
        result=headline_result(),
        pdf=report_pdf(),
        csv=output.csv,
        summary="Shorter.",
        by=people.analyst2,
        now=T0 + SOON,
    )
    db.commit()
    assert output.contributors == [f"user:{people.analyst.id}", f"user:{people.analyst2.id}"]


def test_a_published_output_cannot_be_corrected(
    db: Session, people: People, agreement: Agreement
) -> None:
    output = published(db, people, agreement)
    with pytest.raises(InvalidTransition):
        outputs.correct_output(
            db,
            output_id=output.id,
            result=headline_result(),
            pdf=report_pdf(),
            csv=output.csv,
            summary="Later change.",
            by=people.analyst,
            now=T0 + 50 * DAY,
        )
