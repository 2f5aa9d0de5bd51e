"""The demo world has agreements in every state, built deterministically through the services."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.lifecycle import State, state_of
from governance.agreements.models import Agreement
from governance.compliance.models import AuditPeriod, PeriodStatus
from governance.demo import load_demo


def test_the_demo_has_an_agreement_in_every_state(app: Flask, db: Session) -> None:
    load_demo(db, app=app)
    db.commit()
    found = {state_of(a): a for a in db.scalars(select(Agreement).order_by(Agreement.id))}
    assert set(found) == {
        State.DRAFT,
        State.SUBMITTED,
        State.APPROVED,
        State.ACTIVE,
        State.AMENDMENT_SUBMITTED,
        State.EXPIRED,
        State.TERMINATED,
        State.CLOSED,
    }
    campaign = db.scalars(select(AuditPeriod)).one()  # the annual audit, waiting on stewards
    assert campaign.status == PeriodStatus.CERTIFYING
    assert campaign.items
    titles = sorted(a.display_version.title for a in found.values())
    assert "Pre-arrest diversion: impact on re-arrest" in titles
    amended = found[State.AMENDMENT_SUBMITTED]
    assert amended.current_version is not None
    assert amended.working_version is not None
    assert "district" not in amended.current_version.covered_columns(
        amended.current_version.covered_dataset_ids[0]
    )
