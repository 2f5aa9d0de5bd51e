"""Before an amendment is approved its impact is shown; approving agrees to exactly that, which
applies once the provider countersigns the amendment."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import requests
from governance.access.models import AccessRequest, Grant, GrantStatus
from governance.agreements.models import Agreement
from governance.agreements.queries import in_force_version
from governance.analysis.models import AnalysisRun
from governance.audit.models import AuditEvent, AuditType, Outcome
from governance.committees import impact
from governance.committees.models import Committee
from governance.kernel.errors import InvalidTransition, PermissionDenied
from governance.kernel.types import utcnow
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets, countersign
from tests.agreements.test_amendments_and_events import amend
from tests.conftest import Browser, fresh
from tests.outputs.builders import released
from tests.support import PASSWORD, People


def granted(db: Session, people: People, request: AccessRequest) -> Grant:
    requests.steward_approve(
        db,
        request_id=request.id,
        columns=request.requested_columns,
        comment="",
        by=people.steward,
        now=utcnow(),
    )
    db.commit()
    found = fresh(db).get(AccessRequest, request.id)
    assert found is not None
    grant = db.get(Grant, found.grant_id)
    assert grant is not None
    return grant


def narrow(db: Session, people: People, agreement: Agreement, datasets: Datasets) -> None:
    """An amendment waiting for approval that leaves only person_id and sex of the arrests and
    only the analyst as personnel: it narrows the analyst's grant and ends anyone else's."""
    amend(
        db,
        people,
        datasets,
        agreement,
        columns={datasets.arrests.id: ["person_id", "sex"]},
        personnel={people.analyst.id: "principal_investigator"},
    )


def test_the_impact_is_shown_then_applied_exactly(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    mine = granted(db, people, ask(db, people, agreement, datasets))  # sex, age_at_arrest
    theirs = granted(db, people, ask(db, people, agreement, datasets, by=people.analyst2))
    narrow(db, people, agreement, datasets)
    shown = impact.amendment_impact(db, agreement_id=agreement.id, by=people.privacy2)
    changes = {c.grant.id: c for c in shown.grants}
    assert changes[mine.id].removed_columns == ("age_at_arrest",)
    assert changes[mine.id].ends is None
    assert changes[theirs.id].ends is not None
    assert changes[theirs.id].ends[1] == "the holder is no longer authorised personnel"
    assert shown.holders[theirs.user_id] == people.analyst2.email

    impact.approve_amendment(
        db,
        agreement_id=agreement.id,
        digest=shown.digest,
        comment="Scope narrowed.",
        by=people.privacy2,
        now=utcnow(),
    )
    db.commit()
    # Approved, the amendment waits for the provider: nothing of the plan applies yet.
    assert in_force_version(fresh(db), agreement.id).number == 1  # type: ignore[union-attr]
    unchanged = db.get(Grant, mine.id)
    assert unchanged is not None
    assert set(unchanged.column_names) == {"sex", "age_at_arrest"}
    countersign(db, people, db.get(Agreement, agreement.id))  # type: ignore[arg-type]
    db.commit()
    in_force = in_force_version(fresh(db), agreement.id)
    assert in_force is not None
    assert in_force.number == 2
    after_mine, after_theirs = db.get(Grant, mine.id), db.get(Grant, theirs.id)
    assert after_mine is not None
    assert after_theirs is not None
    assert after_mine.column_names == ["sex"]
    assert after_theirs.status == GrantStatus.REVOKED
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.event_type == AuditType.COMMITTEE_AMENDMENT_IMPACT)
    ).one()
    assert event.detail["digest"] == shown.digest
    assert {g["grant_id"] for g in event.detail["grants"]} == {mine.id, theirs.id}


def test_an_impact_that_changed_since_it_was_shown_is_not_approved(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    granted(db, people, ask(db, people, agreement, datasets))
    narrow(db, people, agreement, datasets)
    shown = impact.amendment_impact(db, agreement_id=agreement.id, by=people.privacy2)
    db.rollback()
    # A grant made after the impact was shown: it is not in what the approver saw.
    granted(db, people, ask(db, people, agreement, datasets, by=people.analyst2))
    with pytest.raises(InvalidTransition, match="impact changed"):
        impact.approve_amendment(
            db,
            agreement_id=agreement.id,
            digest=shown.digest,
            comment="",
            by=people.privacy2,
            now=utcnow(),
        )
    db.rollback()
    in_force = in_force_version(fresh(db), agreement.id)
    assert in_force is not None
    assert in_force.number == 1


def test_an_impact_changed_behind_the_page_is_drawn_again_with_the_new_one(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    """The approver is shown the impact as it now is, on the page, with 409: never the generic
    error page, and never an approval of what they did not see."""
    granted(db, people, ask(db, people, agreement, datasets))
    narrow(db, people, agreement, datasets)
    officer = Browser(app.test_client())
    officer.login(people.privacy2.email, PASSWORD)
    opened = officer.get(f"/committees/amendments/{agreement.id}").get_data(as_text=True)
    assert people.analyst2.email not in opened
    shown = impact.amendment_impact(db, agreement_id=agreement.id, by=people.privacy2).digest
    db.rollback()
    # A grant made while the page was open: the amendment would end it.
    granted(db, people, ask(db, people, agreement, datasets, by=people.analyst2))
    answer = officer.post(
        f"/committees/amendments/{agreement.id}/approve",
        {"approve-digest": shown, "approve-comment": "Scope narrowed."},
    )
    assert answer.status_code == 409
    page = answer.get_data(as_text=True)
    assert "The impact changed since you opened this page: review it again" in page
    assert "Not possible in this state" not in page
    now = impact.amendment_impact(fresh(db), agreement_id=agreement.id, by=people.privacy2)
    assert now.digest != shown
    assert f'value="{now.digest}"' in page
    assert f'value="{shown}"' not in page
    assert people.analyst2.email in page
    assert "Scope narrowed." in page
    db.rollback()
    assert in_force_version(fresh(db), agreement.id).number == 1  # type: ignore[union-attr]
    # Nothing approved, and the refusal recorded under the approval it refused.
    [refused] = (
        fresh(db)
        .scalars(
            select(AuditEvent).where(AuditEvent.event_type == AuditType.COMMITTEE_AMENDMENT_IMPACT)
        )
        .all()
    )
    assert (refused.outcome, refused.rule) == (Outcome.FAILURE, "impact-changed")
    assert refused.actor_id == people.privacy2.id
    assert refused.detail["impact_digest_shown"] == shown
    assert refused.detail["impact_digest_now"] == now.digest
    # Approving from the page drawn again applies what it shows.
    again = officer.post(
        f"/committees/amendments/{agreement.id}/approve", {"approve-digest": now.digest}
    )
    assert again.status_code == 302


def test_the_committee_sees_the_impact_and_others_do_not(
    db: Session, people: People, agreement: Agreement, datasets: Datasets, committee: Committee
) -> None:
    amend(db, people, datasets, agreement, columns={datasets.arrests.id: ["person_id", "sex"]})
    assert impact.amendment_impact(db, agreement_id=agreement.id, by=people.checker).grants == []
    with pytest.raises(PermissionDenied):
        impact.amendment_impact(db, agreement_id=agreement.id, by=people.steward)
    db.rollback()
    # A member who does not hold agreement:review sees it but cannot approve it.
    shown = impact.amendment_impact(db, agreement_id=agreement.id, by=people.checker)
    with pytest.raises(PermissionDenied):
        impact.approve_amendment(
            db,
            agreement_id=agreement.id,
            digest=shown.digest,
            comment="",
            by=people.checker,
            now=utcnow(),
        )


def test_the_impact_page_names_holders_and_who_must_accept(
    app: Flask, db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    granted(db, people, ask(db, people, agreement, datasets, by=people.analyst2))
    amend(
        db,
        people,
        datasets,
        agreement,
        personnel={people.analyst.id: "principal_investigator"},
        acceptance_required=True,
    )
    officer = Browser(app.test_client())
    officer.login(people.privacy2.email, PASSWORD)
    page = officer.get(f"/committees/amendments/{agreement.id}").get_data(as_text=True)
    assert "Ends: the holder is no longer authorised personnel" in page
    assert people.analyst2.email in page
    assert "People who must accept the new version" in page
    assert people.analyst.email in page
    digest = impact.amendment_impact(db, agreement_id=agreement.id, by=people.privacy2).digest
    db.rollback()
    answer = officer.post(
        f"/committees/amendments/{agreement.id}/approve", {"approve-digest": digest}
    )
    assert answer.status_code == 302
    countersign(db, people, fresh(db).get(Agreement, agreement.id))  # type: ignore[arg-type]
    db.commit()
    in_force = in_force_version(fresh(db), agreement.id)
    assert in_force is not None
    assert in_force.number == 2


def test_queued_analyses_that_would_fall_out_of_scope_are_listed(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    for title, kind in (
        ("Cohort table", "descriptive"),
        ("Diversion effect", "matched_comparison"),
    ):
        db.add(
            AnalysisRun(
                requested_by_id=people.analyst.id,
                agreement_id=agreement.id,
                agreement_version=1,
                kind=kind,
                purpose=kind,
                title=title,
                parameters={},
                datasets={"records": datasets.arrests.id},
            )
        )
    db.commit()
    amend(db, people, datasets, agreement, permitted_uses=["descriptive"])
    shown = impact.amendment_impact(db, agreement_id=agreement.id, by=people.privacy2)
    section = next(s for s in shown.sections if s.title.startswith("Queued analyses"))
    assert len(section.lines) == 1
    assert "Diversion effect" in section.lines[0]
    assert "no longer permitted" in section.lines[0]


def test_released_outputs_a_stricter_threshold_would_not_allow_are_listed(
    db: Session, people: People, agreement: Agreement, datasets: Datasets
) -> None:
    output = released(db, people, agreement)
    amend(db, people, datasets, agreement, min_cell_size=200)
    shown = impact.amendment_impact(db, agreement_id=agreement.id, by=people.privacy2)
    section = next(s for s in shown.sections if s.title.startswith("Released outputs"))
    assert "minimum cell size of 200" in section.title
    assert len(section.lines) == 1
    assert section.lines[0].startswith(f"Output #{output.id}")
    assert "200" in section.lines[0]
