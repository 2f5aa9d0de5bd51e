"""The output pages as each role sees them: who sees which output and which parts of it,
forms shown only when allowed, the whole path through the browser, recorded downloads, the
dashboards' tasks, and the generated lifecycle page."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent
from governance.authz import Role
from governance.identity.models import User
from governance.outputs import service as outputs
from governance.outputs.lifecycle import lifecycle_markdown
from governance.outputs.models import Output, OutputStatus
from governance.outputs.released_csv import csv_of
from governance.outputs.tasks import CHECK_WITHIN_DAYS
from tests.conftest import Browser, fresh
from tests.outputs.builders import (
    CHECKER_ONLY,
    T0,
    check_twice,
    denied,
    headline_result,
    produce,
    released,
    report_pdf,
)
from tests.support import PASSWORD, People, add_person

REPO = Path(__file__).resolve().parents[2]


def login(app: Flask, user: User) -> Browser:
    browser = Browser(app.test_client())
    browser.login(user.email, PASSWORD)
    return browser


@pytest.fixture
def outsider(db: Session, app: Flask, people: People) -> User:
    """An analyst of the lab who is not named on the agreement."""
    user = add_person(
        db,
        app,
        email="outsider@test.example",
        name="Outsider",
        org=people.lab,
        roles=(Role.ANALYST,),
    )
    db.commit()
    return user


def test_the_list_shows_each_role_its_outputs(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    outsider: User,
    other_partner: User,
) -> None:
    waiting = produce(db, people, agreement, title="Waiting for its check")
    previewed = check_twice(db, people, produce(db, people, agreement, title="In its preview"))
    expected = {
        people.analyst: {waiting.title, previewed.title},
        people.analyst2: {waiting.title, previewed.title},  # named on the agreement
        people.checker: {waiting.title, previewed.title},
        people.partner: {previewed.title},
        outsider: set(),
        other_partner: set(),
    }
    for user, titles in expected.items():
        page = login(app, user).get("/outputs/").get_data(as_text=True)
        for title in (waiting.title, previewed.title):
            assert (title in page) == (title in titles), (user.email, title)


def test_what_each_role_sees_on_an_output(
    app: Flask, db: Session, people: People, agreement: Agreement, outsider: User
) -> None:
    output = check_twice(db, people, produce(db, people, agreement))
    url = f"/outputs/{output.id}"
    checker = login(app, people.privacy2).get(url).get_data(as_text=True)
    assert CHECKER_ONLY in checker
    assert "Disclosure-control record" in checker
    assert "Counts all &gt;= 10." in checker  # the checks and their reasons

    analyst = login(app, people.analyst).get(url).get_data(as_text=True)
    assert CHECKER_ONLY not in analyst
    assert "Counts all &gt;= 10." in analyst
    # Holding no grant for its purpose, the analyst reads its checks but not its figures
    # (tests/api/test_output_figures.py).
    assert 'id="figures-withheld"' in analyst
    assert 'id="check-form"' not in analyst
    assert 'id="flag-form"' not in analyst

    partner = login(app, people.partner).get(url).get_data(as_text=True)
    for private in (CHECKER_ONLY, "Counts all &gt;= 10.", "Output checks", "threshold"):
        assert private not in partner
    assert "Proven re-offending within one year" in partner  # the released figures
    kinds = re.findall(
        r'<option value="([^"]+)"', partner.split('id="kind"')[1].split("</select>")[0]
    )
    assert kinds == ["identifiable_information", "factual_error"]
    assert "headline/treatment" in partner  # parts to point at

    assert login(app, outsider).get(url).status_code == 404  # as for a missing output
    refusals = {(e.actor_id, e.rule) for e in denied(db, "output:read")}
    assert refusals == {
        (people.analyst.id, "current-grant"),
        (outsider.id, "output-visibility"),
    }


def test_partners_see_nothing_before_the_preview(
    app: Flask, db: Session, people: People, agreement: Agreement
) -> None:
    output = produce(db, people, agreement)
    # Answered as for a missing output (404), recorded.
    assert login(app, people.partner).get(f"/outputs/{output.id}").status_code == 404
    [refused] = denied(db, "output:read")
    assert (refused.actor_id, refused.rule) == (people.partner.id, "output-visibility")


def test_the_path_through_the_browser(
    app: Flask, db: Session, people: People, agreement: Agreement
) -> None:
    output = produce(db, people, agreement)
    url = f"/outputs/{output.id}"
    checker = login(app, people.checker)
    assert 'id="check-form"' in checker.get(url).get_data(as_text=True)
    assert checker.post(f"{url}/check", {"decision": "approve"}).status_code == 302
    assert 'id="check-form"' not in checker.get(url).get_data(as_text=True)  # not twice
    analyst = login(app, people.analyst)
    assert analyst.post(f"{url}/check", {"decision": "approve"}).status_code == 403
    privacy = login(app, people.privacy)
    assert (
        privacy.post(f"{url}/check", {"decision": "approve", "reasons": "Fine."}).status_code == 302
    )
    assert fresh(db).get(Output, output.id).status == OutputStatus.IN_PREVIEW  # type: ignore[union-attr]

    partner = login(app, people.partner)
    refused = partner.post(
        f"{url}/flags",
        {"kind": "do_not_publish", "part": "summary", "comment": "We disagree with the findings."},
    )
    assert refused.status_code == 422
    assert "cannot edit the output or stop its release" in refused.get_data(as_text=True)
    assert (
        partner.post(
            f"{url}/flags",
            {
                "kind": "factual_error",
                "part": "headline/comparison",
                "comment": "4,800 should be 4,700.",
            },
        ).status_code
        == 302
    )
    flag_id = fresh(db).scalars(select(Output)).one().flags[0].id
    assert (
        analyst.post(
            f"{url}/flags/{flag_id}/answer",
            {"answer": "explained", "text": "4,800 is after matching."},
        ).status_code
        == 302
    )
    assert partner.post(f"{url}/flags/{flag_id}/accept").status_code == 302
    assert fresh(db).get(Output, output.id).status == OutputStatus.RELEASED  # type: ignore[union-attr]

    page = privacy.get(url).get_data(as_text=True)
    assert "Publish on the public page" in page
    # The page's button asks first: what becomes public, and that it cannot be undone.
    assert f'href="{url}/publish"' in page
    confirm = privacy.get(f"{url}/publish")
    assert confirm.status_code == 200
    assert "cannot be undone" in confirm.get_data(as_text=True)
    assert fresh(db).get(Output, output.id).status == OutputStatus.RELEASED  # type: ignore[union-attr]
    assert analyst.get(f"{url}/publish").status_code == 403
    assert privacy.post(f"{url}/publish").status_code == 302
    assert app.test_client().get(f"/published/{output.id}").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("post", "/outputs/{id}/edit", 404),
        ("post", "/outputs/{id}/reject", 404),
        ("post", "/outputs/{id}/block", 404),
        ("post", "/outputs/{id}/withdraw", 404),
        ("post", "/outputs/{id}/flags/1/reject", 404),
        ("get", "/outputs/{id}/correct", 403),
        ("post", "/outputs/{id}/correct", 403),
        ("post", "/outputs/{id}/publish", 403),
        ("post", "/outputs/{id}/check", 403),
        ("put", "/outputs/{id}", 405),
        ("delete", "/outputs/{id}", 405),
    ],
)
def test_a_partner_cannot_edit_or_block(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    method: str,
    path: str,
    status: int,
) -> None:
    output = check_twice(db, people, produce(db, people, agreement))
    partner = login(app, people.partner)
    url = path.format(id=output.id)
    if method == "post":
        response = partner.post(
            url, {"decision": "return", "reasons": "Do not publish.", "summary": "Softer wording."}
        )
    else:
        response = getattr(partner.client, method)(url)
    assert response.status_code == status
    stored = fresh(db).get(Output, output.id)
    assert stored is not None
    assert (stored.status, stored.revision, stored.checks[-1].decision) == (
        OutputStatus.IN_PREVIEW,
        1,
        "approve",
    )


def test_downloads_are_recorded_and_limited_to_the_team_once_released(
    app: Flask, db: Session, people: People, agreement: Agreement, outsider: User
) -> None:
    output = check_twice(db, people, produce(db, people, agreement))
    analyst = login(app, people.analyst)
    assert analyst.get(f"/outputs/{output.id}/files/pdf").status_code == 403
    assert len(denied(db, "output:download")) == 1
    partner_copy = login(app, people.partner).get(f"/outputs/{output.id}/files/csv")
    assert partner_copy.status_code == 200  # the partner previews the files
    assert partner_copy.data == output.csv

    done = released(fresh(db), people, agreement)
    response = analyst.get(f"/outputs/{done.id}/files/pdf")
    assert response.status_code == 200
    assert response.headers["X-Content-SHA256"] == done.pdf_sha256
    assert login(app, outsider).get(f"/outputs/{done.id}/files/pdf").status_code == 404
    assert analyst.get(f"/outputs/{done.id}/files/xlsx").status_code == 404
    recorded = (
        fresh(db)
        .scalars(
            select(AuditEvent)
            .where(AuditEvent.event_type == "output:download", AuditEvent.outcome == "success")
            .order_by(AuditEvent.seq)
        )
        .all()
    )
    assert [(e.actor_id, e.target_id, e.detail["file"]) for e in recorded] == [
        (people.partner.id, str(output.id), "csv"),
        (people.analyst.id, str(done.id), "pdf"),
    ]


def test_a_correction_through_the_upload_form(
    app: Flask, db: Session, people: People, agreement: Agreement
) -> None:
    output = check_twice(db, people, produce(db, people, agreement))
    analyst = login(app, people.analyst)
    assert analyst.get(f"/outputs/{output.id}/correct").status_code == 200
    corrected = headline_result()
    corrected["caveats"].append("Corrected: the comparison year.")
    import json

    response = analyst.post(
        f"/outputs/{output.id}/correct",
        {
            "summary": "Corrected summary.",
            "pdf": (io.BytesIO(report_pdf("Corrected")), "report.pdf"),
            "csv": (io.BytesIO(csv_of(corrected)), "figures.csv"),
            "result": (io.BytesIO(json.dumps(corrected).encode()), "result.json"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    stored = fresh(db).get(Output, output.id)
    assert stored is not None
    assert (stored.revision, stored.status, stored.summary) == (2, "produced", "Corrected summary.")
    assert "Corrected: the comparison year." in stored.result["caveats"]
    missing = analyst.post(
        f"/outputs/{output.id}/correct", {"summary": "x"}, content_type="multipart/form-data"
    )
    assert missing.status_code == 422


def test_dashboards_list_output_tasks_with_deadlines(
    app: Flask, db: Session, people: People, agreement: Agreement
) -> None:
    waiting = produce(db, people, agreement, title="Needs a check")
    previewed = check_twice(db, people, produce(db, people, agreement, title="Being previewed"))
    from governance.outputs import preview as output_preview

    output_preview.raise_flag(
        db,
        output_id=previewed.id,
        kind="factual_error",
        part="summary",
        comment="Wrong year.",
        by=people.partner,
        now=T0,
    )
    returned = produce(db, people, agreement, title="Sent back")
    outputs.check_output(
        db, output_id=returned.id, approve=False, reasons="Round counts.", by=people.checker, now=T0
    )
    db.commit()

    checker = login(app, people.checker).get("/dashboard/output_checker").get_data(as_text=True)
    due = waiting.revised_at.date().toordinal() + CHECK_WITHIN_DAYS
    assert "Output to check" in checker
    assert waiting.title in checker
    assert __import__("datetime").date.fromordinal(due).isoformat() in checker
    partner = login(app, people.partner).get("/dashboard/partner_reviewer").get_data(as_text=True)
    assert "Preview open" in partner
    assert previewed.preview_closes_at is not None
    assert previewed.preview_closes_at.date().isoformat() in partner
    analyst = login(app, people.analyst).get("/dashboard/analyst").get_data(as_text=True)
    assert "Flags to answer" in analyst
    assert "Output returned by a checker" in analyst
    assert "Round counts." in analyst


def test_the_lifecycle_page_is_generated_from_the_table() -> None:
    committed = (REPO / "docs" / "output-lifecycle.md").read_text()
    assert committed == lifecycle_markdown(), (
        "Regenerate: python -m governance.outputs.lifecycle > docs/output-lifecycle.md"
    )


def test_the_demo_has_outputs_along_the_path(app: Flask, db: Session) -> None:
    from governance.demo import load_demo

    load_demo(db, app=app)
    db.commit()
    found = {str(o.status): o for o in db.scalars(select(Output).order_by(Output.id))}
    assert set(found) == {"published", "in_preview", "produced"}
    # The published one went through the partner's preview with an answered, accepted flag.
    assert found["published"].flags[0].is_answered
    assert all(o.run_id for o in found.values()), "every demo output comes from a real run"
    public = app.test_client().get("/published/").get_data(as_text=True)
    assert found["published"].title in public
    assert found["in_preview"].title not in public
