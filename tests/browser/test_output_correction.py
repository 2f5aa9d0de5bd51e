"""A correction in a real browser, with the keyboard: the analyst's CSV that releases a count
of one is refused with the line and column named and the revision stays; a correction without
a CSV is saved; the checker then sees exactly the files that will be released, is asked to read
the uploaded PDF, sees what the disclosure check covered, and reads no raw code on the page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from governance.outputs.models import Output
from governance.outputs.released_csv import csv_of
from tests.agreements.builders import Datasets
from tests.browser.keyboard import log_in, press, tab_to, type_into
from tests.browser.test_journeys import world  # noqa: F401  (the fixture)
from tests.browser.test_readable_pages import VISIBLE_TEXT, codes_in
from tests.conftest import fresh
from tests.outputs.builders import active_agreement, headline_result, produce, report_pdf
from tests.support import PASSWORD, People


def test_a_correction_is_refused_then_saved_and_the_checker_sees_the_released_files(
    db: Session,
    people: People,
    world: Datasets,  # noqa: F811
    live_server: Any,
    new_page: Any,
    console: Any,
    tmp_path: Path,
) -> None:
    console.expect("422")  # the browser logs the status of the refused post
    output = produce(db, people, active_agreement(db, people, world))
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(report_pdf("Corrected report"))
    smuggled = tmp_path / "figures.csv"
    canonical = csv_of(headline_result()).decode()
    smuggled.write_text(canonical.replace("Total,120,", "Total,1 person,"), newline="")
    corrected = headline_result()
    corrected["tables"][1]["cells"][0] = {
        "id": "by_sex/female",
        "labels": {"sex": "Female"},
        "suppressed": False,
        "values": {"count": 11},
    }
    result = tmp_path / "result.json"
    result.write_text(json.dumps(corrected))
    base = live_server.url

    analyst = new_page()
    log_in(analyst, base, people.analyst.email, PASSWORD)
    analyst.goto(f"{base}/outputs/{output.id}/correct")
    type_into(analyst, "#summary", "Corrected wording.")
    analyst.set_input_files("#pdf", str(pdf))
    analyst.set_input_files("#csv", str(smuggled))
    press(analyst, "main form button.primary")
    assert "CSV line 6, column 5 (count) of cell by_sex/total" in analyst.content()
    assert fresh(db).get(Output, output.id).revision == 1  # type: ignore[union-attr]

    analyst.goto(f"{base}/outputs/{output.id}/correct")
    type_into(analyst, "#summary", "Corrected: the female count is released.")
    analyst.set_input_files("#pdf", str(pdf))
    analyst.set_input_files("#result", str(result))
    press(analyst, "main form button.primary")
    assert "Corrected: the new revision goes back to the output checkers." in analyst.content()

    checker = new_page()
    log_in(checker, base, people.checker.email, PASSWORD)
    checker.goto(f"{base}/outputs/{output.id}")
    files = checker.locator("#released-files")
    assert "Uploaded by the project team with the correction" in files.inner_text()
    assert checker.locator("#released-files a[href$='/files/csv']").count() == 1
    assert checker.locator("#read-the-pdf").is_visible()
    assert "were not run again" in checker.locator("#disclosure-note").inner_text()
    assert codes_in(checker.evaluate(VISIBLE_TEXT)) == []
    tab_to(checker, "#released-files a[href$='/files/csv']")
    with checker.expect_download() as download:
        checker.keyboard.press("Enter")
    saved = Path(download.value.path())
    assert b"by_sex,by_sex/female,,Female,11," in saved.read_bytes()
    press(checker, "#check-form button[value=approve]")
    assert "Approved." in checker.content()
