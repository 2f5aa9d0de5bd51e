"""Someone with the database but not the key files gains nothing by changing an organisation:
its local-passwords switch or its kind.

An attacker's view: a DBA writes `organization` directly with SQL. An agency whose people
sign in only through its identity provider (local passwords off, so its MFA and leavers'
process apply) has the switch turned back on, so that a password the DBA knows, or an old one,
works again; or the research organisation is made a provider agency, so that one of its
analysts can be placed as a partner reviewer, who previews outputs for the agency. Each gives
nothing: the organisation's kind and switch carry a keyed seal (governance/identity/seals.py),
and a broken one counts as passwords off and as no agency (rule `organisation-seal`).
"""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType
from governance.identity import users
from governance.identity.actors import System
from governance.incidents.alerts import open_from_broken_seals
from governance.kernel.errors import ValidationFailed
from governance.kernel.types import utcnow
from tests.conftest import Browser, fresh
from tests.identity.test_identity_seals import as_the_dba, signed_in
from tests.support import PASSWORD, SETUP, People

# The rule a refusal names (governance/identity/seals.py), spelled out: these tests also run
# against code from before organisation seals, where they must fail on their assertions.
ORGANIZATION_SEAL = "organisation-seal"


def test_local_passwords_switched_back_on_with_the_database_alone_stay_off(
    app: Flask, db: Session, browser: Browser, people: People
) -> None:
    """The police agency signs in through its identity provider; the DBA switches local
    passwords back on. On the earlier code the partner reviewer signed in with a password
    again; now the sign-in is refused, recorded under `organisation-seal`."""
    session = fresh(db)
    users.set_local_passwords(session, organization_id=people.police.id, allowed=False, by=SETUP)
    session.commit()
    assert not signed_in(browser, people.partner.email)
    as_the_dba(
        app,
        (
            "UPDATE organization SET local_passwords = :on WHERE id = :o",
            {"on": True, "o": people.police.id},
        ),
    )
    assert not signed_in(browser, people.partner.email)
    refused = (
        fresh(db)
        .scalars(
            select(AuditEvent)
            .where(AuditEvent.event_type == AuditType.LOGIN_FAILED)
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        )
        .one()
    )
    assert refused.rule == ORGANIZATION_SEAL
    # Another organisation's people are not affected.
    assert signed_in(Browser(app.test_client()), people.analyst.email)
    # The alert job names it; switching it back off through the service restores the state
    # the service sealed, so the alert does not come back.
    session = fresh(db)
    assert open_from_broken_seals(session, System("alerts"), utcnow()) == 1
    session.commit()
    session = fresh(db)
    users.set_local_passwords(session, organization_id=people.police.id, allowed=False, by=SETUP)
    session.commit()
    session = fresh(db)
    users.set_local_passwords(session, organization_id=people.police.id, allowed=True, by=SETUP)
    session.commit()
    assert signed_in(Browser(app.test_client()), people.partner.email)


def test_a_research_organisation_made_an_agency_with_the_database_alone_has_no_partner_reviewer(
    app: Flask, db: Session, people: People
) -> None:
    """The DBA makes the research organisation a provider agency; an administrator places an
    analyst of it as a partner reviewer. On the earlier code that was taken (waiting for the
    second administrator); now it is refused: the kind's seal does not hold."""
    as_the_dba(
        app, ("UPDATE organization SET kind = 'provider' WHERE id = :o", {"o": people.lab.id})
    )
    with pytest.raises(ValidationFailed, match="partner reviewer"):
        users.update_user(
            fresh(db),
            user_id=people.analyst.id,
            name=people.analyst.name,
            organization_id=people.lab.id,
            roles=["partner_reviewer"],
            by=people.admin,
        )


def test_organisations_changed_through_the_service_stay_sealed(
    app: Flask, db: Session, people: People
) -> None:
    """A new agency, its switch turned off and on: its people are placed and sign in."""
    session = fresh(db)
    agency = users.create_organization(
        session,
        name="Test Courts",
        kind="provider",
        by=SETUP,  # type: ignore[arg-type]
    )
    session.commit()
    for allowed in (False, True):
        session = fresh(db)
        users.set_local_passwords(session, organization_id=agency.id, allowed=allowed, by=SETUP)
        session.commit()
    assert open_from_broken_seals(fresh(db), System("alerts"), utcnow()) == 0
    session = fresh(db)
    reviewer = users.create_user(
        session,
        email="reviewer@courts.example",
        name="Courts Reviewer",
        organization_id=agency.id,
        roles=["partner_reviewer"],
        password=PASSWORD,
        password_min_length=8,
        by=SETUP,
    )
    session.commit()
    assert "partner_reviewer" in {r.value for r in reviewer.role_set}
    assert signed_in(Browser(app.test_client()), reviewer.email)
