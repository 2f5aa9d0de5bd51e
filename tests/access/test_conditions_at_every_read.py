"""Every condition a grant depends on holds at each read, not only at request and approval.

An attacker's view: the analyst was granted columns while their CJIS training was current; the
training lapses overnight. The morning's page view, API read and new analysis must be refused
with the clause that failed (`personnel.training`) and recorded, even before any periodic job
runs; the job then pauses the grant and tells the analyst and the steward; recording renewed
training lets the same grant work again.
"""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from governance.access import conditions as grant_conditions
from governance.access import data_door as data_access
from governance.access.models import Grant, GrantStatus, PolicyEpoch
from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent, AuditType
from governance.authz.actions import DataAction
from governance.authz.decision import DataRequest, decide
from governance.authz.grant_index import GrantIndex
from governance.datasets.ingestion import ingest_frame
from governance.identity import tokens, users
from governance.identity.actors import Actor
from governance.identity.models import TrainingCourse, TrainingRecord
from governance.kernel import notify
from governance.kernel.db import Database
from governance.kernel.errors import PermissionDenied
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from governance.periodic import SCHEDULER
from tests.access.test_data_door import ROWS, view_url
from tests.access.test_requests_and_grants import ask_and_grant
from tests.agreements.builders import Datasets, countersign
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, SETUP, People

CJIS = TrainingCourse.CJIS_SECURITY_AWARENESS


def today() -> dt.date:
    return utcnow().date()


def morning_after(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(8, 0), tzinfo=dt.UTC)


def cjis_until(db: Session, people: People, expires_on: dt.date) -> None:
    """The analyst's CJIS training: completed last year, current until `expires_on`."""
    db.execute(
        delete(TrainingRecord).where(
            TrainingRecord.user_id == people.analyst.id, TrainingRecord.course == CJIS
        )
    )
    users.record_training(
        db,
        user_id=people.analyst.id,
        course=CJIS.value,
        completed_on=expires_on - dt.timedelta(days=365),
        expires_on=expires_on,
        by=SETUP,
    )
    db.commit()
    db.expire_all()


def renew_cjis(
    db: Session, people: People, *, by: Actor, now: dt.datetime, completed_on: dt.date | None = None
) -> None:
    """The analyst's CJIS training, completed on `completed_on` (`now`'s day unless given) and
    current for a year, recorded by `by` at `now`; the caller commits."""
    day = completed_on or now.date()
    users.record_training(
        db,
        user_id=people.analyst.id,
        course=CJIS.value,
        completed_on=day,
        expires_on=day + dt.timedelta(days=365),
        by=by,
        now=now,
    )


@pytest.fixture
def lapsing(db: Session, people: People, agreement: Agreement, datasets: Datasets) -> int:
    """Stored arrests; the analyst's CJIS training lapses tonight; a grant of sex and
    age_at_arrest made today (while the training is current) for 60 days."""
    ingest_frame(
        db, dataset_id=datasets.arrests.id, frame=ROWS, source_filename="arrests.csv", by=SETUP
    )
    db.commit()
    cjis_until(db, people, today() + dt.timedelta(days=1))
    request = ask_and_grant(db, people, agreement, datasets, columns=("sex", "age_at_arrest"))
    assert request.grant_id is not None
    return request.grant_id


def reading(
    people: People, agreement: Agreement, datasets: Datasets, now: dt.datetime
) -> DataRequest:
    return DataRequest(
        user_id=people.analyst.id,
        agreement_id=agreement.id,
        dataset_id=datasets.arrests.id,
        columns=("sex",),
        action=DataAction.READ,
        purpose="descriptive",
        now=now,
    )


def last_read(db: Session) -> AuditEvent:
    event = (
        fresh(db)
        .scalars(
            select(AuditEvent)
            .where(AuditEvent.event_type == AuditType.DATASET_READ)
            .order_by(AuditEvent.seq.desc())
        )
        .first()
    )
    assert event is not None
    return event


def test_the_grant_records_the_earliest_end_and_the_clause_that_ends_it(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, lapsing: int
) -> None:
    grant = fresh(db).get(Grant, lapsing)
    assert grant is not None
    midnight = dt.datetime.combine(today() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    assert grant.valid_until > midnight  # the grant's own end is 60 days away
    assert grant.effective_until == midnight  # but the training ends it tonight
    assert grant.effective_clause == "personnel.training"
    assert "CJIS" in grant.effective_reason


def test_a_training_that_lapses_overnight_refuses_the_mornings_reads_before_any_job(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    lapsing: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from governance.access import api_rows as api_datasets
    from governance.access import web_data as data_pages

    browser = Browser(app.test_client())
    browser.login(people.analyst.email, PASSWORD)
    assert browser.get(view_url(agreement, datasets)).status_code == 200
    token = tokens.create_token(
        fresh(db), user_id=people.analyst.id, name="t", days=None, by=SETUP, now=utcnow()
    ).secret
    db.commit()
    rows = (
        f"/api/v1/datasets/{datasets.arrests.id}/rows?agreement={agreement.id}&purpose=descriptive"
    )
    headers = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get(rows, headers=headers).status_code == 200

    morning = morning_after(today() + dt.timedelta(days=1))
    for module in (data_pages, api_datasets):
        monkeypatch.setattr(module, "utcnow", lambda: morning)
    page = browser.get(view_url(agreement, datasets))
    assert page.status_code == 403
    html = page.get_data(as_text=True)
    assert "CJIS Security Awareness Training" in html
    assert "record" in html  # it says what to do
    assert "P0001" not in html
    assert "<td>F</td>" not in html
    denied = last_read(db)
    assert denied.outcome == "denied"
    assert denied.clause == "personnel.training"

    api = app.test_client().get(f"{rows}&columns=sex", headers=headers)
    assert api.status_code == 403
    assert "CJIS Security Awareness Training" in api.get_json()["message"]
    assert "items" not in api.get_json()
    assert last_read(db).clause == "personnel.training"
    # No job ran: the grant row still says active; its line carried the training's end.
    grant = fresh(db).get(Grant, lapsing)
    assert grant is not None
    assert grant.status == GrantStatus.ACTIVE


def test_an_active_grant_whose_training_lapsed_says_it_is_not_usable_now(
    app: Flask,
    db: Session,
    people: People,
    lapsing: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before the job pauses it the grant is still stored `active`; the API and the page say
    it lets nothing be read now, and why, as the reads already refuse."""
    from governance.access import api_grants
    from governance.access import web as access_pages

    token = tokens.create_token(
        fresh(db), user_id=people.analyst.id, name="t", days=None, by=SETUP, now=utcnow()
    ).secret
    db.commit()
    headers = {"Authorization": f"Bearer {token}"}
    evening = app.test_client().get(f"/api/v1/grants/{lapsing}", headers=headers).get_json()
    assert (evening["usable"], evening["stopped_because"]) == (True, None)
    morning = morning_after(today() + dt.timedelta(days=1))
    for module in (api_grants, access_pages):
        monkeypatch.setattr(module, "utcnow", lambda: morning)
    answer = app.test_client().get(f"/api/v1/grants/{lapsing}", headers=headers).get_json()
    assert answer["status"] == "active"
    assert answer["usable"] is False
    assert "CJIS Security Awareness Training" in answer["stopped_because"]
    browser = Browser(app.test_client())
    browser.login(people.analyst.email, PASSWORD)
    html = browser.get(f"/access/grants/{lapsing}").get_data(as_text=True)
    assert "Not usable now" in html
    assert "CJIS Security Awareness Training" in html
    assert "View the granted columns" not in html
    assert fresh(db).get(Grant, lapsing).status == GrantStatus.ACTIVE  # type: ignore[union-attr]


def test_a_service_read_on_simulated_time_is_refused_and_says_what_to_do(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, lapsing: int
) -> None:
    morning = morning_after(today() + dt.timedelta(days=1))
    with pytest.raises(PermissionDenied) as refused:
        data_access.read_rows(
            db,
            by=people.analyst,
            agreement_id=agreement.id,
            dataset_id=datasets.arrests.id,
            columns=["sex"],
            purpose="descriptive",
            now=morning,
        )
    assert refused.value.clause == "personnel.training"
    assert "expired" in refused.value.message
    assert "renew" in refused.value.message.lower()
    assert refused.value.audit is not None
    assert refused.value.audit["clause"] == "personnel.training"
    # The evening before, the same read is allowed.
    evening = morning - dt.timedelta(hours=9)
    db.rollback()
    page = data_access.read_rows(
        db,
        by=people.analyst,
        agreement_id=agreement.id,
        dataset_id=datasets.arrests.id,
        columns=["sex"],
        purpose="descriptive",
        now=evening,
    )
    assert page.total == 30


def another_process(app: Flask) -> Database:
    original = database(app)
    return Database(original.url, info={**original.info, "grant_index": GrantIndex()})


def test_the_periodic_job_pauses_the_grant_tells_people_and_renewal_resumes_it(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets, lapsing: int
) -> None:
    other = another_process(app)
    morning = morning_after(today() + dt.timedelta(days=1))
    paused = grant_conditions.pause_lapsed_grants(fresh(db), SCHEDULER, morning)
    assert paused == 1
    told = sorted(m.to for m in notify.pending(db))
    assert told == sorted([people.analyst.email, people.steward.email])
    assert all("CJIS" in m.body or "training" in m.body for m in notify.pending(db))
    db.commit()
    grant = fresh(db).get(Grant, lapsing)
    assert grant is not None
    assert grant.status == GrantStatus.PAUSED
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.GRANT_PAUSE)
    ).one()
    assert event.clause == "personnel.training"
    assert event.target_id == str(lapsing)
    assert grant_conditions.pause_lapsed_grants(fresh(db), SCHEDULER, morning) == 0
    db.rollback()
    with other.session() as session:
        assert not decide(session, reading(people, agreement, datasets, morning)).allowed
        session.rollback()

    # Renewed training, recorded in the morning: the same grant works again at once, in
    # every process, because the recomputed end and the epoch change in one transaction.
    epoch = fresh(db).get(PolicyEpoch, 1)
    assert epoch is not None
    before = epoch.epoch
    renew_cjis(db, people, by=people.admin, now=morning)
    db.commit()
    grant = fresh(db).get(Grant, lapsing)
    assert grant is not None
    assert grant.status == GrantStatus.ACTIVE
    assert grant.effective_clause == "access.valid_until"
    assert grant.effective_until == grant.valid_until
    assert fresh(db).get(PolicyEpoch, 1).epoch > before  # type: ignore[union-attr]
    assert db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.GRANT_RESUME)
    ).one().target_id == str(lapsing)
    with other.session() as session:
        assert decide(session, reading(people, agreement, datasets, morning)).allowed
        session.rollback()
    other.dispose()


def test_expire_now_pauses_grants_whose_training_lapsed(
    app: Flask,
    db: Session,
    people: People,
    agreement: Agreement,
    datasets: Datasets,
    lapsing: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    from governance.cli import main

    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", app.config["DATABASE_URL"])
    tonight = dt.datetime.combine(today(), dt.time(23, 59), tzinfo=dt.UTC)
    result = CliRunner().invoke(main, ["expire", "--apply", "--now", tonight.isoformat()])
    assert result.exit_code == 0, result.output
    assert "grants.conditions: 0 changed" in result.output
    morning = morning_after(today() + dt.timedelta(days=1))
    result = CliRunner().invoke(main, ["expire", "--apply", "--now", morning.isoformat()])
    assert result.exit_code == 0, result.output
    assert "grants.conditions: 1 changed" in result.output
    grant = fresh(db).get(Grant, lapsing)
    assert grant is not None
    assert grant.status == GrantStatus.PAUSED


def test_a_paused_grant_still_ends_with_its_agreement_and_can_be_revoked(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, lapsing: int
) -> None:
    from governance.access import grants

    morning = morning_after(today() + dt.timedelta(days=1))
    grant_conditions.pause_lapsed_grants(fresh(db), SCHEDULER, morning)
    db.commit()
    grants.revoke_grant(
        db, grant_id=lapsing, reason="Left the project.", by=people.steward, now=morning
    )
    db.commit()
    grant = fresh(db).get(Grant, lapsing)
    assert grant is not None
    assert grant.status == GrantStatus.REVOKED
    # Renewed training does not bring back a revoked grant.
    renew_cjis(db, people, by=people.admin, now=morning)
    db.commit()
    assert fresh(db).get(Grant, lapsing).status == GrantStatus.REVOKED  # type: ignore[union-attr]
    assert not decide(db, reading(people, agreement, datasets, morning)).allowed


# --- the training condition against the definition of "current" ----------------------------

days = st.integers(min_value=0, max_value=60)


@settings(max_examples=400, deadline=None)
@given(
    periods=st.lists(st.tuples(days, st.integers(min_value=1, max_value=30)), max_size=6),
    start=days,
)
def test_the_training_end_is_the_first_day_the_person_is_not_current(
    periods: list[tuple[int, int]], start: int
) -> None:
    """`covered_until` against `User.current_courses`' own rule, day by day: every day from
    today to the computed end is covered, the end itself is not; and no end means today is
    not covered. Back-to-back and overlapping renewals count as one stretch."""
    base = dt.date(2026, 1, 1)
    spans = [
        (base + dt.timedelta(days=a), base + dt.timedelta(days=a + length)) for a, length in periods
    ]
    day = base + dt.timedelta(days=start)

    def covered(d: dt.date) -> bool:
        return any(begin <= d < end for begin, end in spans)

    end = grant_conditions.covered_until(spans, day)
    if end is None:
        assert not covered(day)
        return
    assert end > day
    assert not covered(end)
    assert all(covered(day + dt.timedelta(days=n)) for n in range((end - day).days))


def test_an_amendment_requiring_training_the_holder_lacks_stops_the_grant_at_once(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, lapsing: int
) -> None:
    """The amended terms add HIPAA, whose course the analyst never took: their next read is
    refused with the training clause, though their CJIS training is still current today."""
    from governance.agreements import service as agreements
    from tests.agreements.builders import terms

    now = utcnow()
    assert decide(db, reading(people, agreement, datasets, now)).allowed
    db.rollback()
    agreements.start_amendment(
        db, agreement_id=agreement.id, reason="Health data added.", by=people.privacy, now=now
    )
    agreements.update_draft(
        db,
        agreement_id=agreement.id,
        by=people.privacy,
        now=now,
        terms=terms(people, datasets, laws=["cjis", "hipaa"], legal_bases={"hipaa": "IRB waiver"}),
    )
    agreements.submit(db, agreement_id=agreement.id, by=people.privacy, now=now)
    agreements.approve(db, agreement_id=agreement.id, by=people.privacy2, now=now)
    countersign(db, people, agreement, now=now)
    db.commit()
    refused = decide(db, reading(people, agreement, datasets, now + dt.timedelta(seconds=1)))
    assert not refused.allowed
    assert refused.clause == "personnel.training"
    assert "HIPAA" in refused.reason
    db.rollback()
    # The job pauses it once; later runs leave it (and every process's index) alone.
    assert (
        grant_conditions.pause_lapsed_grants(fresh(db), SCHEDULER, now + dt.timedelta(minutes=1))
        == 1
    )
    db.commit()
    epoch = fresh(db).get(PolicyEpoch, 1).epoch  # type: ignore[union-attr]
    assert (
        grant_conditions.pause_lapsed_grants(fresh(db), SCHEDULER, now + dt.timedelta(minutes=2))
        == 0
    )
    db.commit()
    assert fresh(db).get(PolicyEpoch, 1).epoch == epoch  # type: ignore[union-attr]


def test_a_training_dated_to_start_later_resumes_the_grant_when_it_starts(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, lapsing: int
) -> None:
    morning = morning_after(today() + dt.timedelta(days=1))
    grant_conditions.pause_lapsed_grants(fresh(db), SCHEDULER, morning)
    db.commit()
    starts = morning.date() + dt.timedelta(days=3)
    renew_cjis(db, people, by=people.admin, now=morning, completed_on=starts)
    db.commit()
    assert fresh(db).get(Grant, lapsing).status == GrantStatus.PAUSED  # type: ignore[union-attr]
    assert not decide(db, reading(people, agreement, datasets, morning)).allowed
    db.rollback()
    later = morning_after(starts)
    assert grant_conditions.pause_lapsed_grants(fresh(db), SCHEDULER, later) == 1
    db.commit()
    assert fresh(db).get(Grant, lapsing).status == GrantStatus.ACTIVE  # type: ignore[union-attr]
    assert decide(db, reading(people, agreement, datasets, later)).allowed
