"""Who is told what as an output moves, by e-mail through the outbox (kernel/notify.py).

Checkers when an output is produced or corrected; the provider's partner reviewers when the
preview opens and when a flag is answered; the analyst (the producer, else the team) when a
flag is raised or a checker returns the output; the team when it is cleared and released,
and when it is published. Messages name the output and link to its page; they carry no figures
and no one's comments.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from governance.identity.models import User
from governance.kernel import notify
from governance.outputs.common import (
    checkers,
    is_independent,
    partner_reviewers,
    privacy_officers,
    team,
)
from governance.outputs.models import Output

SUBJECT_PREFIX = "[Data governance]"


def _send(
    session: Session, people: Iterable[User], output: Output, subject: str, lines: list[str]
) -> int:
    addresses = [p.email for p in people]
    if not addresses:
        return 0
    page = notify.link(session, f"/outputs/{output.id}")
    body = "\n\n".join([*lines, f"Open the output: {page}"])
    return notify.queue(
        session,
        to=addresses,
        subject=f"{SUBJECT_PREFIX} {subject}",
        body=body,
        kind="output",
        link=page,
    )


def _analysts(session: Session, output: Output) -> list[User]:
    if output.produced_by_id is not None:
        producer = session.get(User, output.produced_by_id)
        if producer is not None and producer.active:
            return [producer]
    return team(session, output)


def to_check(session: Session, output: Output, *, corrected: bool) -> int:
    people = [u for u in checkers(session) if is_independent(u, output)]
    what = f"corrected (revision {output.revision})" if corrected else "produced"
    return _send(
        session,
        people,
        output,
        f"Output to check: {output.reference}",
        [
            f'The output {output.reference} "{output.title}" was {what} under agreement '
            f"{output.agreement.reference} and is waiting for its output check."
        ],
    )


def preview_opened(session: Session, output: Output) -> int:
    closes = (
        output.preview_closes_at.strftime("%Y-%m-%d %H:%M UTC")
        if output.preview_closes_at
        else "soon"
    )
    return _send(
        session,
        partner_reviewers(session, output),
        output,
        f"Output to preview: {output.reference}",
        [
            f"An output of agreement {output.agreement.reference} is ready for your "
            f'preview: "{output.title}".',
            f"Until {closes} you may flag identifiable information or an objectively "
            "incorrect factual statement in it. The agreement does not allow the "
            "preview to edit the output or stop its release for any other reason.",
        ],
    )


def flag_raised(session: Session, output: Output, kind_label: str) -> int:
    return _send(
        session,
        _analysts(session, output),
        output,
        f"Flag to answer: {output.reference}",
        [
            f'A partner reviewer flagged "{kind_label}" in "{output.title}".',
            "Answer it on the output's page: corrected (after correcting the output) or explained.",
        ],
    )


def returned(session: Session, output: Output) -> int:
    return _send(
        session,
        _analysts(session, output),
        output,
        f"Output returned by a checker: {output.reference}",
        [
            f'An output checker returned "{output.title}" with reasons. Correct it '
            "and it will be checked again."
        ],
    )


def flag_answered(session: Session, output: Output) -> int:
    return _send(
        session,
        partner_reviewers(session, output),
        output,
        f"Your flag was answered: {output.reference}",
        [
            f'The analyst answered a flag on "{output.title}". Accept the answer '
            "on the output's page, or raise another flag while the preview is open."
        ],
    )


def cleared(session: Session, output: Output) -> int:
    return _send(
        session,
        team(session, output),
        output,
        f"Output cleared and released: {output.reference}",
        [
            f'"{output.title}" has passed its checks and the provider\'s preview. '
            "The project team may now download it."
        ],
    )


def published(session: Session, output: Output) -> int:
    return _send(
        session,
        team(session, output),
        output,
        f"Output published: {output.reference}",
        [f'"{output.title}" is now on the public page of published outputs.'],
    )


def preview_ended(session: Session, output: Output) -> int:
    people = {u.id: u for u in [*_analysts(session, output), *privacy_officers(session)]}
    return _send(
        session,
        people.values(),
        output,
        f"Preview ended with open flags: {output.reference}",
        [
            f'The preview window of "{output.title}" has ended with flags still '
            "open. The analyst answers each flag; a privacy officer may resolve an "
            "answered flag the partner has not accepted."
        ],
    )
