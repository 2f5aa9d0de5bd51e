"""The data provider's preview: flags, answers, and clearing.

"Partners providing the data have the ability to preview outputs before publication expressly
for the narrow purpose of ensuring no individually identifiable information is disclosed and
that no objectively incorrect factual statements are being made ... the partner is prohibited
from editing or preventing the public release of research findings."

So a partner reviewer of the provider can raise a flag of one of exactly two kinds, pointing at
a part of the output, while the window is open, and accept the analyst's answer. Nothing else:
no edit, no rejection. An output clears when the window ends with no open flag, or at once when
every flag is answered and accepted. A flag stays open until its answer is accepted; once the
window has ended a privacy officer may resolve an answered flag the partner has not accepted,
so silence cannot hold an output back. Clearing releases the output to the project team at
once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import agreement_seals
from governance.audit.models import AuditType
from governance.identity.actors import Actor, System
from governance.kernel.errors import Conflict, NotFound, ValidationFailed
from governance.kernel.text import clean_text
from governance.outputs import notices
from governance.outputs.common import (
    record_output_event,
    require_independent,
    require_partner,
    require_team,
    start,
)
from governance.outputs.lifecycle import Action, State, move, steps_of
from governance.outputs.models import (
    AnswerKind,
    FlagKind,
    FlagResolution,
    Output,
    OutputFlag,
    OutputStatus,
)

__all__ = [
    "accept_answer",
    "answer_flag",
    "clear_and_release",
    "close_due_previews",
    "no_concerns",
    "raise_flag",
    "release",
    "resolve_flag",
]


def _text(raw: str, field: str, max_length: int = 5000) -> str:
    errors: dict[str, str] = {}
    value = clean_text(raw, field, errors, max_length=max_length)
    if errors:
        raise ValidationFailed("Some fields need correcting; nothing was saved.", errors)
    return value


def _flag_of(output: Output, flag_id: int) -> OutputFlag:
    flag = next((f for f in output.flags if f.id == flag_id), None)
    if flag is None:
        raise NotFound(f"Output {output.reference} has no flag {flag_id}.")
    return flag


def preview_is_open(output: Output, now: dt.datetime) -> bool:
    return (
        output.status == OutputStatus.IN_PREVIEW
        and output.preview_closes_at is not None
        and now < output.preview_closes_at
    )


def raise_flag(
    session: Session,
    *,
    output_id: int,
    kind: str,
    part: str,
    comment: str,
    by: Actor,
    now: dt.datetime,
) -> OutputFlag:
    """A partner reviewer of THIS agreement's provider flags a part of the output, while the
    window is open, as identifiable information or a factual error; nothing else (422)."""
    output = start(session, Action.FLAG, output_id, by)
    require_partner(by, Action.FLAG, output)
    steps_of(output, Action.FLAG)
    if not preview_is_open(output, now):
        raise Conflict(
            f"The preview window of {output.reference} has ended; flags can no longer be raised."
        )
    errors: dict[str, str] = {}
    if kind not in {k.value for k in FlagKind}:
        errors["kind"] = (
            "A preview may flag only identifiable information or an objectively "
            "incorrect factual statement; it cannot edit the output or stop its "
            "release for any other reason."
        )
    label = output.part_label(part)
    if label is None:
        errors["part"] = "Choose a part of this output."
    body = clean_text(comment, "comment", errors, max_length=5000)
    if errors:
        raise ValidationFailed("The flag was not raised.", errors)
    flag = OutputFlag(
        revision=output.revision,
        raised_by_id=by.id,
        raised_by_label=by.email,
        kind=FlagKind(kind),
        part=part,
        part_label=label or part,
        comment=body,
        raised_at=now,
    )
    output.flags.append(flag)
    move(
        session,
        output,
        Action.FLAG,
        State.IN_PREVIEW,
        by=by,
        detail={"flag_id": _flag_id(session, flag), "kind": kind, "part": part},
    )
    notices.flag_raised(session, output, FlagKind(kind).label)
    return flag


def _flag_id(session: Session, flag: OutputFlag) -> int:
    session.flush()
    return flag.id


def answer_flag(
    session: Session,
    *,
    output_id: int,
    flag_id: int,
    answer: str,
    text: str,
    by: Actor,
    now: dt.datetime,
) -> OutputFlag:
    """The analyst (the producer, or the agreement's personnel) answers a flag once:
    `corrected` once the output has been corrected since the flag, or `explained`."""
    output = start(session, Action.ANSWER, output_id, by)
    require_team(by, Action.ANSWER, output)
    steps = steps_of(output, Action.ANSWER)
    flag = _flag_of(output, flag_id)
    if flag.is_answered:
        raise Conflict(f"Flag {flag.id} is already answered.")
    errors: dict[str, str] = {}
    if answer not in {a.value for a in AnswerKind}:
        errors["answer"] = "Answer corrected or explained."
    elif answer == AnswerKind.CORRECTED and output.revision <= flag.revision:
        errors["answer"] = (
            "The output has not been corrected since the flag was raised: "
            "upload the corrected output first, or explain."
        )
    body = clean_text(text, "text", errors, max_length=5000)
    if errors:
        raise ValidationFailed("The answer was not saved.", errors)
    flag.answer = AnswerKind(answer)
    flag.answer_text = body
    flag.answered_by_id = by.id
    flag.answered_by_label = by.email
    flag.answered_at = now
    move(
        session,
        output,
        Action.ANSWER,
        steps[0].target,
        by=by,
        detail={"flag_id": flag.id, "answer": answer},
    )
    notices.flag_answered(session, output)
    return flag


def accept_answer(
    session: Session, *, output_id: int, flag_id: int, by: Actor, now: dt.datetime
) -> OutputFlag:
    """A partner reviewer of the provider accepts an answer; the last acceptance clears the
    output at once."""
    output = start(session, Action.ACCEPT, output_id, by)
    require_partner(by, Action.ACCEPT, output)
    steps_of(output, Action.ACCEPT)
    flag = _open_answered(output, flag_id)
    _close_flag(flag, by, now, FlagResolution.ACCEPTED_BY_PARTNER, None)
    _after_flag_closed(session, output, Action.ACCEPT, by=by, now=now, detail={"flag_id": flag.id})
    return flag


def no_concerns(
    session: Session, *, output_id: int, note: str, by: Actor, now: dt.datetime
) -> Output:
    """A partner reviewer of the provider answers "no concerns" while the window is open and
    no flag is open: the preview ends early, recorded with who said so and their note, and the
    output clears and is released at once, without waiting for the window to end."""
    output = start(session, Action.NO_CONCERNS, output_id, by)
    require_partner(by, Action.NO_CONCERNS, output)
    steps_of(output, Action.NO_CONCERNS)
    if not preview_is_open(output, now):
        raise Conflict(f"The preview window of {output.reference} has ended.")
    if output.open_flags:
        raise Conflict(
            f"{output.reference} has {len(output.open_flags)} open flag(s): accept their "
            "answers instead; the output clears when the last is accepted."
        )
    body = _text(note, "note", max_length=2000) if note.strip() else ""
    move(
        session,
        output,
        Action.NO_CONCERNS,
        State.CLEARED,
        by=by,
        detail={"note": body, "window_closed_early_at": now.isoformat()},
    )
    clear_and_release(
        session,
        output,
        by=by,
        now=now,
        reason=f"the provider's partner reviewer {by.email} raised no concerns",
    )
    return output


def resolve_flag(
    session: Session, *, output_id: int, flag_id: int, note: str, by: Actor, now: dt.datetime
) -> OutputFlag:
    """A privacy officer closes an answered flag the partner did not accept before the window
    ended, saying why the answer suffices."""
    output = start(session, Action.RESOLVE, output_id, by)
    require_independent(by, Action.RESOLVE, output)
    steps_of(output, Action.RESOLVE)
    flag = _open_answered(output, flag_id)
    body = _text(note, "note")
    _close_flag(flag, by, now, FlagResolution.RESOLVED_BY_PRIVACY_OFFICER, body)
    _after_flag_closed(
        session, output, Action.RESOLVE, by=by, now=now, detail={"flag_id": flag.id, "note": body}
    )
    return flag


def _open_answered(output: Output, flag_id: int) -> OutputFlag:
    flag = _flag_of(output, flag_id)
    if not flag.is_open:
        raise Conflict(f"Flag {flag.id} is already closed.")
    if not flag.is_answered:
        raise Conflict(f"Flag {flag.id} has not been answered yet.")
    return flag


def _close_flag(
    flag: OutputFlag, by: Actor, now: dt.datetime, how: FlagResolution, note: str | None
) -> None:
    flag.accepted_by_id = by.id
    flag.accepted_by_label = by.email
    flag.accepted_at = now
    flag.resolution = how
    flag.resolution_note = note


def _after_flag_closed(
    session: Session,
    output: Output,
    action: Action,
    *,
    by: Actor,
    now: dt.datetime,
    detail: dict[str, Any],
) -> None:
    if output.open_flags:
        move(
            session,
            output,
            action,
            State.PREVIEW_ENDED
            if output.status == OutputStatus.PREVIEW_ENDED
            else State.IN_PREVIEW,
            by=by,
            detail=detail,
        )
        return
    move(session, output, action, State.CLEARED, by=by, detail=detail)
    clear_and_release(session, output, by=by, now=now, reason="every flag is answered and accepted")


def clear_and_release(
    session: Session, output: Output, *, by: Actor, now: dt.datetime, reason: str
) -> None:
    """Record the clearing of an output whose status the caller just set to cleared, and
    release it to the project team."""
    output.cleared_at = now
    record_output_event(
        session,
        AuditType.OUTPUT_CLEAR,
        by=by,
        output=output,
        detail={"reason": reason, "flags": len(output.flags)},
    )
    release(session, output, by=by, now=now)


def release(session: Session, output: Output, *, by: Actor, now: dt.datetime) -> None:
    """Release the output to the project team, unless its agreement's terms fail their seal
    (access/agreement_seals.py): then nothing checked under them leaves."""
    agreement_seals.require(
        session,
        output.agreement_id,
        output.agreement.reference,
        {
            "event_type": AuditType.OUTPUT_RELEASE,
            "target_type": "output",
            "target_id": output.id,
            "agreement_id": output.agreement_id,
            "agreement_version": output.agreement_version,
        },
    )
    output.released_at = now
    move(
        session,
        output,
        Action.RELEASE,
        State.RELEASED,
        by=by,
        detail={"pdf_sha256": output.pdf_sha256, "csv_sha256": output.csv_sha256},
    )
    notices.cleared(session, output)


def close_due_previews(session: Session, actor: System, now: dt.datetime) -> int:
    """Previews whose window has ended: clear (and release) those with no open flag; the others
    wait for their answers (and acceptance, or a privacy officer's resolution)."""
    due = session.scalars(
        select(Output)
        .where(Output.status == OutputStatus.IN_PREVIEW, Output.preview_closes_at <= now)
        .order_by(Output.id)
    ).all()
    for output in due:
        if not agreement_seals.holds(session, output.agreement_id):
            continue  # its agreement fails its seal: the alert job reports it; nothing leaves
        open_flags = len(output.open_flags)
        move(
            session,
            output,
            Action.CLOSE_PREVIEW,
            State.PREVIEW_ENDED if open_flags else State.CLEARED,
            by=actor,
            detail={"open_flags": open_flags},
        )
        if open_flags:
            notices.preview_ended(session, output)
        else:
            clear_and_release(
                session,
                output,
                by=actor,
                now=now,
                reason="the preview window ended with no open flag",
            )
    return len(due)
