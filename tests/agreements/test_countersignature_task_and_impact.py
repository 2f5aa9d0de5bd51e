"""An approved amendment waits on the privacy officers until the provider's countersignature is
recorded: their dashboard and the reminders say so, and the task goes once it is recorded or
the amendment discarded. What the amendment does when it takes effect can change between the
approval and the countersignature (a grant made, a person accepting): the officer recording it
is shown the impact as it is then and confirms it by its digest; a changed impact is refused
(409) with the new one, and the execution's event records the digest approved beside the one
applied. On both databases, through the service, the pages and the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import periodic
from governance.access.models import Grant, GrantStatus
from governance.agreements import service as agreements
from governance.agreements.impact import ImpactChanged
from governance.agreements.models import Agreement
from governance.agreements.queries import in_force_version
from governance.audit.models import AuditEvent, AuditType
from governance.authz.roles import Role
from governance.committees import impact
from governance.datasets.models import DatasetSteward
from governance.kernel.extensions import database
from governance.kernel.mail_model import OutboxMessage
from governance.kernel.tasks import Task, tasks_for
from governance.kernel.types import utcnow
from governance.reminders import ledger
from governance.reminders.models import TaskNotice
from tests.access.test_requests_and_grants import ask
from tests.agreements import builders
from tests.agreements.builders import Datasets, signature
from tests.agreements.test_amendment_countersignature import COUNTERSIGNATURE, api, executions
from tests.committees.test_amendment_impact import granted
from tests.conftest import Browser, fresh
from tests.support import PASSWORD, People

KIND = "Countersignature to record"


def countersignature_tasks(db: Session, user: Any, role: Role) -> list[Task]:
    found = [t for t in tasks_for(fresh(db), user=user, role=role) if t.kind == KIND]
    db.rollback()
    return found


def remind(app: Flask, now: dt.datetime) -> None:
    """The reminder job, in its own transaction, as the worker runs it."""
    periodic.run_job(database(app).sessions, ledger.remind_tasks, now=now)


def with_steward(db: Session, people: People, datasets: Datasets) -> None:
    db.add(DatasetSteward(dataset_id=datasets.arrests.id, user_id=people.steward.id))
    db.commit()


def executed(db: Session, agreement: Agreement) -> list[AuditEvent]:
    return [e for e in executions(db, agreement, 2) if e.outcome == "success"]


def refused_for_impact(db: Session, agreement: Agreement) -> list[AuditEvent]:
    """Countersignatures refused because the impact shown was not the impact (recorded)."""
    return [e for e in executions(db, agreement, 2) if e.rule == "impact-changed"]


def narrowing(db: Session, people: People, datasets: Datasets) -> tuple[Agreement, Grant]:
    """An active agreement, the analyst's grant of sex and age_at_arrest, and an approved
    amendment that no longer covers age_at_arrest (approved from its impact page)."""
    with_steward(db, people, datasets)
    agreement = builders.approved(db, people, datasets)
    grant = granted(db, people, ask(db, people, agreement, datasets))
    builders.amendment(
        db,
        people,
        datasets,
        agreement,
        step="submitted",
        columns={datasets.arrests.id: ["person_id", "sex"]},
    )
    shown = impact.amendment_impact(db, agreement_id=agreement.id, by=people.privacy2)
    impact.approve_amendment(
        db,
        agreement_id=agreement.id,
        digest=shown.digest,
        comment="Narrowed.",
        by=people.privacy2,
        now=utcnow(),
    )
    db.commit()
    return agreement, grant


def test_the_privacy_officers_are_told_until_the_countersignature_is_recorded(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.approved(db, people, datasets)
    builders.amendment(db, people, datasets, agreement, min_cell_size=5)
    for officer in (people.privacy, people.privacy2):
        (task,) = countersignature_tasks(db, officer, Role.PRIVACY_OFFICER)
        assert task.title.startswith(
            f"Record Test Police's countersignature of {agreement.reference}"
        )
        assert "amendment, version 2" in task.title
        assert (task.endpoint, task.params, task.anchor) == (
            "agreements.detail",
            {"agreement_id": agreement.id},
            "execute-form",
        )
    # Nobody else records it.
    assert countersignature_tasks(db, people.analyst, Role.ANALYST) == []
    assert countersignature_tasks(db, people.steward, Role.DATA_STEWARD) == []

    # The dashboard links to the countersignature form.
    officer = Browser(app.test_client())
    officer.login(people.privacy.email, PASSWORD)
    page = officer.get("/dashboard/privacy_officer").get_data(as_text=True)
    assert f'href="/agreements/{agreement.id}#execute-form"' in page
    assert "Record Test Police&#39;s countersignature" in page

    # The reminders tell each officer, linking to the same form.
    now = utcnow()
    remind(app, now)
    told = fresh(db).scalars(
        select(OutboxMessage).where(
            OutboxMessage.kind == "task_arrived",
            OutboxMessage.link.endswith(f"/agreements/{agreement.id}#execute-form"),
        )
    )
    assert {m.recipient for m in told} == {people.privacy.email, people.privacy2.email}

    builders.countersign(db, people, agreement)
    db.commit()
    assert countersignature_tasks(db, people.privacy, Role.PRIVACY_OFFICER) == []
    remind(app, now + dt.timedelta(hours=1))
    notices = fresh(db).scalars(select(TaskNotice).where(TaskNotice.kind == KIND)).all()
    assert len(notices) == 2
    assert all(n.closed_at is not None for n in notices)


def test_a_discarded_amendment_is_no_longer_a_task(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.approved(db, people, datasets)
    builders.amendment(db, people, datasets, agreement, min_cell_size=5)
    assert len(countersignature_tasks(db, people.privacy, Role.PRIVACY_OFFICER)) == 1
    agreements.discard_amendment(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    db.commit()
    assert countersignature_tasks(db, people.privacy, Role.PRIVACY_OFFICER) == []


def test_a_first_version_approved_waits_as_a_task_too(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.approved(db, people, datasets, countersigned=False)
    (task,) = countersignature_tasks(db, people.privacy, Role.PRIVACY_OFFICER)
    assert task.title.endswith("(version 1)")
    builders.countersign(db, people, agreement)
    db.commit()
    assert countersignature_tasks(db, people.privacy, Role.PRIVACY_OFFICER) == []


def test_an_impact_that_changed_since_the_approval_is_shown_and_confirmed_before_it_applies(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement, mine = narrowing(db, people, datasets)
    approved_digest = impact.impact_of(db, agreement, agreement.working_version).digest  # type: ignore[arg-type]
    db.rollback()
    officer = Browser(app.test_client())
    officer.login(people.privacy.email, PASSWORD)
    url = f"/agreements/{agreement.id}"
    page = officer.get(url).get_data(as_text=True)
    assert 'id="countersignature-impact"' in page
    assert "It is the impact approved on" in page
    assert people.analyst.email in page
    shown = builders.shown_impact_digest(page)
    assert shown == approved_digest

    # After the page was shown, a second grant is made: the amendment would narrow it too.
    theirs = granted(fresh(db), people, ask(db, people, agreement, datasets, by=people.analyst2))
    typed = {**COUNTERSIGNATURE, "signed_on": builders.today().isoformat()}
    refused = officer.post(f"{url}/execute", {**typed, "impact_digest": shown})
    assert refused.status_code == 409
    again = refused.get_data(as_text=True)
    assert 'id="impact-changed"' in again
    assert 'id="impact-differs"' in again  # no longer the impact approved
    assert people.analyst2.email in again  # the new grant's holder, in the new impact
    assert 'value="TPD-LEGAL-AMEND-2"' in again  # what was typed is kept
    assert executed(db, agreement) == []
    (refusal,) = refused_for_impact(db, agreement)
    assert (refusal.outcome, refusal.actor_id) == ("failure", people.privacy.id)
    assert refusal.detail["impact_digest_shown"] == shown
    assert in_force_version(fresh(db), agreement.id).number == 1  # type: ignore[union-attr]
    assert set(fresh(db).get(Grant, theirs.id).column_names) == {"sex", "age_at_arrest"}  # type: ignore[union-attr]

    # Confirming the impact now shown records the countersignature and applies exactly it.
    new_digest = builders.shown_impact_digest(again)
    assert new_digest != shown
    assert officer.post(f"{url}/execute", {**typed, "impact_digest": new_digest}).status_code == 302
    assert in_force_version(fresh(db), agreement.id).number == 2  # type: ignore[union-attr]
    for grant in (mine, theirs):
        assert fresh(db).get(Grant, grant.id).column_names == ["sex"]  # type: ignore[union-attr]

    (event,) = executed(db, agreement)
    assert event.detail["impact_digest_approved"] == approved_digest
    assert event.detail["impact_digest_applied"] == new_digest
    assert event.detail["impact_changed_since_approval"] is True
    assert {g["grant_id"] for g in event.detail["impact"]["grants"]} == {mine.id, theirs.id}


def test_the_api_previews_the_impact_and_refuses_one_not_confirmed(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement, mine = narrowing(db, people, datasets)
    privacy = api(app, db, people)["privacy"]

    def call(method: str, path: str, json: Any = None) -> Any:
        return privacy(method, f"{agreement.id}{path}", json)

    preview = call("GET", "").get_json()["countersignature_impact"]
    assert [g["grant_id"] for g in preview["grants"]] == [mine.id]
    assert preview["grants"][0]["removed_columns"] == ["age_at_arrest"]
    typed = {**COUNTERSIGNATURE, "signed_on": builders.today().isoformat()}

    # Nothing confirmed, or an impact that is no longer the impact: 409 with the impact now.
    unconfirmed = call("POST", "/execute", typed)
    assert unconfirmed.status_code == 409
    assert unconfirmed.get_json()["current"]["impact"]["digest"] == preview["digest"]
    theirs = granted(db, people, ask(db, people, agreement, datasets, by=people.analyst2))
    stale = call("POST", "/execute", {**typed, "impact_digest": preview["digest"]})
    assert stale.status_code == 409, stale.get_data(as_text=True)
    assert "impact changed" in stale.get_json()["message"]
    now_impact = stale.get_json()["current"]["impact"]
    assert {g["grant_id"] for g in now_impact["grants"]} == {mine.id, theirs.id}
    assert executed(db, agreement) == []
    assert len(refused_for_impact(db, agreement)) == 2  # unconfirmed, then stale

    applied = call("POST", "/execute", {**typed, "impact_digest": now_impact["digest"]})
    assert applied.status_code == 200, applied.get_data(as_text=True)
    body = applied.get_json()
    assert body["current_version"] == 2
    assert body["countersignature_impact"] is None
    assert body["impact_applied"]["impact_digest_applied"] == now_impact["digest"]
    assert body["impact_applied"]["impact_digest_approved"] == preview["digest"]
    assert body["impact_applied"]["impact_changed_since_approval"] is True
    (event,) = executed(db, agreement)
    assert event.detail["impact_digest_applied"] == now_impact["digest"]
    assert fresh(db).get(Grant, theirs.id).column_names == ["sex"]  # type: ignore[union-attr]


def test_an_unchanged_impact_is_recorded_as_the_one_approved(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement, mine = narrowing(db, people, datasets)
    builders.countersign(db, people, agreement)
    db.commit()
    (event,) = executed(db, agreement)
    assert event.detail["impact_digest_applied"] == event.detail["impact_digest_approved"]
    assert event.detail["impact_changed_since_approval"] is False
    approval = (
        fresh(db)
        .scalars(
            select(AuditEvent).where(
                AuditEvent.event_type == AuditType.AGREEMENT_APPROVE,
                AuditEvent.agreement_id == agreement.id,
                AuditEvent.agreement_version == 2,
            )
        )
        .one()
    )
    assert approval.detail["impact_digest"] == event.detail["impact_digest_approved"]
    assert fresh(db).get(Grant, mine.id).status == GrantStatus.ACTIVE  # type: ignore[union-attr]


def test_the_service_refuses_an_amendments_countersignature_without_the_impact(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement, _mine = narrowing(db, people, datasets)
    with pytest.raises(ImpactChanged) as refused:
        agreements.execute(
            db,
            agreement_id=agreement.id,
            signature=signature(builders.today()),
            by=people.privacy,
            now=utcnow(),
        )
    assert refused.value.current is not None
    assert refused.value.current["impact"]["grants"]
    db.rollback()
    assert executed(db, agreement) == []
