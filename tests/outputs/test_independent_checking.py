"""Output checking is independent of the project: a person named in the agreement's
personnel may not check the team's output, decide the provider's flags on it or publish it,
whatever roles they hold (403, recorded under `checker-not-analyst`), and is not offered to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.analysis import runs as analyses
from governance.analysis.models import AnalysisRun, RunStatus
from governance.audit import service as audit
from governance.authz import Role
from governance.identity.models import User
from governance.kernel.errors import PermissionDenied
from governance.outputs import files as output_files
from governance.outputs import preview as output_preview
from governance.outputs import service as outputs
from governance.outputs.models import Output, OutputStatus
from governance.outputs.queries import abilities
from governance.outputs.tasks import outputs_to_check, privacy_officer_output_tasks
from tests.agreements.builders import Datasets
from tests.conftest import fresh
from tests.outputs.builders import (
    DAY,
    T0,
    active_agreement,
    check_twice,
    denied,
    outputs_system,
    produce,
    released,
)
from tests.support import People, add_person


def team_member(db: Session, app: Flask, people: People, role: Role) -> User:
    return add_person(
        db,
        app,
        email=f"{role.value}@team.example",
        name="On the team",
        org=people.lab,
        roles=(role,),
    )


def agreement_naming(db: Session, people: People, datasets: Datasets, member: User) -> Any:
    return active_agreement(
        db,
        people,
        datasets,
        personnel={
            people.analyst.id: "principal_investigator",
            people.analyst2.id: "analyst",
            member.id: "data_manager",
        },
    )


def refused(db: Session, member: User, call: Callable[[], Any], event_type: str) -> None:
    with pytest.raises(PermissionDenied, match="independent of the project") as refusal:
        call()
    assert refusal.value.audit is not None
    db.rollback()
    audit.record_refusal(db, refusal.value.audit, by=member)
    db.commit()
    [event] = denied(db, event_type)
    assert (event.actor_id, event.rule) == (member.id, "checker-not-analyst")


def test_a_checker_named_in_the_personnel_cannot_check_the_projects_output(
    db: Session, app: Flask, people: People, datasets: Datasets
) -> None:
    member = team_member(db, app, people, Role.OUTPUT_CHECKER)
    output = produce(db, people, agreement_naming(db, people, datasets, member))
    assert not abilities(output, member, T0).can_check
    assert outputs_to_check(db, member) == []
    assert [t.params for t in outputs_to_check(db, people.checker)] == [{"output_id": output.id}]
    refused(
        db,
        member,
        lambda: outputs.check_output(
            db, output_id=output.id, approve=True, reasons="", by=member, now=T0
        ),
        "output:check_approve",
    )
    assert fresh(db).get(Output, output.id).checks == []  # type: ignore[union-attr]


def test_a_privacy_officer_named_in_the_personnel_neither_publishes_nor_resolves(
    db: Session, app: Flask, people: People, datasets: Datasets
) -> None:
    member = team_member(db, app, people, Role.PRIVACY_OFFICER)
    agreement = agreement_naming(db, people, datasets, member)
    output = released(db, people, agreement)
    assert not abilities(output, member, T0 + 41 * DAY).can_publish
    assert privacy_officer_output_tasks(db, member) == []
    assert [t.kind for t in privacy_officer_output_tasks(db, people.privacy)] == [
        "Released output to publish"
    ]
    refused(
        db,
        member,
        lambda: outputs.publish_output(db, output_id=output.id, by=member, now=T0 + 41 * DAY),
        "output:publish",
    )
    assert fresh(db).get(Output, output.id).status == OutputStatus.RELEASED  # type: ignore[union-attr]

    flagged = check_twice(db, people, produce(db, people, agreement))
    raised = output_preview.raise_flag(
        db,
        output_id=flagged.id,
        kind="factual_error",
        part="headline/comparison",
        comment="The comparison group size is wrong.",
        by=people.partner,
        now=T0 + 2 * DAY,
    )
    output_preview.close_due_previews(db, outputs_system(), T0 + 31 * DAY)
    output_preview.answer_flag(
        db,
        output_id=flagged.id,
        flag_id=raised.id,
        answer="explained",
        text="The size is after matching.",
        by=people.analyst,
        now=T0 + 32 * DAY,
    )
    db.commit()
    assert flagged.status == OutputStatus.PREVIEW_ENDED
    assert abilities(flagged, member, T0 + 33 * DAY).resolvable == frozenset()
    assert abilities(flagged, people.privacy, T0 + 33 * DAY).resolvable == {raised.id}
    refused(
        db,
        member,
        lambda: output_preview.resolve_flag(
            db, output_id=flagged.id, flag_id=raised.id, note="Fine.", by=member, now=T0 + 33 * DAY
        ),
        "output:flag_resolve",
    )


@pytest.mark.parametrize("role", [Role.OUTPUT_CHECKER, Role.PRIVACY_OFFICER])
def test_a_checker_on_the_team_takes_the_files_only_as_the_team_does(
    db: Session, app: Flask, people: People, datasets: Datasets, role: Role
) -> None:
    """The checking role opens the files in every state, for checking: held by someone named
    in the personnel it must not open what the team's rule keeps closed until release."""
    member = team_member(db, app, people, role)
    output = produce(db, people, agreement_naming(db, people, datasets, member))
    assert not abilities(output, member, T0).can_download
    with pytest.raises(PermissionDenied, match="once it is released") as refusal:
        output_files.download(db, output_id=output.id, kind="csv", by=member, now=T0)
    assert refusal.value.audit is not None
    assert refusal.value.audit["rule"] == "released-only"
    db.rollback()
    checked = output_files.download(db, output_id=output.id, kind="csv", by=people.checker, now=T0)
    assert checked.content == output.csv


@pytest.mark.parametrize("role", [Role.OUTPUT_CHECKER, Role.PRIVACY_OFFICER])
def test_a_checker_on_the_team_reads_unreleased_figures_only_as_the_team_does(
    db: Session, app: Flask, people: People, datasets: Datasets, role: Role
) -> None:
    """One rule of independence (authz.rules) for the output's figures and for the figures of
    a run that has no output: a checker named in the personnel, holding no grant, reads
    neither; a checker independent of the project reads both."""
    member = team_member(db, app, people, role)
    agreement = agreement_naming(db, people, datasets, member)
    output = produce(db, people, agreement)
    run = AnalysisRun(
        requested_by_id=people.analyst.id,
        agreement_id=agreement.id,
        agreement_version=output.agreement_version,
        kind=output.kind,
        purpose=output.kind,
        title=output.title,
        parameters={},
        datasets={},
        status=RunStatus.SUCCEEDED,
        result=output.result,
    )
    db.add(run)
    db.commit()
    assert analyses.output_of(db, run.id) is None
    for withheld in (
        output_files.output_figures_withheld(db, member, output, T0),
        analyses.figures_refused(db, run, member, T0),
    ):
        assert withheld is not None
        assert "no current grant" in withheld
    assert output_files.output_figures_withheld(db, people.checker, output, T0) is None
    assert analyses.figures_refused(db, run, people.checker, T0) is None
    db.commit()
    assert [(e.actor_id, e.rule) for e in denied(db, "output:read")] == [
        (member.id, "current-grant")
    ]
