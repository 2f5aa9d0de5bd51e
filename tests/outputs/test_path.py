"""The whole path of an output, with simulated time: produced -> checked by two independent
checkers -> partner preview -> a factual-error flag -> answered -> accepted -> cleared ->
released -> published -> on the public page with matching SHA-256; every step in the audit
trail, in order."""

from __future__ import annotations

import hashlib

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.outputs import files as output_files
from governance.outputs import preview as output_preview
from governance.outputs import service as outputs
from governance.outputs.lifecycle import State, state_of
from governance.outputs.models import Output, OutputStatus
from tests.conftest import fresh
from tests.outputs.builders import DAY, SOON, T0, check_twice, event_types, produce
from tests.support import People


def test_the_whole_path_to_the_public_page(
    db: Session, client: FlaskClient, people: People, agreement: Agreement
) -> None:
    output = produce(db, people, agreement)
    assert output.status == OutputStatus.PRODUCED
    assert output.pdf_sha256 == hashlib.sha256(output.pdf).hexdigest()
    assert output.csv_sha256 == hashlib.sha256(output.csv).hexdigest()

    outputs.check_output(
        db, output_id=output.id, approve=True, reasons="", by=people.checker, now=T0 + SOON
    )
    db.commit()
    assert state_of(output) == State.SECOND_CHECK  # two checkers required
    assert output.preview_closes_at is None
    outputs.check_output(
        db,
        output_id=output.id,
        approve=True,
        reasons="All cells >= 10.",
        by=people.privacy,
        now=T0 + 2 * SOON,
    )
    db.commit()
    assert output.status == OutputStatus.IN_PREVIEW
    assert output.preview_closes_at == T0 + 2 * SOON + 30 * DAY

    flag = output_preview.raise_flag(
        db,
        output_id=output.id,
        kind="factual_error",
        part="headline/comparison",
        comment="The comparison group is people released in 2023, not 2024.",
        by=people.partner,
        now=T0 + 3 * DAY,
    )
    db.commit()
    output_preview.answer_flag(
        db,
        output_id=output.id,
        flag_id=flag.id,
        answer="explained",
        text="Both groups were released in 2024; the 2023 figure is the index offence year.",
        by=people.analyst,
        now=T0 + 4 * DAY,
    )
    db.commit()
    assert output.status == OutputStatus.IN_PREVIEW
    output_preview.accept_answer(
        db, output_id=output.id, flag_id=flag.id, by=people.partner, now=T0 + 5 * DAY
    )
    db.commit()
    # Every flag answered and accepted: cleared at once, and released to the team.
    assert output.status == OutputStatus.RELEASED
    assert output.cleared_at == output.released_at == T0 + 5 * DAY

    team_copy = output_files.download(
        db, output_id=output.id, kind="pdf", by=people.analyst2, now=T0 + 6 * DAY
    )
    db.commit()
    assert team_copy.content == output.pdf

    outputs.publish_output(db, output_id=output.id, by=people.privacy, now=T0 + 7 * DAY)
    db.commit()
    assert output.status == OutputStatus.PUBLISHED

    # The public gets the files made from the released figures at publication, not the
    # team's report (tests/analysis/test_public_output.py checks what they leave out).
    public_pdf, public_csv = output.public_pdf_sha256, output.public_csv_sha256
    assert public_pdf is not None
    assert public_csv is not None
    assert public_pdf != output.pdf_sha256
    listing = client.get("/published/").get_data(as_text=True)
    assert output.title in listing
    assert public_pdf in listing
    assert output.pdf_sha256 not in listing
    page = client.get(f"/published/{output.id}").get_data(as_text=True)
    assert public_csv in page
    name = output.reference.lower()
    for suffix, digest in (("pdf", public_pdf), ("csv", public_csv)):
        served = client.get(f"/published/{output.id}/{name}.{suffix}")
        assert served.status_code == 200
        assert hashlib.sha256(served.data).hexdigest() == digest
        assert served.headers["X-Content-SHA256"] == digest
    sums = client.get(f"/published/{output.id}/SHA256SUMS").get_data(as_text=True)
    assert f"{public_pdf}  {name}.pdf" in sums
    assert client.get(f"/published/{output.id}/sha256.json").get_json()["files"] == {
        f"{name}.pdf": public_pdf,
        f"{name}.csv": public_csv,
    }

    assert event_types(fresh(db), output.id) == [
        "output:produce",
        "output:check_approve",
        "output:check_approve",
        "output:preview_open",
        "output:flag",
        "output:flag_answer",
        "output:flag_accept",
        "output:clear",
        "output:release",
        "output:download",
        "output:publish",
    ]


def test_audit_events_name_the_agreement_version_and_the_actor(
    db: Session, people: People, agreement: Agreement
) -> None:
    output = check_twice(db, people, produce(db, people, agreement))
    from sqlalchemy import select

    from governance.audit.models import AuditEvent

    events = list(
        fresh(db).scalars(
            select(AuditEvent).where(AuditEvent.target_type == "output").order_by(AuditEvent.seq)
        )
    )
    assert [e.actor_email for e in events] == [
        people.analyst.email,
        people.checker.email,
        people.privacy.email,
        people.privacy.email,
    ]
    assert {e.agreement_id for e in events} == {agreement.id}
    assert {e.agreement_version for e in events} == {1}
    produced = events[0].detail
    assert produced["pdf_sha256"] == output.pdf_sha256
    assert produced["csv_sha256"] == output.csv_sha256
    assert events[-1].detail["closes_at"] == (T0 + SOON + 30 * DAY).isoformat()


def test_one_checker_suffices_when_the_agreement_requires_one(
    db: Session, people: People, datasets: object
) -> None:
    from tests.outputs.builders import active_agreement

    single = active_agreement(
        db,
        people,
        datasets,  # type: ignore[arg-type]
        two_checkers_required=False,
        preview_window_days=14,
    )
    output = produce(db, people, single)
    outputs.check_output(
        db, output_id=output.id, approve=True, reasons="", by=people.checker, now=T0
    )
    db.commit()
    assert output.status == OutputStatus.IN_PREVIEW
    assert output.preview_closes_at == T0 + 14 * DAY


def test_an_output_is_stored_with_its_run_and_agreement(
    db: Session, people: People, agreement: Agreement
) -> None:
    output = produce(db, people, agreement, run_id=987)
    stored = fresh(db).get(Output, output.id)
    assert stored is not None
    assert (stored.run_id, stored.agreement_id, stored.agreement_version) == (987, agreement.id, 1)
    assert stored.produced_by_id == people.analyst.id
    assert {
        "summary",
        "report",
        "headline",
        "headline/treatment",
        "by_sex/female",
        "figure.rates",
        "statistic.p_value",
        "notes",
        "caveats",
    } <= {p["id"] for p in stored.parts}
