"""Output tasks on each role's dashboard, with their deadlines.

Output checkers and privacy officers: outputs to check, due CHECK_WITHIN_DAYS after the
revision was produced (the service's own target: the analyst waits on it, and the provider's
window only starts after it). Privacy officers also: answered flags to resolve once a window
has ended, and released outputs the agreement allows to be published. Partner reviewers:
previews open (due when the window closes) and answers to accept. Analysts: flags to answer
(due when the window closes) and outputs a checker returned.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from governance.agreements.common import actor_key
from governance.agreements.models import Agreement, AgreementVersion
from governance.agreements.parts_model import Personnel
from governance.identity.models import User
from governance.kernel.tasks import Task
from governance.outputs.common import is_independent
from governance.outputs.models import Output, OutputStatus
from governance.outputs.service import actor_key_of

CHECK_WITHIN_DAYS = 5
ENDPOINT = "outputs.detail"


def _day(moment: dt.datetime | None) -> dt.date | None:
    return moment.astimezone(dt.UTC).date() if moment else None


def _task(output: Output, title: str, kind: str, due: dt.date | None, detail: str = "") -> Task:
    return Task(
        title=f"{output.reference} {title}",
        kind=kind,
        endpoint=ENDPOINT,
        params={"output_id": output.id},
        due=due,
        detail=detail,
    )


def _outputs(session: Session, *conditions: Any) -> list[Output]:
    return list(
        session.scalars(
            select(Output)
            .join(Agreement, Agreement.id == Output.agreement_id)
            .where(*conditions)
            .order_by(Output.id)
        )
    )


def _team_condition(user: User) -> Any:
    named = exists().where(
        Personnel.user_id == user.id,
        Personnel.version_id == AgreementVersion.id,
        AgreementVersion.agreement_id == Output.agreement_id,
    )
    return or_(Output.produced_by_id == user.id, named)


def outputs_to_check(session: Session, user: User) -> list[Task]:
    key = actor_key(user)
    tasks = []
    for output in _outputs(session, Output.status == OutputStatus.PRODUCED):
        if not is_independent(user, output) or any(
            actor_key_of(c) == key for c in output.current_checks
        ):
            continue
        second = " (second check)" if output.approvals else ""
        tasks.append(
            _task(
                output,
                f"{output.title}{second}",
                "Output to check",
                _day(output.revised_at + dt.timedelta(days=CHECK_WITHIN_DAYS)),
                f"Revision {output.revision}, agreement {output.agreement.reference}.",
            )
        )
    return tasks


def privacy_officer_output_tasks(session: Session, user: User) -> list[Task]:
    tasks = []
    for output in _outputs(session, Output.status == OutputStatus.PREVIEW_ENDED):
        waiting = [f for f in output.open_flags if f.is_answered]
        if waiting and is_independent(user, output):
            tasks.append(
                _task(
                    output,
                    output.title,
                    "Answered flags to resolve",
                    _day(output.preview_closes_at),
                    f"{len(waiting)} answered flag(s) the partner has not "
                    "accepted; the preview window has ended.",
                )
            )
    for output in _outputs(session, Output.status == OutputStatus.RELEASED):
        if output.terms.publication_allowed and is_independent(user, output):
            tasks.append(
                _task(
                    output,
                    output.title,
                    "Released output to publish",
                    None,
                    "The agreement allows publication.",
                )
            )
    return tasks


def partner_output_tasks(session: Session, user: User) -> list[Task]:
    tasks = []
    mine = Agreement.provider_id == user.organization_id
    for output in _outputs(session, mine, Output.status == OutputStatus.IN_PREVIEW):
        tasks.append(
            _task(
                output,
                output.title,
                "Preview open",
                _day(output.preview_closes_at),
                "Flag identifiable information or a factual error before the window closes, "
                "or say you have no concerns to release it now.",
            )
        )
    for output in _outputs(
        session, mine, Output.status.in_([OutputStatus.IN_PREVIEW, OutputStatus.PREVIEW_ENDED])
    ):
        answered = [f for f in output.open_flags if f.is_answered]
        if answered:
            tasks.append(
                _task(
                    output,
                    output.title,
                    "Answers to accept",
                    _day(output.preview_closes_at),
                    f"{len(answered)} flag(s) answered by the analyst.",
                )
            )
    return tasks


def analyst_output_tasks(session: Session, user: User) -> list[Task]:
    tasks = []
    for output in _outputs(
        session,
        _team_condition(user),
        Output.status.in_(
            [
                OutputStatus.PRODUCED,
                OutputStatus.RETURNED,
                OutputStatus.IN_PREVIEW,
                OutputStatus.PREVIEW_ENDED,
            ]
        ),
    ):
        unanswered = [f for f in output.open_flags if not f.is_answered]
        if unanswered:
            tasks.append(
                _task(
                    output,
                    output.title,
                    "Flags to answer",
                    _day(output.preview_closes_at),
                    f"{len(unanswered)} flag(s) from the provider's preview.",
                )
            )
        if output.status == OutputStatus.RETURNED:
            reasons = next(
                (c.reasons for c in reversed(output.current_checks) if c.decision == "return"), ""
            )
            tasks.append(
                _task(output, output.title, "Output returned by a checker", None, reasons[:200])
            )
    return tasks
