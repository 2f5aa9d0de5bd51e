"""The public page: published aggregate outputs only. Tests try to reach unpublished outputs
by id and by guessed file names (404, exactly as for an id that does not exist), and check
that nothing on the public blueprint is anything but the released aggregate figures; and that
disaggregated content cannot be stored in the first place."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.analysis.engine import list_kinds
from governance.kernel.errors import InvalidTransition, ValidationFailed
from governance.outputs import preview as output_preview
from governance.outputs import service as outputs
from governance.outputs.content import AGGREGATE_KINDS, released_from_analysis
from governance.outputs.models import Output
from tests.agreements.builders import Datasets
from tests.outputs.builders import (
    CHECKER_ONLY,
    DAY,
    T0,
    active_agreement,
    check_twice,
    headline_result,
    outputs_system,
    produce,
    published,
    released,
    report_pdf,
)
from tests.support import People

MIN_CELL = 10


def public_urls(output_id: int) -> list[str]:
    name = f"out-{output_id:05d}"
    return [
        f"/published/{output_id}",
        f"/published/{output_id}/{name}.pdf",
        f"/published/{output_id}/{name}.csv",
        f"/published/{output_id}/SHA256SUMS",
        f"/published/{output_id}/sha256.json",
    ]


def outputs_in_every_state(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> dict[str, Output]:
    made: dict[str, Output] = {}
    made["produced"] = produce(db, people, agreement, title="Unpublished produced")
    returned = produce(db, people, agreement, title="Unpublished returned")
    outputs.check_output(
        db, output_id=returned.id, approve=False, reasons="Too small.", by=people.checker, now=T0
    )
    made["returned"] = returned
    made["in_preview"] = check_twice(
        db, people, produce(db, people, agreement, title="Unpublished in preview")
    )
    ended = check_twice(db, people, produce(db, people, agreement, title="Unpublished ended"))
    output_preview.raise_flag(
        db,
        output_id=ended.id,
        kind="factual_error",
        part="summary",
        comment="Wrong year.",
        by=people.partner,
        now=T0 + DAY,
    )
    output_preview.close_due_previews(db, outputs_system(), T0 + 31 * DAY)
    made["preview_ended"] = ended
    made["released"] = released(db, people, agreement, title="Unpublished released")
    private = active_agreement(db, people, datasets, publication_allowed=False)
    made["not_publishable"] = released(db, people, private, title="Unpublished private")
    made["published"] = published(db, people, agreement, title="The published one")
    db.commit()
    return made


def test_unpublished_outputs_are_unreachable(
    db: Session, client: FlaskClient, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    made = outputs_in_every_state(db, people, agreement, datasets)
    shown = made.pop("published")
    index = client.get("/published/").get_data(as_text=True)
    assert shown.title in index
    missing = client.get("/published/99999")
    assert missing.status_code == 404
    for state, output in made.items():
        assert output.title not in index, state
        assert f"/published/{output.id}" not in index, state
        for url in public_urls(output.id):
            response = client.get(url)
            assert response.status_code == 404, (state, url)
            # Exactly the answer for an id that does not exist: nothing leaks. (The CSRF token
            # is signed with the current second, so it is left out of the comparison.)
            assert _without_csrf(response) == _without_csrf(missing)


CSRF_TOKEN = re.compile(r'(name="csrf[-_]token" (?:content|value)=")[^"]*')


def _without_csrf(response: Any) -> str:
    return CSRF_TOKEN.sub(r"\1", response.get_data(as_text=True))


@pytest.mark.parametrize(
    "guess",
    [
        "output.pdf",
        "out-00001.PDF",
        "out-00001-r1.pdf",
        "out-00002.pdf",
        "result.json",
        "disclosure.json",
        "populations.json",
        "..%2Fout-00001.pdf",
        "out-00001.pdf.bak",
        "sha256.json%00",
        "flags",
        "checks",
    ],
)
def test_guessed_file_names_are_not_served(
    db: Session, client: FlaskClient, people: People, agreement: Agreement, guess: str
) -> None:
    output = published(db, people, agreement)
    assert output.id == 1
    assert client.get(f"/published/{output.id}/{guess}").status_code == 404


def test_no_login_is_needed_and_nothing_private_is_shown(
    db: Session, client: FlaskClient, people: People, agreement: Agreement
) -> None:
    output = published(db, people, agreement)
    pages = [client.get(url) for url in ["/published/", *public_urls(output.id)]]
    assert all(page.status_code == 200 for page in pages)
    text = "\n".join(
        page.get_data(as_text=True) for page in pages if not page.mimetype.endswith("pdf")
    )
    version = agreement.current_version
    assert version is not None
    assert agreement.provider.name in text
    assert version.purpose in text
    assert "CJIS Security Policy" in text  # the law that applied
    forbidden = [
        CHECKER_ONLY,
        "threshold",
        "secondary",
        "Counts all >= 10.",
        "Chief Dana Reyes",
        "Dr Lee Park",
        people.analyst.email,
        people.privacy.email,
        people.analyst2.email,
        "person_id",
        "age_at_arrest",
        "offence_category",
        "populations",
        "principal_investigator",
    ]
    for word in forbidden:
        assert word not in text, word


def released_numbers(page: str) -> list[str]:
    return re.findall(r'<td class="num">\s*([^<]*?)\s*</td>', page)


def test_public_figures_are_only_the_released_aggregates(
    db: Session, client: FlaskClient, people: People, agreement: Agreement
) -> None:
    output = published(db, people, agreement)
    page = client.get(f"/published/{output.id}").get_data(as_text=True)
    cells = released_numbers(page)
    assert cells, "the page shows the released table"
    counts = [int(c) for c in cells if c.isdigit()]
    assert counts
    assert min(counts) >= MIN_CELL
    assert page.count("suppressed</span>") == 2  # the two suppressed cells, as such
    served = client.get(f"/published/{output.id}/{output.reference.lower()}.csv")
    rows = list(csv.DictReader(io.StringIO(served.get_data(as_text=True))))
    assert len(rows) == 5  # one per released cell, no person rows
    for row in rows:
        for column in ("count", "events"):
            if row[column]:
                assert float(row[column]) >= MIN_CELL, row
        if row["suppressed"] == "yes":
            assert row["count"] == row["events"] == ""


def test_publication_needs_the_agreement_to_allow_it(
    db: Session, people: People, datasets: Datasets
) -> None:
    private = active_agreement(db, people, datasets, publication_allowed=False)
    output = released(db, people, private)
    with pytest.raises(InvalidTransition, match=r"publication\.publication_allowed"):
        outputs.publish_output(db, output_id=output.id, by=people.privacy, now=T0 + 50 * DAY)


def test_an_output_is_published_only_after_release(
    db: Session, people: People, agreement: Agreement
) -> None:
    output = check_twice(db, people, produce(db, people, agreement))
    with pytest.raises(InvalidTransition):
        outputs.publish_output(db, output_id=output.id, by=people.privacy, now=T0 + DAY)


def _person_level() -> dict[str, Any]:
    result = headline_result()
    result["tables"].append(
        {
            "id": "people",
            "title": "Released people",
            "dimensions": ["person"],
            "measure": "count",
            "cells": [
                {
                    "id": f"people/{n}",
                    "labels": {"person": f"P{n}"},
                    "suppressed": False,
                    "values": {"count": 1},
                }
                for n in range(3)
            ],
        }
    )
    return result


def _small_events() -> dict[str, Any]:
    result = headline_result()
    result["tables"][0]["cells"][0]["values"] = {"count": 120, "events": 4, "rate": 4 / 120}
    return result


def _few_non_events() -> dict[str, Any]:
    result = headline_result()
    result["tables"][0]["cells"][0]["values"] = {"count": 120, "events": 115, "rate": 0.96}
    return result


def _value_behind_suppression() -> dict[str, Any]:
    result = headline_result()
    result["tables"][1]["cells"][0]["values"] = {"count": 7}
    return result


def _rows_key() -> dict[str, Any]:
    result = headline_result()
    result["rows"] = [{"person_id": "A1", "reoffended": True}]
    return result


def _no_count() -> dict[str, Any]:
    result = headline_result()
    result["tables"][0]["cells"][0]["values"] = {"rate": 0.31}
    return result


@pytest.mark.parametrize(
    "make",
    [
        _person_level,
        _small_events,
        _few_non_events,
        _value_behind_suppression,
        _rows_key,
        _no_count,
    ],
)
def test_disaggregated_results_cannot_be_stored(
    db: Session, people: People, agreement: Agreement, make: Any
) -> None:
    result = make()
    with pytest.raises(ValidationFailed):
        produce(db, people, agreement, result=result, commit=False)


def test_only_aggregate_kinds_and_real_pdfs_are_stored(
    db: Session, people: People, agreement: Agreement
) -> None:
    with pytest.raises(ValidationFailed, match="aggregate"):
        produce(db, people, agreement, kind="record_linkage", commit=False)
    db.rollback()
    with pytest.raises(ValidationFailed, match="PDF"):
        produce(db, people, agreement, pdf=b"<html>not a pdf</html>", commit=False)
    assert report_pdf().startswith(b"%PDF-")


def test_the_aggregate_kinds_are_the_engines_kinds() -> None:
    assert {kind["name"] for kind in list_kinds()} == AGGREGATE_KINDS


def test_an_engine_result_splits_into_released_figures_and_a_disclosure_record(
    db: Session, people: People, agreement: Agreement
) -> None:
    engine = {
        "kind": "descriptive",
        "parameters": {},
        "summary": "",
        "populations": [],
        "tables": [
            {
                "name": "by_district",
                "title": "People by district",
                "population": None,
                "dimensions": ["district"],
                "measure": "count",
                "policy": {"min_cell_size": 10},
                "cells": [
                    {
                        "labels": {"district": "North"},
                        "values": {"count": 40},
                        "disclosure": {"suppressed": False, "rules": []},
                    },
                    {
                        "labels": {"district": "South"},
                        "values": {"count": None},
                        "disclosure": {"suppressed": True, "rules": ["threshold"]},
                    },
                    {
                        "labels": {"district": "Total"},
                        "values": {"count": None},
                        "disclosure": {"suppressed": True, "rules": ["secondary"]},
                    },
                ],
            }
        ],
        "figures": {"counts": [1, 2]},
        "notes": ["n"],
        "caveats": [],
        "withheld": {"test": "too few people"},
        "statistics": {"test": {"p_value": 0.2, "label": "x"}},
    }
    result, disclosure = released_from_analysis(engine)
    assert [c["id"] for c in result["tables"][0]["cells"]] == [
        "by_district/1",
        "by_district/2",
        "by_district/3",
    ]
    assert all("disclosure" not in c for c in result["tables"][0]["cells"])
    assert disclosure["cells"][1] == {
        "part": "by_district/2",
        "suppressed": True,
        "rules": ["threshold"],
    }
    assert result["statistics"] == [
        {"id": "statistic.test.p_value", "label": "test.p value", "value": 0.2}
    ]
    assert "Withheld (test): too few people" in result["notes"]
    stored = produce(
        db,
        people,
        agreement,
        kind="descriptive",
        result=result,
        disclosure=disclosure,
    )
    assert stored.part_label("by_district/1") == "People by district: district North"
