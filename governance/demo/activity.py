"""The demo's day-to-day activity: work waiting for people, and reads and refusals on record.

The analyst has asked for two more columns (waiting for the steward) and for a direct
identifier, date of birth, that the steward has approved (waiting for a privacy officer's
second approval). The analyst has read granted rows and been refused a column not granted
(employment); a colleague whose CJIS training is missing was refused access. Everything goes
through the services, so every step, refusals included, is in the audit trail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from governance.access import data_door as data_access
from governance.access import requests as access_requests
from governance.access.models import AccessRequest
from governance.audit import service as audit
from governance.demo.analysis_data import INDEX_EVENTS
from governance.demo.people import DemoWorld
from governance.identity.models import User
from governance.kernel.errors import DomainError
from governance.kernel.types import utcnow

WAITING_COLUMNS = ["ethnicity", "employed"]
IDENTIFIER = "date_of_birth"  # a direct identifier the analyst does not hold yet


def create_demo_activity(
    session: Session, world: DemoWorld, *, app: Flask, **_options: Any
) -> None:
    now = utcnow()
    people = world.people
    agreement = world.extra["agreements"]["active"]
    events = world.extra["datasets"][INDEX_EVENTS]
    version = agreement.current_version
    end = min(now.date() + dt.timedelta(days=60), version.expiry_date)

    def ask(columns: list[str], by: User) -> AccessRequest:
        return access_requests.submit_request(
            session,
            agreement_id=agreement.id,
            dataset_id=events.id,
            columns=columns,
            purpose="descriptive",
            end_date=end,
            download=False,
            by=by,
            now=now,
            justification="Describing the register by employment and ethnicity for the "
            "annual report's context section.",
        )

    ask(WAITING_COLUMNS, people["analyst"])
    identifier = ask([IDENTIFIER], people["analyst"])
    access_requests.steward_approve(
        session,
        request_id=identifier.id,
        columns=[IDENTIFIER],
        comment="Needed to de-duplicate; a privacy officer must agree.",
        by=people["steward"],
        now=now,
    )
    for page in (1, 2):
        data_access.read_rows(
            session,
            by=people["analyst"],
            agreement_id=agreement.id,
            dataset_id=events.id,
            columns=["sex", "region"],
            purpose="descriptive",
            page=page,
            now=now,
        )
    _refused(
        session,
        people["analyst"],
        lambda: data_access.read_rows(
            session,
            by=people["analyst"],
            agreement_id=agreement.id,
            dataset_id=events.id,
            columns=["sex", "employed"],
            purpose="descriptive",
            now=now,
        ),
    )
    _refused(session, people["analyst2"], lambda: ask(["sex"], people["analyst2"]))


def _refused(session: Session, by: User, attempt: Callable[[], Any]) -> None:
    """Try something the rules refuse; record the refusal as the pages would."""
    savepoint = session.begin_nested()
    try:
        attempt()
    except DomainError as refusal:
        savepoint.rollback()
        if refusal.audit:
            audit.record_refusal(session, refusal.audit, by=by)
        return
    savepoint.commit()
    raise RuntimeError("the demo expected this attempt to be refused")
