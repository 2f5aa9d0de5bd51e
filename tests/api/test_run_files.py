"""An analysis run's files are its output's files, under the output's one rule (explore6 F5).

The analyst took the PDF and CSV away through `GET /analyses/{id}/file` while the output was
still `produced`, while it waited for its second check, during the provider's preview, and
after the agreement was terminated with every grant revoked, although `GET /outputs/{id}/file`
refused each time. The run's routes now hand out the output's files to the same people as the
output's route: the project team once it is released (and, after the agreement ended, only
what was released before).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access.models import Grant, GrantStatus
from governance.agreements import service as agreements
from governance.audit.models import AuditEvent, AuditType
from governance.outputs import preview as output_preview
from governance.outputs import service as outputs
from governance.outputs.models import OutputStatus
from tests.api.scenario import Api, World, revoke_my_grant
from tests.conftest import fresh
from tests.outputs.builders import DAY, SOON, T0, check_twice, outputs_system

Clients = Callable[[str], Api]
KINDS = ("pdf", "csv")


def run_file(world: World, kind: str) -> str:
    return f"/api/v1/analyses/{world.my_run.id}/file?kind={kind}"


def output_file(world: World, kind: str) -> str:
    return f"/api/v1/outputs/{world.my_output.id}/file?kind={kind}"


def last_event(db: Session) -> AuditEvent:
    event = fresh(db).scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert event is not None
    return event


def assert_refused(api: Clients, world: World, db: Session, rule: str, words: str) -> None:
    """The tester's requests: 403 on both routes for both files, each recorded as a denied
    `output:download` naming the rule and the reason the analyst was given."""
    for path in [run_file(world, k) for k in KINDS] + [output_file(world, k) for k in KINDS]:
        answer = api("analyst").get(path)
        assert answer.status_code == 403, (path, answer.status_code)
        assert not answer.data.startswith(b"%PDF")
        message = answer.get_json()["message"]
        assert words in message, message
        event = last_event(db)
        assert (event.event_type, event.outcome, event.rule, event.actor_email) == (
            AuditType.OUTPUT_DOWNLOAD,
            "denied",
            rule,
            world.people.analyst.email,
        )
        assert event.target_id == str(world.my_output.id)
        assert event.detail["reason"] == message


def terminate(db: Session, world: World, now: dt.datetime) -> None:
    agreements.terminate(
        fresh(db),
        agreement_id=world.mine.id,
        reason="Funding ended.",
        by=world.people.privacy,
        now=now,
    )
    db.commit()
    grants = fresh(db).scalars(select(Grant).where(Grant.user_id == world.people.analyst.id))
    assert {GrantStatus(g.status) for g in grants} == {GrantStatus.REVOKED}


def release(db: Session, world: World) -> None:
    output_preview.close_due_previews(db, outputs_system(), T0 + 40 * DAY)
    db.commit()
    assert fresh(db).get_one(type(world.my_output), world.my_output.id).status == "released"


def test_at_produced_the_runs_files_are_refused_as_the_outputs(
    api: Clients, world: World, db: Session
) -> None:
    assert world.my_output.status == OutputStatus.PRODUCED
    assert world.my_output.run_id == world.my_run.id
    assert_refused(api, world, db, "released-only", "once it is released")


def test_waiting_for_the_second_check_the_files_are_refused(
    api: Clients, world: World, db: Session
) -> None:
    outputs.check_output(
        db,
        output_id=world.my_output.id,
        approve=True,
        reasons="",
        by=world.people.checker,
        now=T0 + SOON,
    )
    db.commit()
    assert_refused(api, world, db, "released-only", "second check")


def test_during_the_providers_preview_the_files_are_refused_to_the_team(
    api: Clients, world: World, db: Session
) -> None:
    check_twice(db, world.people, world.my_output)
    assert fresh(db).get_one(type(world.my_output), world.my_output.id).status == "in_preview"
    assert_refused(api, world, db, "released-only", "preview")
    for kind in KINDS:  # the provider's partner reviewer sees what they preview
        assert api("partner").get(output_file(world, kind)).status_code == 200


def test_after_termination_with_every_grant_revoked_nothing_leaves(
    api: Clients, world: World, db: Session
) -> None:
    terminate(db, world, dt.datetime.now(dt.UTC))
    assert_refused(api, world, db, "released-only", "once it is released")
    # Released after the agreement ended: still never handed to the team.
    check_twice(db, world.people, world.my_output)
    release(db, world)
    assert_refused(api, world, db, "agreement-in-force", "before OUT-")


def test_a_released_output_leaves_by_either_route_with_the_same_bytes(
    api: Clients, world: World, db: Session
) -> None:
    check_twice(db, world.people, world.my_output)
    release(db, world)
    output = fresh(db).get_one(type(world.my_output), world.my_output.id)
    for kind in KINDS:
        by_output = api("analyst").get(output_file(world, kind))
        by_run = api("analyst").get(run_file(world, kind))
        assert (by_output.status_code, by_run.status_code) == (200, 200)
        assert by_run.data == by_output.data
        digest = output.pdf_sha256 if kind == "pdf" else output.csv_sha256
        assert by_run.headers["X-Content-SHA256"] == digest
        event = last_event(db)
        assert (event.event_type, event.outcome, event.detail["sha256"]) == (
            AuditType.OUTPUT_DOWNLOAD,
            "success",
            digest,
        )
    # Released before the agreement ended: the team keeps it (decision 16: the right to
    # publish research products outlives the agreement).
    terminate(db, world, T0 + 41 * DAY)
    for kind in KINDS:
        assert api("analyst").get(run_file(world, kind)).status_code == 200


@pytest.mark.parametrize("who", ["checker", "privacy"])
def test_checkers_and_privacy_officers_take_the_files_while_checking(
    api: Clients, world: World, db: Session, who: str
) -> None:
    for kind in KINDS:
        answer = api(who).get(run_file(world, kind))
        assert answer.status_code == 200
        event = last_event(db)
        assert (event.event_type, event.outcome, event.detail["state"]) == (
            AuditType.OUTPUT_DOWNLOAD,
            "success",
            "produced",
        )


def test_the_run_hides_its_figures_from_the_analyst_once_the_agreement_ended(
    api: Clients, world: World, db: Session
) -> None:
    shown = api("analyst").get(f"/api/v1/analyses/{world.my_run.id}").get_json()
    assert shown["result"] is not None
    assert shown["figures_withheld"] is None
    terminate(db, world, dt.datetime.now(dt.UTC))
    hidden = api("analyst").get(f"/api/v1/analyses/{world.my_run.id}").get_json()
    assert hidden["result"] is None
    assert "terminated" in hidden["figures_withheld"]
    event = last_event(db)
    assert (event.event_type, event.outcome, event.rule, event.target_id) == (
        AuditType.ANALYSIS_DOWNLOAD,
        "denied",
        "agreement-in-force",
        str(world.my_run.id),
    )
    checker = api("checker").get(f"/api/v1/analyses/{world.my_run.id}").get_json()
    assert checker["result"] is not None


def test_the_run_hides_its_figures_from_an_analyst_without_a_current_grant(
    api: Clients, world: World, db: Session
) -> None:
    revoke_my_grant(fresh(db), world)
    hidden = api("analyst").get(f"/api/v1/analyses/{world.my_run.id}").get_json()
    assert hidden["result"] is None
    assert "no current grant for descriptive" in hidden["figures_withheld"]
    assert last_event(db).rule == "current-grant"


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


TABLE = {
    "name": "counts",
    "title": "People by region",
    "dimensions": ["region"],
    "cells": [
        {
            "labels": {"region": "north"},
            "values": {"count": None},
            "disclosure": {"suppressed": True, "rules": ["threshold"]},
        },
        {
            "labels": {"region": "south"},
            "values": {"count": None},
            "disclosure": {"suppressed": True, "rules": ["secondary"]},
        },
        {
            "labels": {"region": "west"},
            "values": {"count": 40},
            "disclosure": {"suppressed": False, "rules": []},
        },
    ],
}


@pytest.mark.parametrize("who", ["analyst", "checker"])
def test_the_run_says_which_cells_are_suppressed_not_which_rule_suppressed_them(
    api: Clients, world: World, db: Session, who: str
) -> None:
    """explore6 F7: "secondary" says a hidden count is at least the minimum and "threshold"
    that it is under it; with those bounds the released margins pinned two hidden cells to
    [10, 18], narrower than the agreement's protection width. The run answers as the output
    does: suppressed or not. Which rule fired is the output's disclosure record, for
    checkers (docs/decisions/outputs.md item 15)."""
    run = fresh(db).get_one(type(world.my_run), world.my_run.id)
    run.result = {**run.result, "tables": [TABLE]}
    db.commit()
    shown = api(who).get(f"/api/v1/analyses/{world.my_run.id}").get_json()
    assert shown["result"] is not None
    assert "rules" not in _keys(shown["result"])
    [table] = shown["result"]["tables"]
    assert [c["disclosure"]["suppressed"] for c in table["cells"]] == [True, True, False]
    assert [c["values"]["count"] for c in table["cells"]] == [None, None, 40]


def test_the_report_table_marks_suppressed_cells_without_naming_the_rule() -> None:
    from governance.analysis.report import table_view

    view = table_view(TABLE)
    assert view.header == ["region", "count"]
    assert view.suppressed == [True, True, False]
    assert view.rows[0][1] == view.rows[1][1]  # the two suppressed cells read alike
    assert not any(word in str(view.rows) for word in ("threshold", "secondary", "none"))
