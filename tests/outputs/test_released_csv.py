"""The CSV and PDF released with an output, attacked through a correction: the CSV released is
always the one made from the checked result, an uploaded CSV that says anything else is refused
(422, naming the first difference) and leaves the revision as it was, the PDF must open, and the
checkers see the files that will be released and a disclosure record of what was checked."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from pypdf import PdfWriter
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent
from governance.identity import tokens
from governance.kernel.errors import ValidationFailed
from governance.kernel.types import utcnow
from governance.outputs import service as outputs
from governance.outputs.models import Output
from governance.outputs.released_csv import csv_of
from tests.conftest import fresh
from tests.outputs.builders import (
    SOON,
    T0,
    check_twice,
    disclosure_record,
    event_types,
    headline_result,
    produce,
    report_pdf,
)
from tests.outputs.test_pages import login
from tests.support import SETUP, People

CANONICAL = csv_of(headline_result()).decode()
# The uploads of the exploratory tester's script (data/explore/correct_bypass.py), verbatim.
TESTER_PDF = b"%PDF-1.4\n%anything at all\n"
TESTER_UPLOADS = {
    "header not named count": b"table,cell,region,sex,age_at_index,people\n"
    b"counts,counts/1,london,F,114,1\n",
    "count with a unit": b"table,cell,region,sex,age_at_index,count\n"
    b"counts,counts/1,london,F,114,1 person\n",
}


def _swap(old: str, new: str, text: str = CANONICAL) -> bytes:
    assert old in text, old
    return text.replace(old, new, 1).encode()


# Each upload differs from the released figures; the message names where it first does.
REFUSED: dict[str, tuple[bytes, str]] = {
    "count column headed people": (
        _swap(",count,", ",people,", CANONICAL.replace("Total,120", "Total,1")),
        "CSV line 1, column 5 (count) of the header: expected 'count', found 'people'",
    ),
    "count with a unit": (
        _swap("Total,120,", "Total,1 person,"),
        "CSV line 6, column 5 (count) of cell by_sex/total: expected '120', found '1 person'",
    ),
    "an equal count with a unit": (
        _swap("Total,120,", "Total,120 people,"),
        "CSV line 6, column 5 (count)",
    ),
    "thousands separator": (
        _swap("Comparison,,4800,", 'Comparison,,"4,800",'),
        "CSV line 3, column 5 (count) of cell headline/comparison: expected '4800', found '4,800'",
    ),
    "a plus sign": (_swap("Total,120,", "Total,+120,"), "CSV line 6, column 5"),
    "a space before a count": (_swap("Total,120,", "Total, 120,"), "CSV line 6, column 5"),
    "infinity": (_swap("Total,120,", "Total,inf,"), "CSV line 6, column 5"),
    "an extra column": (
        _swap("suppressed\r\n", "suppressed,age\r\n"),
        "CSV line 1 (the header) has 10 columns",
    ),
    "an extra value on one row": (
        _swap("Total,120,,,,no", "Total,120,,,,no,1"),
        "CSV line 6 (cell by_sex/total) has 10 columns",
    ),
    "a row not in the result in place of one": (
        _swap("by_sex,by_sex/total,,Total,120,", "by_age,by_age/114,,Total,12,"),
        "CSV line 6, column 1 (table) of cell by_sex/total: expected 'by_sex', found 'by_age'",
    ),
    "a row not in the result added": (
        (CANONICAL + "by_sex,by_sex/london,,F,12,,,,no\r\n").encode(),
        "CSV line 7 is not one of the released figures",
    ),
    "a row left out": (
        _swap("by_sex,by_sex/total,,Total,120,,,,no\r\n", ""),
        "the CSV ends at line 5, but the result has 5 cells: line 6 should be cell by_sex/total",
    ),
    "a suppressed cell filled in": (
        _swap(",Female,,,,,yes", ",Female,12,,,,no"),
        "CSV line 4, column 5 (count) of cell by_sex/female: expected a blank, found '12'",
    ),
    "a quoted formula as a count": (
        _swap("Total,120,", 'Total,"=HYPERLINK(""http://x.example/?n=1"",""120"")",'),
        "CSV line 6, column 5 (count) of cell by_sex/total: expected '120', found '=HYPERLINK",
    ),
    "a formula as a label": (
        _swap(",Treatment,", ',"=1+1",'),
        "CSV line 2, column 3 (group) of cell headline/treatment",
    ),
    "a byte-order mark inside a count": (
        _swap("Total,120,", "Total,\ufeff1,"),
        "CSV line 6, column 5 (count)",
    ),
    "two byte-order marks": (
        ("\ufeff\ufeff" + CANONICAL).encode(),
        "CSV line 1, column 1 (table) of the header",
    ),
    "a row smuggled in a quoted label with CRLF": (
        _swap(",Treatment,", ',"Treatment\r\nby_sex,by_sex/london,,F,1,,,,no",'),
        "CSV line 2, column 3 (group) of cell headline/treatment",
    ),
    "a count split by a bare CR": (_swap("Total,120,", 'Total,"1\r20",'), "CSV line 6, column 5"),
    "an unterminated quote": (_swap("Total,120,", 'Total,"120,'), "not well-formed CSV"),
    "latin-1 text": (_swap("Treatment", "Tr\u00e9atment").decode().encode("latin-1"), "UTF-8"),
    "an empty file": (b"", "the CSV file is empty"),
}


def _lf(text: str) -> bytes:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows(rows)
    return out.getvalue().encode()


# Uploads that say exactly what the released figures say, written differently.
ACCEPTED: dict[str, bytes] = {
    "the CSV made from the result": CANONICAL.encode(),
    "with a spreadsheet's byte-order mark": ("\ufeff" + CANONICAL).encode(),
    "LF line endings, every field quoted": _lf(CANONICAL),
    "bare CR line endings": CANONICAL.replace("\r\n", "\r").encode(),
    "numbers spelled differently": _swap(
        "Comparison,,4800,1824,0.38,", "Comparison,,4.8e3,1824.0,0.380,"
    ),
}


def correct(
    db: Session, people: People, output: Output, csv_upload: bytes | None, **overrides: Any
) -> Output:
    values: dict[str, Any] = {
        "output_id": output.id,
        "result": headline_result(),
        "pdf": report_pdf("Corrected report"),
        "csv": csv_upload,
        "summary": "Corrected wording.",
        "by": people.analyst,
        "now": T0 + SOON,
    }
    values.update(overrides)
    return outputs.correct_output(db, **values)


def snapshot(output: Output) -> dict[str, Any]:
    return {
        "revision": output.revision,
        "status": str(output.status),
        "summary": output.summary,
        "result": output.result,
        "csv": output.csv,
        "csv_sha256": output.csv_sha256,
        "pdf_sha256": output.pdf_sha256,
        "disclosure": output.disclosure,
        "revised_at": output.revised_at,
    }


def assert_unchanged(db: Session, output_id: int, before: dict[str, Any]) -> None:
    db.rollback()
    stored = fresh(db).get(Output, output_id)
    assert stored is not None
    assert snapshot(stored) == before
    assert "output:correct" not in event_types(db, output_id)


@pytest.mark.parametrize(("upload", "message"), list(REFUSED.values()), ids=list(REFUSED))
def test_a_csv_that_differs_from_the_released_figures_is_refused(
    db: Session, people: People, agreement: Agreement, upload: bytes, message: str
) -> None:
    output = check_twice(db, people, produce(db, people, agreement))
    before = snapshot(output)
    with pytest.raises(ValidationFailed) as refused:
        correct(db, people, output, upload)
    assert message in refused.value.fields["csv"]
    # Refused before the first change: the revision in this very session is untouched too.
    assert snapshot(output) == before
    assert_unchanged(db, output.id, before)


@pytest.mark.parametrize("upload", list(ACCEPTED.values()), ids=list(ACCEPTED))
def test_a_csv_equal_to_the_released_figures_is_accepted_and_not_stored(
    db: Session, people: People, agreement: Agreement, upload: bytes
) -> None:
    output = produce(db, people, agreement)
    correct(db, people, output, upload)
    db.commit()
    assert output.revision == 2
    assert output.csv == csv_of(output.result)


def test_without_a_csv_the_released_csv_is_made_from_the_corrected_result(
    db: Session, people: People, agreement: Agreement
) -> None:
    output = produce(db, people, agreement)
    corrected = headline_result()
    corrected["tables"][0]["cells"][0]["values"] = {"count": 130, "events": 40, "rate": 40 / 130}
    correct(db, people, output, None, result=corrected)
    db.commit()
    stored = fresh(db).get(Output, output.id)
    assert stored is not None
    assert stored.csv == csv_of(corrected)
    assert ",130,40," in stored.csv.decode()
    correction = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == "output:correct")
    ).one()
    assert correction.detail["after"]["csv_sha256"] == stored.csv_sha256


def test_production_makes_the_csv_from_the_result(
    db: Session, people: People, agreement: Agreement
) -> None:
    with pytest.raises(TypeError):
        produce(db, people, agreement, csv=b"table,cell\r\nx,y\r\n", commit=False)
    db.rollback()
    assert produce(db, people, agreement).csv == csv_of(headline_result())


@pytest.mark.parametrize(
    "pdf",
    [TESTER_PDF, b"%PDF-1.7 stand-in", b"<html>not a pdf</html>", "encrypted"],
    ids=["magic only", "stand-in", "html", "encrypted"],
)
def test_a_report_that_does_not_open_is_refused(
    db: Session, people: People, agreement: Agreement, pdf: bytes | str
) -> None:
    if pdf == "encrypted":
        writer = PdfWriter()
        writer.add_blank_page(width=200, height=200)
        writer.encrypt("secret")
        out = io.BytesIO()
        writer.write(out)
        pdf = out.getvalue()
    output = produce(db, people, agreement)
    before = snapshot(output)
    with pytest.raises(ValidationFailed, match="PDF that opens") as refused:
        correct(db, people, output, None, pdf=pdf)
    assert "pdf" in refused.value.fields
    assert_unchanged(db, output.id, before)


def _api(app: Flask, db: Session, people: People) -> Callable[..., Any]:
    secret = tokens.create_token(
        db, user_id=people.analyst.id, name="analyst test", days=None, by=SETUP, now=utcnow()
    ).secret
    db.commit()
    client = app.test_client()

    def post(path: str, data: dict[str, Any]) -> Any:
        return client.post(
            path,
            headers={"Authorization": f"Bearer {secret}"},
            data=data,
            content_type="multipart/form-data",
        )

    return post


@pytest.mark.parametrize("upload", list(TESTER_UPLOADS.values()), ids=list(TESTER_UPLOADS))
def test_the_testers_uploads_are_refused_through_the_api(
    app: Flask, db: Session, people: People, agreement: Agreement, upload: bytes
) -> None:
    output = check_twice(db, people, produce(db, people, agreement))
    before = snapshot(output)
    post = _api(app, db, people)
    path = f"/api/v1/outputs/{output.id}/correct"
    for pdf in (TESTER_PDF, report_pdf("Corrected")):
        response = post(
            path,
            {
                "csv": (io.BytesIO(upload), "o.csv"),
                "pdf": (io.BytesIO(pdf), "o.pdf"),
                "summary": "One person aged 114 in London (F).",
            },
        )
        assert response.status_code == 422
    assert response.get_json()["fields"]["csv"] == (
        "CSV line 1 (the header) has 6 columns; the released figures have 9: "
        "table, cell, group, sex, count, events, rate, mean, suppressed."
    )
    assert_unchanged(db, output.id, before)
    accepted = post(
        path,
        {
            "csv": (io.BytesIO(CANONICAL.encode()), "o.csv"),
            "pdf": (io.BytesIO(report_pdf("Corrected")), "o.pdf"),
            "summary": "Corrected wording.",
        },
    )
    assert accepted.status_code == 200
    assert accepted.get_json()["revision"] == 2
    assert accepted.get_json()["csv_sha256"] == before["csv_sha256"]


def test_the_page_form_refuses_the_same_and_shows_why(
    app: Flask, db: Session, people: People, agreement: Agreement
) -> None:
    output = produce(db, people, agreement)
    before = snapshot(output)
    upload, message = REFUSED["count with a unit"]
    response = login(app, people.analyst).post(
        f"/outputs/{output.id}/correct",
        {
            "summary": "Corrected.",
            "pdf": (io.BytesIO(report_pdf("Corrected")), "report.pdf"),
            "csv": (io.BytesIO(upload), "figures.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert message.replace("'", "&#39;") in response.get_data(as_text=True)
    assert_unchanged(db, output.id, before)


def test_a_correction_of_the_figures_records_what_was_checked(
    db: Session, people: People, agreement: Agreement
) -> None:
    output = produce(db, people, agreement)
    assert output.disclosure == disclosure_record()
    # Wording only: the engine's record still describes these very cells.
    correct(db, people, output, None)
    db.commit()
    assert output.disclosure == disclosure_record()
    corrected = headline_result()
    corrected["tables"][1]["cells"][0] = {
        "id": "by_sex/female",
        "labels": {"sex": "Female"},
        "suppressed": False,
        "values": {"count": 11},
    }
    correct(db, people, output, None, result=corrected, now=T0 + 2 * SOON)
    db.commit()
    record = fresh(db).get(Output, output.id).disclosure  # type: ignore[union-attr]
    assert record["policy"] == {"min_cell_size": 10, "checked_at_revision": 3}
    assert "not run again" in record["note"]
    assert record["cells"][:2] == [
        {"part": "headline/treatment", "suppressed": False, "rules": [], "smallest_base": 38},
        {"part": "headline/comparison", "suppressed": False, "rules": [], "smallest_base": 1824},
    ]
    assert record["cells"][2:4] == [
        {"part": "by_sex/female", "suppressed": False, "rules": [], "smallest_base": 11},
        {"part": "by_sex/male", "suppressed": True, "rules": [], "smallest_base": None},
    ]
    figures = [
        e.detail["figures_changed"]
        for e in db.scalars(
            select(AuditEvent)
            .where(AuditEvent.event_type == "output:correct")
            .order_by(AuditEvent.seq)
        )
    ]
    assert figures == [False, True]


def test_checkers_see_and_download_exactly_the_files_released(
    app: Flask, db: Session, people: People, agreement: Agreement
) -> None:
    output = produce(db, people, agreement)
    corrected = headline_result()
    corrected["tables"][0]["cells"][0]["values"] = {"count": 130, "events": 40, "rate": 40 / 130}
    correct(db, people, output, None, result=corrected)
    db.commit()
    checker = login(app, people.checker)
    page = checker.get(f"/outputs/{output.id}").get_data(as_text=True)
    assert 'id="released-files"' in page
    assert 'id="read-the-pdf"' in page  # the uploaded PDF must be read by a person
    assert "Uploaded by the project team with the correction" in page
    assert output.pdf_sha256 in page
    assert output.csv_sha256 in page
    assert 'id="disclosure-note"' in page
    assert f'href="/outputs/{output.id}/files/pdf"' in page
    assert checker.get(f"/outputs/{output.id}/files/csv").data == csv_of(corrected)
    assert checker.get(f"/outputs/{output.id}/files/pdf").data == report_pdf("Corrected report")
    outputs.check_output(
        db, output_id=output.id, approve=True, reasons="", by=people.checker, now=T0 + 2 * SOON
    )
    db.commit()
    approval = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == "output:check_approve")
    ).one()
    assert approval.detail["revision"] == 2
    assert (approval.detail["pdf_sha256"], approval.detail["csv_sha256"]) == (
        output.pdf_sha256,
        output.csv_sha256,
    )


def test_an_engine_output_says_its_pdf_was_made_by_the_engine(
    app: Flask, db: Session, people: People, agreement: Agreement
) -> None:
    output = produce(db, people, agreement)
    page = login(app, people.checker).get(f"/outputs/{output.id}").get_data(as_text=True)
    assert "Made by the analysis engine from the released figures." in page
    assert 'id="read-the-pdf"' not in page


def test_the_openapi_schema_says_the_csv_is_optional(app: Flask) -> None:
    schema = app.test_client().get("/api/v1/openapi.json").get_json()
    operation = schema["paths"]["/api/v1/outputs/{output_id}/correct"]["post"]
    body = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["required"] == ["pdf", "summary"]
    assert "never stored" in body["properties"]["csv"]["description"]


def test_a_result_file_with_the_csv_is_compared_with_that_result(
    app: Flask, db: Session, people: People, agreement: Agreement
) -> None:
    """An upload that matches the old figures but not the corrected result is refused."""
    output = produce(db, people, agreement)
    corrected = headline_result()
    corrected["tables"][1]["cells"][2]["values"] = {"count": 121}
    post = _api(app, db, people)
    response = post(
        f"/api/v1/outputs/{output.id}/correct",
        {
            "csv": (io.BytesIO(CANONICAL.encode()), "o.csv"),
            "pdf": (io.BytesIO(report_pdf("Corrected")), "o.pdf"),
            "result": (io.BytesIO(json.dumps(corrected).encode()), "result.json"),
            "summary": "Corrected.",
        },
    )
    assert response.status_code == 422
    assert "expected '121', found '120'" in response.get_json()["fields"]["csv"]
