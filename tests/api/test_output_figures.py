"""An output's figures not yet released follow the run's rule (the secure environment).

The run page and `GET /analyses/{id}` withheld a run's figures from the analyst once the
agreement had ended or they held no current grant, but the output page and `GET
/outputs/{id}` still showed the same figures (tables, cells, statistics, the summary) to the
project team: after a termination, after the steward revoked the analyst's grant, and the
morning after the analyst's CJIS training lapsed, before any job had run. The output now
withholds them from the team on the same rule, recorded once per view as a denied
`output:read` naming the rule; the team still sees the output's state, its checks and its
flags, and answers the flags. Checkers independent of the project and the provider's partner
reviewers see the figures as before, and what was released while the agreement was in force
stays the team's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from governance.access.models import Grant, GrantStatus
from governance.agreements import service as agreements
from governance.audit.models import AuditEvent, AuditType
from governance.authz.actions import DataAction
from governance.authz.decision import DataRequest, decide
from governance.identity import users
from governance.identity.models import TrainingCourse, TrainingRecord
from governance.kernel.types import utcnow
from governance.outputs import preview as output_preview
from tests.api.scenario import Api, World, revoke_my_grant
from tests.conftest import Browser, fresh
from tests.outputs.builders import DAY, T0, check_twice, outputs_system
from tests.support import PASSWORD, SETUP

Clients = Callable[[str], Api]
CJIS = TrainingCourse.CJIS_SECURITY_AWARENESS
# What the output's figures look like on its page: the headline table, a count in it, a
# headline statistic and the plain-language summary (tests/outputs/builders.py).
FIGURES = ('id="part-headline"', "4800", "Difference (points)", "32 committed")


def page(app: Flask, world: World, who: str = "analyst") -> tuple[int, str]:
    browser = Browser(app.test_client())
    browser.login(getattr(world.people, who).email, PASSWORD)
    answer = browser.get(f"/outputs/{world.my_output.id}")
    return answer.status_code, answer.get_data(as_text=True)


def output_api(api: Clients, world: World, who: str = "analyst") -> dict[str, object]:
    answer = api(who).get(f"/api/v1/outputs/{world.my_output.id}")
    assert answer.status_code == 200
    shown: dict[str, object] = answer.get_json()
    return shown


def figures_refusals(db: Session) -> list[AuditEvent]:
    return list(
        fresh(db).scalars(
            select(AuditEvent)
            .where(
                AuditEvent.event_type == AuditType.OUTPUT_READ,
                AuditEvent.outcome == "denied",
            )
            .order_by(AuditEvent.seq)
        )
    )


def assert_shown(app: Flask, api: Clients, world: World, who: str = "analyst") -> None:
    status, html = page(app, world, who)
    assert status == 200
    for figure in FIGURES:
        assert figure in html, (who, figure)
    assert 'id="figures-withheld"' not in html
    shown = output_api(api, world, who)
    assert shown["result"] is not None
    assert shown["summary"] is not None
    assert shown.get("figures_withheld") is None


def assert_withheld(
    app: Flask, api: Clients, world: World, db: Session, surface: str, rule: str, words: str
) -> None:
    """The analyst's page or API answer: the output's reference, state and checks but no
    figure and no summary, with the reason; the view recorded once as a denied
    `output:read` of the figures naming the rule."""
    before = len(figures_refusals(db))
    if surface == "page":
        status, html = page(app, world)
        assert status == 200
        assert world.my_output.reference in html
        assert 'id="output-state"' in html
        assert "Output checks" in html  # the checks stay the team's
        assert 'id="figures-withheld"' in html
        assert words in html
        for figure in FIGURES:
            assert figure not in html, figure
    else:
        shown = output_api(api, world)
        assert (shown["result"], shown["summary"]) == (None, None)
        assert isinstance(shown["figures_withheld"], str)
        assert words in shown["figures_withheld"]
        assert shown["reference"] == world.my_output.reference
        assert shown["checks"] is not None
    refusals = figures_refusals(db)
    assert len(refusals) == before + 1  # once per view
    event = refusals[-1]
    assert (event.rule, event.actor_id, event.target_type, event.target_id) == (
        rule,
        world.people.analyst.id,
        "output",
        str(world.my_output.id),
    )
    assert event.detail["part"] == "figures"
    assert words in event.detail["reason"]


SURFACES = pytest.mark.parametrize("surface", ["page", "api"])


def terminate(db: Session, world: World, now: dt.datetime | None = None) -> None:
    agreements.terminate(
        fresh(db),
        agreement_id=world.mine.id,
        reason="Funding ended.",
        by=world.people.privacy,
        now=now or utcnow(),
    )
    db.commit()


@SURFACES
def test_after_termination_the_team_no_longer_reads_the_outputs_figures(
    app: Flask, api: Clients, world: World, db: Session, surface: str
) -> None:
    assert_shown(app, api, world)
    terminate(db, world)
    assert_withheld(app, api, world, db, surface, "agreement-in-force", "terminated")
    # The checkers independent of the project still read what they check.
    assert_shown(app, api, world, "checker")


def test_without_a_current_grant_the_correction_form_does_not_offer_the_summary(
    app: Flask, world: World, db: Session
) -> None:
    browser = Browser(app.test_client())
    browser.login(world.people.analyst.email, PASSWORD)
    url = f"/outputs/{world.my_output.id}/correct"
    assert "32 committed" in browser.get(url).get_data(as_text=True)
    revoke_my_grant(fresh(db), world)
    before = len(figures_refusals(db))
    form = browser.get(url)
    assert form.status_code == 200
    assert "32 committed" not in form.get_data(as_text=True)
    assert [e.rule for e in figures_refusals(db)[before:]] == ["current-grant"]


def test_after_termination_the_correction_form_is_refused(
    app: Flask, world: World, db: Session
) -> None:
    """No correction once the agreement ended (409, recorded: docs/decisions/outputs.md 12),
    so the form, which quotes the figures, is not shown either."""
    browser = Browser(app.test_client())
    browser.login(world.people.analyst.email, PASSWORD)
    terminate(db, world)
    form = browser.get(f"/outputs/{world.my_output.id}/correct")
    assert form.status_code == 409
    assert "32 committed" not in form.get_data(as_text=True)


@SURFACES
def test_after_the_steward_revoked_the_grant_the_analyst_no_longer_reads_them(
    app: Flask, api: Clients, world: World, db: Session, surface: str
) -> None:
    revoke_my_grant(fresh(db), world)
    assert_withheld(
        app, api, world, db, surface, "current-grant", "no current grant for descriptive"
    )


@pytest.fixture
def lapsed_overnight(db: Session, world: World, monkeypatch: pytest.MonkeyPatch) -> dt.datetime:
    """The analyst's CJIS training lapses tonight (their grant is recomputed as the training
    is recorded); the clock of the pages and the API is then moved to 08:00 tomorrow, before
    the conditions job has paused anything."""
    from governance.analysis import api as analysis_api
    from governance.outputs import api as outputs_api
    from governance.outputs import web as output_pages

    tomorrow = utcnow().date() + dt.timedelta(days=1)
    db.execute(
        delete(TrainingRecord).where(
            TrainingRecord.user_id == world.people.analyst.id, TrainingRecord.course == CJIS
        )
    )
    users.record_training(
        db,
        user_id=world.people.analyst.id,
        course=CJIS.value,
        completed_on=tomorrow - dt.timedelta(days=365),
        expires_on=tomorrow,
        by=SETUP,
    )
    db.commit()
    morning = dt.datetime.combine(tomorrow, dt.time(8), tzinfo=dt.UTC)
    for module in (outputs_api, output_pages, analysis_api):
        monkeypatch.setattr(module, "utcnow", lambda: morning)
    return morning


@SURFACES
def test_the_morning_after_the_training_lapsed_the_analyst_no_longer_reads_them(
    app: Flask,
    api: Clients,
    world: World,
    db: Session,
    lapsed_overnight: dt.datetime,
    surface: str,
) -> None:
    assert_withheld(
        app, api, world, db, surface, "current-grant", "no current grant for descriptive"
    )
    # No job ran: the grant is still stored active; its effective end refused the figures.
    grant = fresh(db).get_one(Grant, world.my_grant.id)
    assert grant.status == GrantStatus.ACTIVE
    assert grant.effective_clause == "personnel.training"


def test_the_run_page_refuses_the_figures_the_morning_after_too(
    api: Clients, world: World, lapsed_overnight: dt.datetime
) -> None:
    """A guard (it passes on main too: the training's end was already the grant's effective
    end): the run's figures ask the question the data door asks."""
    hidden = api("analyst").get(f"/api/v1/analyses/{world.my_run.id}").get_json()
    assert hidden["result"] is None
    assert "no current grant for descriptive" in hidden["figures_withheld"]


def test_a_current_grant_is_what_the_data_door_reads_with(
    db: Session, world: World, lapsed_overnight: dt.datetime
) -> None:
    """`Grant.works_at` answers as the door's decision does, in Python and in SQL: the
    evening before the lapse the grant works, the morning after it does not."""
    grant = fresh(db).get_one(Grant, world.my_grant.id)
    evening = lapsed_overnight - dt.timedelta(hours=10)
    for moment, works in ((evening, True), (lapsed_overnight, False)):
        reading = DataRequest(
            user_id=world.people.analyst.id,
            agreement_id=world.mine.id,
            dataset_id=world.datasets.arrests.id,
            columns=("sex",),
            action=DataAction.READ,
            purpose="descriptive",
            now=moment,
        )
        assert decide(fresh(db), reading).allowed is works
        assert grant.works_at(moment) is works
        assert (grant.stopped_because(moment) is None) is works
        found = fresh(db).scalar(
            select(Grant.id).where(Grant.id == grant.id, Grant.works_at(moment))
        )
        assert (found is not None) is works


def test_the_team_still_answers_the_providers_flags_without_the_figures(
    app: Flask, api: Clients, world: World, db: Session
) -> None:
    check_twice(db, world.people, world.my_output)
    flagged = output_preview.raise_flag(
        fresh(db),
        output_id=world.my_output.id,
        kind="factual_error",
        part="headline/treatment",
        comment="The programme started in March, not January.",
        by=world.people.partner,
        now=utcnow(),
    )
    db.commit()
    # The provider's partner reviewer reads the figures they preview; they hold no grant.
    assert_shown(app, api, world, "partner")
    revoke_my_grant(fresh(db), world)
    status, html = page(app, world)
    assert status == 200
    assert "The programme started in March, not January." in html
    assert f'action="/outputs/{world.my_output.id}/flags/{flagged.id}/answer"' in html
    assert "4800" not in html
    answered = api("analyst").post(
        f"/api/v1/outputs/{world.my_output.id}/flags/{flagged.id}/answer",
        json={"answer": "explained", "text": "The report says March."},
    )
    assert answered.status_code == 200
    body = answered.get_json()
    assert body["result"] is None
    assert body["flags"][0]["answer"] == "explained"
    assert figures_refusals(db)[-1].rule == "current-grant"


def test_what_was_released_while_the_agreement_was_in_force_stays_the_teams(
    app: Flask, api: Clients, world: World, db: Session
) -> None:
    check_twice(db, world.people, world.my_output)
    output_preview.close_due_previews(db, outputs_system(), T0 + 40 * DAY)
    db.commit()
    terminate(db, world, T0 + 41 * DAY)  # the services' clock: released the day before
    assert_shown(app, api, world)
