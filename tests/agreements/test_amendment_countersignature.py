"""An approved amendment binds no one until the provider countersigns it: the recipient's two
privacy officers alone cannot lower the provider's minimum cell size, drop its partner preview,
shorten retention, widen the scope or extend the term. Until the countersignature is recorded
the version in force governs every read, analysis, output and the expiry; an execution typed
for the recipient or by someone the terms do not name is refused and changes nothing. On both
databases, through the API (the tester's sequence), the service and the pages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.lifecycle import Action, State, state_of
from governance.agreements.models import Agreement, AgreementStatus, VersionStatus
from governance.agreements.queries import in_force_version
from governance.agreements.schedule import expire_due
from governance.analysis.scope import CLAUSE_USES, check_scope
from governance.audit.models import AuditEvent, AuditType
from governance.authz.decision import decide
from governance.datasets.models import DatasetSteward
from governance.identity import tokens
from governance.identity.actors import System
from governance.kernel.errors import (
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from governance.kernel.types import utcnow
from governance.outputs import service as outputs
from governance.webhooks.events import AGREEMENT_AMENDED, kind_of
from tests.access.test_decisions_with_database import granted, reading
from tests.access.test_requests_and_grants import ask
from tests.agreements import builders
from tests.agreements.builders import Datasets, signature
from tests.conftest import Browser, fresh
from tests.outputs.builders import disclosure_record, headline_result, report_pdf
from tests.support import PASSWORD, SETUP, People

Call = Callable[..., Any]

COUNTERSIGNATURE = {
    "name": "Chief Dana Reyes",
    "title": "Chief of Police",
    "organisation": "Test Police",
    "signed_copy_reference": "TPD-LEGAL-AMEND-2",
}


def api(app: Flask, db: Session, people: People) -> dict[str, Call]:
    """A JSON client per privacy officer, each with its own token."""
    client = app.test_client()
    secrets = {
        key: tokens.create_token(
            db, user_id=getattr(people, key).id, name=key, days=None, by=SETUP, now=utcnow()
        ).secret
        for key in ("privacy", "privacy2")
    }
    db.commit()

    def as_(key: str) -> Call:
        def call(method: str, path: str, json: Any = None) -> Any:
            return client.open(
                f"/api/v1/agreements/{path}",
                method=method,
                json=json,
                headers={"Authorization": f"Bearer {secrets[key]}"},
            )

        return call

    return {key: as_(key) for key in secrets}


def with_stewards(db: Session, people: People, datasets: Datasets) -> None:
    db.add(DatasetSteward(dataset_id=datasets.arrests.id, user_id=people.steward.id))
    db.commit()


def small_cell_result() -> dict[str, Any]:
    """A table with an unsuppressed cell of 7 people: refused under a minimum cell size of 10."""
    result = headline_result()
    result["tables"][1]["cells"][0] = {
        "id": "by_sex/female",
        "labels": {"sex": "Female"},
        "suppressed": False,
        "values": {"count": 7},
    }
    return result


def produce(db: Session, people: People, agreement: Agreement, version: int) -> Any:
    return outputs.produce_output(
        db,
        run_id=77,
        agreement_id=agreement.id,
        agreement_version=version,
        title="Arrests by sex",
        kind="descriptive",
        summary="Arrests by sex.",
        result=small_cell_result(),
        disclosure=disclosure_record(),
        pdf=report_pdf(),
        populations=[{"label": "arrested", "size": 120}],
        by=people.analyst,
        now=utcnow(),
    )


def scope_refusal(db: Session, people: People, agreement: Agreement, datasets: Datasets) -> str:
    """The clause on which the analysis gate refuses a rate comparison ('' if not refused by
    a clause of the agreement)."""
    try:
        check_scope(
            db,
            agreement_id=agreement.id,
            kind="rate_comparison",
            parameters={},
            datasets={"records": datasets.arrests.id},
            cohort_id=None,
            by=people.analyst,
            now=utcnow(),
        )
    except PermissionDenied as refusal:
        return str(refusal.clause or "")
    except ValidationFailed:
        return ""
    finally:
        db.rollback()
    return ""


def executions(db: Session, agreement: Agreement, version: int) -> list[AuditEvent]:
    return list(
        fresh(db).scalars(
            select(AuditEvent).where(
                AuditEvent.agreement_id == agreement.id,
                AuditEvent.event_type == AuditType.AGREEMENT_EXECUTE,
                AuditEvent.agreement_version == version,
            )
        )
    )


def test_the_recipients_officers_alone_cannot_change_the_terms_that_bind_the_data(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    """The tester's sequence: amend, weaken every provider protection, widen the scope and the
    term, submit and approve by the two recipient officers. Nothing of it governs until the
    provider countersigns."""
    with_stewards(db, people, datasets)
    agreement = builders.approved(db, people, datasets)
    grant_id = granted(db, people, agreement, datasets)
    assert grant_id
    old_expiry = builders.today() + dt.timedelta(days=365)
    new_expiry = old_expiry + dt.timedelta(days=30)
    as_ = api(app, db, people)
    privacy, privacy2 = as_["privacy"], as_["privacy2"]
    path = str(agreement.id)

    assert privacy("POST", f"{path}/amend", {"reason": "Widen and relax"}).status_code == 200
    for change in (
        {"min_cell_size": 1},
        {"preview_window_days": 0},
        {"destruction_days": 0},
        {"expiry_date": new_expiry.isoformat()},
        {"permitted_uses": ["descriptive", "matched_comparison", "rate_comparison"]},
        {
            "columns": [
                {
                    "dataset_id": datasets.arrests.id,
                    "columns": [
                        "person_id",
                        "sex",
                        "age_at_arrest",
                        "offence_category",
                        "district",
                    ],
                }
            ]
        },
    ):
        answer = privacy("PATCH", path, change)
        assert answer.status_code == 200, answer.get_data(as_text=True)
    assert privacy("POST", f"{path}/submit").status_code == 200
    approved = privacy2("POST", f"{path}/approve", {"comment": "ok"})
    assert approved.status_code == 200, approved.get_data(as_text=True)
    shown = approved.get_json()
    assert shown["status"] == "active"
    assert shown["state"] == State.AMENDMENT_APPROVED.value
    assert [v["status"] for v in shown["versions"]] == ["approved", "awaiting_signature"]
    assert shown["versions"][1]["execution"] is None
    assert shown["current_version"] == 1
    assert "execute" in shown["actions"]
    assert "discard-amendment" in shown["actions"] or "discard_amendment" in shown["actions"]

    # Version 1 still governs everything: its threshold, preview, retention, scope and term.
    in_force = in_force_version(fresh(db), agreement.id)
    assert in_force is not None
    assert (in_force.number, in_force.min_cell_size, in_force.preview_window_days) == (1, 10, 30)
    assert (in_force.destruction_days, in_force.expiry_date) == (30, old_expiry)
    assert "district" not in in_force.covered_columns(datasets.arrests.id)
    db.rollback()
    # Reads are decided under version 1 ...
    read = decide(db, reading(people, agreement, datasets))
    assert read.allowed
    assert read.agreement_version == 1
    db.rollback()
    # ... a column only the amendment covers cannot be asked for ...
    with pytest.raises(ValidationFailed) as refused:
        ask(db, people, agreement, datasets, columns=("district",))
    assert "columns" in refused.value.fields
    db.rollback()
    # ... nor an analysis only the amendment permits ...
    assert scope_refusal(db, people, agreement, datasets) == CLAUSE_USES
    # ... no output can be produced under version 2, and version 1's threshold holds.
    with pytest.raises(NotFound):
        produce(db, people, agreement, 2)
    db.rollback()
    with pytest.raises(ValidationFailed, match="minimum cell size"):
        produce(db, people, agreement, 1)
    db.rollback()
    # The version in force still ends on its own expiry date (the amendment is discarded).
    end = dt.datetime.combine(old_expiry + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    assert expire_due(fresh(db), System("test-scheduler"), end) == 1
    db.rollback()

    # The countersignature must be the provider's, by a signatory the terms name.
    today = builders.today().isoformat()
    for wrong, field in (
        ({"organisation": "Test Lab"}, "organisation"),  # the recipient's organisation
        ({"name": "Dr Lee Park", "title": "Director"}, "name"),  # the recipient's signatory
        ({"name": "Someone Unnamed"}, "name"),
        ({"signed_on": (builders.today() - dt.timedelta(days=1)).isoformat()}, "signed_on"),
    ):
        refused_answer = privacy(
            "POST", f"{path}/execute", {**COUNTERSIGNATURE, "signed_on": today, **wrong}
        )
        assert refused_answer.status_code == 422, wrong
        assert field in refused_answer.get_json()["fields"], refused_answer.get_json()
        assert executions(db, agreement, 2) == []
        still = fresh(db).get(Agreement, agreement.id)
        assert still is not None
        assert state_of(still) == State.AMENDMENT_APPROVED
        assert still.current_version_number == 1

    # The officer confirms the impact the agreement shows (here: no grant changes).
    shown_impact = privacy("GET", path).get_json()["countersignature_impact"]
    assert shown_impact["grants"] == []
    signed = privacy(
        "POST",
        f"{path}/execute",
        {**COUNTERSIGNATURE, "signed_on": today, "impact_digest": shown_impact["digest"]},
    )
    assert signed.status_code == 200, signed.get_data(as_text=True)
    body = signed.get_json()
    assert body["state"] == State.ACTIVE.value
    assert [v["status"] for v in body["versions"]] == ["superseded", "approved"]
    assert body["versions"][1]["execution"]["signed_copy_reference"] == "TPD-LEGAL-AMEND-2"
    assert body["current_version"] == 2

    # Now, and only now, version 2 governs.
    in_force = in_force_version(fresh(db), agreement.id)
    assert in_force is not None
    assert (in_force.number, in_force.min_cell_size, in_force.preview_window_days) == (2, 1, 0)
    assert (in_force.destruction_days, in_force.expiry_date) == (0, new_expiry)
    assert "district" in in_force.covered_columns(datasets.arrests.id)
    db.rollback()
    assert decide(db, reading(people, agreement, datasets)).agreement_version == 2
    db.rollback()
    assert scope_refusal(db, people, agreement, datasets) != CLAUSE_USES
    assert produce(db, people, agreement, 2).version.min_cell_size == 1
    db.rollback()

    (execution,) = executions(db, agreement, 2)
    assert execution.outcome == "success"
    assert execution.actor_id == people.privacy.id
    assert execution.detail["supersedes"] == 1
    assert execution.detail["organisation"] == "Test Police"
    assert {c["clause"] for c in execution.detail["changes"]} >= {
        "publication.min_cell_size",
        "publication.preview_window_days",
    }
    approval = fresh(db).scalars(
        select(AuditEvent).where(
            AuditEvent.event_type == AuditType.AGREEMENT_APPROVE, AuditEvent.agreement_version == 2
        )
    )
    assert [e.detail["amends_version"] for e in approval] == [1]


def amendment_at(db: Session, people: People, datasets: Datasets, step: str) -> Agreement:
    """An active agreement with an amendment lowering the minimum cell size, at `step`."""
    agreement = builders.approved(db, people, datasets)
    builders.amendment(db, people, datasets, agreement, step=step, min_cell_size=5)
    return agreement


@pytest.mark.parametrize("step", ["draft", "submitted"])
def test_an_amendment_not_approved_cannot_be_executed(
    app: Flask, db: Session, people: People, datasets: Datasets, step: str
) -> None:
    agreement = amendment_at(db, people, datasets, step)
    privacy = api(app, db, people)["privacy"]
    for body in (
        {**COUNTERSIGNATURE, "signed_on": builders.today().isoformat()},
        {},  # the state is named first, whatever was sent
    ):
        answer = privacy("POST", f"{agreement.id}/execute", body)
        assert answer.status_code == 409, answer.get_data(as_text=True)
        assert "execute" not in answer.get_json()["allowed"]
    assert executions(db, agreement, 2) == []
    assert in_force_version(fresh(db), agreement.id).number == 1  # type: ignore[union-attr]


def test_execute_in_a_state_that_forbids_it_answers_409_before_the_form(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    draft = builders.draft(db, people, datasets)
    active = builders.approved(db, people, datasets)
    submitted = builders.draft(db, people, datasets)
    agreements.submit(db, agreement_id=submitted.id, by=people.privacy, now=utcnow())
    db.commit()
    privacy = api(app, db, people)["privacy"]
    for agreement, allowed in (
        (draft, ["edit", "submit"]),
        (active, ["amend", "terminate"]),
        (submitted, ["return", "approve"]),
    ):
        for body in ({}, {"name": ""}):
            answer = privacy("POST", f"{agreement.id}/execute", body)
            assert answer.status_code == 409, answer.get_data(as_text=True)
            assert sorted(answer.get_json()["allowed"]) == sorted(allowed)
    # A person without the permission is still refused first (403), and it is recorded.
    analyst = tokens.create_token(
        db, user_id=people.analyst.id, name="a", days=None, by=SETUP, now=utcnow()
    ).secret
    db.commit()
    refused = app.test_client().post(
        f"/api/v1/agreements/{draft.id}/execute",
        json={},
        headers={"Authorization": f"Bearer {analyst}"},
    )
    assert refused.status_code == 403
    [denied] = executions(db, draft, 1)
    assert denied.outcome == "denied"


def test_a_declined_amendment_is_discarded_and_the_version_in_force_stays(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = amendment_at(db, people, datasets, "approved")
    agreements.discard_amendment(db, agreement_id=agreement.id, by=people.privacy, now=utcnow())
    db.commit()
    after = fresh(db).get(Agreement, agreement.id)
    assert after is not None
    assert state_of(after) == State.ACTIVE
    assert [v.status for v in after.versions] == [VersionStatus.APPROVED, VersionStatus.DISCARDED]
    assert after.current_version is not None
    assert after.current_version.min_cell_size == 10
    discard = fresh(db).scalars(
        select(AuditEvent).where(
            AuditEvent.event_type == AuditType.AGREEMENT_DISCARD_AMENDMENT,
            AuditEvent.agreement_id == agreement.id,
        )
    )
    assert [e.detail["version_status"] for e in discard] == ["awaiting_signature"]
    with pytest.raises(InvalidTransition):
        agreements.check_transition(db, Action.EXECUTE, agreement.id, people.privacy)
    db.rollback()


@pytest.mark.parametrize("ending", ["terminate", "expire"])
def test_an_agreement_that_ends_discards_its_approved_amendment(
    db: Session, people: People, datasets: Datasets, ending: str
) -> None:
    agreement = amendment_at(db, people, datasets, "approved")
    if ending == "terminate":
        agreements.terminate(
            db, agreement_id=agreement.id, reason="Withdrawn", by=people.privacy, now=utcnow()
        )
    else:
        expiry = builders.today() + dt.timedelta(days=365)
        end = dt.datetime.combine(expiry + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        assert expire_due(db, System("test-scheduler"), end) == 1
    db.commit()
    after = fresh(db).get(Agreement, agreement.id)
    assert after is not None
    assert after.status in (AgreementStatus.TERMINATED, AgreementStatus.EXPIRED)
    assert after.working_version is None
    assert [v.status for v in after.versions] == [VersionStatus.APPROVED, VersionStatus.DISCARDED]
    assert after.current_version_number == 1


def test_an_amendment_whose_expiry_passed_before_it_was_signed_cannot_come_into_force(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = builders.approved(db, people, datasets)
    now = utcnow()
    shorter = builders.today() + dt.timedelta(days=1)
    builders.amendment(db, people, datasets, agreement, now=now, expiry_date=shorter)
    later = now + dt.timedelta(days=3)
    with pytest.raises(ValidationFailed) as refused:
        agreements.execute(
            db,
            agreement_id=agreement.id,
            signature=signature(later.date()),
            by=people.privacy,
            now=later,
        )
    assert "expiry_date" in refused.value.fields
    db.rollback()
    assert executions(db, agreement, 2) == []


def test_a_past_expiry_date_is_refused_when_saved_and_when_submitted(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    yesterday = builders.today() - dt.timedelta(days=1)
    agreement = builders.approved(
        db, people, datasets, effective_date=builders.today() - dt.timedelta(days=10)
    )
    assert agreement.current_version is not None
    expiry = agreement.current_version.expiry_date
    privacy = api(app, db, people)["privacy"]
    assert privacy("POST", f"{agreement.id}/amend", {"reason": "Shorten"}).status_code == 200
    refused = privacy("PATCH", str(agreement.id), {"expiry_date": yesterday.isoformat()})
    assert refused.status_code == 422
    assert "is in the past" in refused.get_json()["fields"]["expiry_date"]
    version = fresh(db).get(Agreement, agreement.id).working_version  # type: ignore[union-attr]
    assert version is not None
    assert version.expiry_date == expiry  # the amendment's, copied from version 1, kept

    # A draft written while its expiry date was still ahead cannot be submitted once it passed.
    long_ago = utcnow() - dt.timedelta(days=30)
    old = agreements.create_agreement(
        db,
        provider_id=people.police.id,
        recipient_id=people.lab.id,
        terms=builders.terms(
            people,
            datasets,
            effective_date=long_ago.date(),
            expiry_date=yesterday,
        ),
        by=people.privacy,
        now=long_ago,
    )
    db.commit()
    answer = privacy("POST", f"{old.id}/submit")
    assert answer.status_code == 422
    assert "is in the past" in answer.get_json()["fields"]["expiry_date"]
    assert fresh(db).get(Agreement, old.id).status == AgreementStatus.DRAFT  # type: ignore[union-attr]


def test_the_page_shows_the_amendment_awaiting_the_providers_countersignature(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = amendment_at(db, people, datasets, "approved")
    browser = Browser(app.test_client())
    browser.login(people.privacy.email, PASSWORD)
    page = browser.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert "Amendment approved, awaiting the provider's countersignature" in page
    assert "Record the provider's countersignature of version 2" in page
    assert "Version 1 stays in force" in page
    answer = browser.post(
        f"/agreements/{agreement.id}/execute",
        {**COUNTERSIGNATURE, "organisation": "Test Lab", "signed_on": builders.today()},
    )
    assert answer.status_code == 422
    assert "The data provider is Test Police" in answer.get_data(as_text=True)
    assert in_force_version(fresh(db), agreement.id).number == 1  # type: ignore[union-attr]
    shown = agreements.impact_to_countersign(db, agreement)
    assert shown is not None
    answer = browser.post(
        f"/agreements/{agreement.id}/execute",
        {
            **COUNTERSIGNATURE,
            "signed_on": builders.today().isoformat(),
            "impact_digest": shown.digest,
        },
    )
    assert answer.status_code == 302
    assert in_force_version(fresh(db), agreement.id).number == 2  # type: ignore[union-attr]


def test_webhooks_report_the_amendment_when_it_takes_effect() -> None:
    moment = utcnow()

    def event(event_type: AuditType, version: int) -> dict[str, Any]:
        return {"event_type": event_type, "agreement_version": version, "occurred_at": moment}

    assert kind_of(event(AuditType.AGREEMENT_APPROVE, 2)) is None
    assert kind_of(event(AuditType.AGREEMENT_EXECUTE, 2)) is AGREEMENT_AMENDED
    assert kind_of(event(AuditType.AGREEMENT_EXECUTE, 1)) is None
    assert kind_of(event(AuditType.AGREEMENT_APPROVE, 1)) is not None
