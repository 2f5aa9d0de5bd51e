"""Demo outputs, each produced by a real analysis run of the demo's synthetic data.

The matched comparison run earlier (analyses.py) goes all the way: two independent checks,
the police department's preview, a factual-error flag the analyst answers and the partner
accepts, release and publication on the public page. Two descriptive runs follow: one checked
and now open in the partner's preview, one waiting for its output check. Every step goes
through the services with times relative to the day the demo is loaded.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.analysis import runs as analyses
from governance.demo.analyses import grant_columns
from governance.demo.analysis_data import INDEX_EVENTS
from governance.demo.people import DemoWorld
from governance.kernel.types import utcnow
from governance.outputs import preview as output_preview
from governance.outputs import service as outputs
from governance.outputs.models import Output

DAY = dt.timedelta(days=1)
# What the two descriptive runs read (the engine counts distinct people by person_id, so
# that identifier needs the privacy officer's second approval, though it is never output).
DESCRIPTIVE_COLUMNS = ["person_id", "sex", "region", "offence_category"]


def _output_of(session: Session, run_id: int) -> Output:
    output = session.scalars(select(Output).where(Output.run_id == run_id)).first()
    if output is None:
        raise RuntimeError(f"demo run {run_id} produced no output; see its reason")
    return output


def _descriptive(
    session: Session,
    world: DemoWorld,
    app: Flask,
    *,
    title: str,
    group_by: list[str],
    now: dt.datetime,
) -> Output:
    from governance.analysis.runner import execute_run
    from governance.kernel.extensions import database

    agreement = world.extra["agreements"]["active"]
    events = world.extra["datasets"][INDEX_EVENTS]
    run = analyses.submit_run(
        session,
        agreement_id=agreement.id,
        kind="descriptive",
        parameters={"group_by": group_by},
        datasets={"records": events.id},
        title=title,
        by=world.people["analyst"],
        now=now,
    )
    session.commit()
    execute_run(database(app), run.id, worker_id="demo")
    session.expire_all()
    return _output_of(session, run.id)


def _check(session: Session, world: DemoWorld, output: Output, at: dt.datetime) -> None:
    for checker in (world.people["checker"], world.people["privacy2"]):
        outputs.check_output(
            session,
            output_id=output.id,
            approve=True,
            reasons="Every released count is at least the agreement's "
            "minimum; suppressed cells cannot be recovered.",
            by=checker,
            now=at,
        )


def create_demo_outputs(session: Session, world: DemoWorld, *, app: Flask, **_options: Any) -> None:
    now = utcnow()
    people = world.people
    matched = _output_of(session, world.extra["demo_run_id"])
    _check(session, world, matched, now)
    # Which parts a result has depends on the data (a demo of another size may have no notes).
    part = next((p for p in matched.parts if p["id"] in ("notes", "caveats")), matched.parts[0])
    flag = output_preview.raise_flag(
        session,
        output_id=matched.id,
        kind="factual_error",
        part=part["id"],
        comment=f"{part['label']}: the report should say the programme began in 2016, not earlier.",
        by=people["police_reviewer"],
        now=now,
    )
    output_preview.answer_flag(
        session,
        output_id=matched.id,
        flag_id=flag.id,
        answer="explained",
        text="The cohort's intervention dates come from the programme's own file, which "
        "starts in 2016; the report makes no claim about earlier years.",
        by=people["analyst"],
        now=now,
    )
    output_preview.accept_answer(
        session, output_id=matched.id, flag_id=flag.id, by=people["police_reviewer"], now=now
    )
    outputs.publish_output(session, output_id=matched.id, by=people["privacy"], now=now)
    session.commit()

    grant_columns(
        session,
        world,
        dataset=world.extra["datasets"][INDEX_EVENTS],
        columns=DESCRIPTIVE_COLUMNS,
        purpose="descriptive",
        now=now,
    )
    session.commit()
    in_preview = _descriptive(
        session, world, app, title="People on the register by region", group_by=["region"], now=now
    )
    _check(session, world, in_preview, now)
    session.commit()
    _descriptive(
        session,
        world,
        app,
        title="People on the register by sex and offence",
        group_by=["sex", "offence_category"],
        now=now,
    )
