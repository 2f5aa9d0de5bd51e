"""What a grant depends on, folded into the one end every decision already checks.

A grant works only while everything it depends on holds: its own end, its agreement's end, and
the conditions on its holder (today the training the agreement's laws require). Checking each
at every read would cost queries per read; instead each grant carries its effective end, the
earliest of those ends, with the clause that sets it and what the holder can do about it, and
that end is the `until` of the grant's Casbin lines (authz/grant_index.py). Whatever changes a
condition (a training record, an amendment) recomputes the affected grants and bumps the
policy epoch in the same transaction. A read after the earliest end is then refused in every
process with that clause, at any moment (simulated or real) and before any job has run.

A condition is a function registered with `@condition(clause)`: given grants and the moment,
it returns, for each grant it limits, the moment it stops holding (possibly already past) and
a sentence for the holder. The obligations work (issue 17) registers more: the personnel list,
acceptance of the current version, ethics approval, attestation, an incident freeze.

When a condition ends a grant before its own end, the `grants.conditions` job pauses it,
records that and tells the holder and the dataset's stewards; when the condition holds again
(renewed training recorded) the grant resumes. Pause, not end: the steward approved the grant
on its merits, a lapse is the holder's to remedy, and a new request would only make the steward
approve the same columns again. A paused grant still ends at its own end or its agreement's.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from governance.access import seals
from governance.access.grant_lifecycle import LIFECYCLE, Action
from governance.access.models import LIVE_GRANT_STATUSES, Grant, GrantStatus, bump_epoch
from governance.agreements.models import Agreement, AgreementVersion
from governance.datasets.models import Dataset
from governance.identity.actors import Actor, System
from governance.identity.models import TrainingCourse, TrainingRecord, User
from governance.kernel import notify

CLAUSE_GRANT_END = "access.valid_until"
CLAUSE_AGREEMENT_END = "term.expiry_date"
CLAUSE_TRAINING = "personnel.training"
# On a tie the grant's own end names the clause, then the agreement's: a condition names it
# only when it ends the grant strictly earlier.
OWN_ENDS = {CLAUSE_GRANT_END: 0, CLAUSE_AGREEMENT_END: 1}
BATCH = 500
Moment = TypeVar("Moment", dt.date, dt.datetime)
SUBJECT_PREFIX = "[Data governance]"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class End:
    at: dt.datetime
    clause: str
    reason: str = ""
    rule: str = ""  # a rule that set it besides the clause (`training-seal`)


#: When a condition stops holding for a grant and what the holder is told, with the rule that
#: decided it when it is not the clause alone.
Lapse = tuple[dt.datetime, str] | tuple[dt.datetime, str, str]
Condition = Callable[[Session, Sequence[Grant], dt.datetime], Mapping[int, Lapse]]
CONDITIONS: list[tuple[str, Condition]] = []


def condition(clause: str) -> Callable[[Condition], Condition]:
    """Register a condition every grant depends on, under the clause a refusal will cite."""

    def decorator(check: Condition) -> Condition:
        if (clause, check) not in CONDITIONS:  # installing twice is the same as once
            CONDITIONS.append((clause, check))
        return check

    return decorator


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def effective_ends(session: Session, grants: Sequence[Grant], now: dt.datetime) -> dict[int, End]:
    """Each grant's earliest end, by grant id (the grants must have been flushed)."""
    versions = versions_of(session, grants)
    candidates: dict[int, list[End]] = {}
    for grant in grants:
        ends = [End(grant.valid_until, CLAUSE_GRANT_END)]
        version = versions.get((grant.agreement_id, grant.agreement_version))
        if version is not None:
            ends.append(
                End(
                    midnight(version.expiry_date + dt.timedelta(days=1)),
                    CLAUSE_AGREEMENT_END,
                    f"The agreement's term ended on {version.expiry_date.isoformat()} "
                    f"(clause {CLAUSE_AGREEMENT_END}); access needs an amended or "
                    "new agreement.",
                )
            )
        candidates[grant.id] = ends
    for clause, check in CONDITIONS:
        for grant_id, (at, reason, *rule) in check(session, grants, now).items():
            candidates[grant_id].append(End(at, clause, reason, *rule))
    return {
        grant_id: min(ends, key=lambda e: (e.at, OWN_ENDS.get(e.clause, 2)))
        for grant_id, ends in candidates.items()
    }


def refresh(
    session: Session, grants: Sequence[Grant], *, by: Actor, now: dt.datetime
) -> list[Grant]:
    """Recompute the grants' effective ends; one epoch bump covers every grant whose end
    changed, in the caller's transaction. A paused grant whose conditions hold again resumes
    (recorded, and its holder told). Returns the grants whose end or status changed."""
    live = [g for g in grants if g.status in LIVE_GRANT_STATUSES]
    if not live:
        return []
    ends = effective_ends(session, live, now)
    changed = [g for g in live if _set_end(g, ends[g.id], now)]
    resumed = [g for g in live if g.status == GrantStatus.PAUSED and _ends(g) > now]
    touched = list(dict.fromkeys([*changed, *resumed]))
    if touched:
        epoch = bump_epoch(session)
        for grant in touched:
            grant.changed_epoch = epoch
    for grant in resumed:
        _move(
            session,
            grant,
            Action.RESUME,
            by=by,
            now=now,
            reason="the conditions it depends on hold again",
        )
        _tell(
            session,
            grant,
            "Your access has resumed",
            "The conditions your access depends on hold again, so the grant works again "
            f"until {_ends(grant):%Y-%m-%d %H:%M} UTC.",
        )
    return touched


def refresh_holder(session: Session, user_id: int, *, by: Actor, now: dt.datetime) -> int:
    """After a change to a person's own conditions (a training record): their live grants."""
    grants = list(
        session.scalars(
            select(Grant)
            .where(Grant.user_id == user_id, Grant.status.in_(LIVE_GRANT_STATUSES))
            .order_by(Grant.id)
        )
    )
    return len(refresh(session, grants, by=by, now=now))


def refresh_leaver(
    session: Session, user_id: int, *, by: Actor, now: dt.datetime, source: str
) -> int:
    """After a leaver was taken off the personnel lists (identity/leavers.py): their grants end
    by the personnel condition, so the next read is refused."""
    return refresh_holder(session, user_id, by=by, now=now)


def pause(session: Session, grant: Grant, *, by: Actor, now: dt.datetime) -> None:
    """A condition has lapsed: the grant stops (its lines already refuse) until it holds."""
    grant.changed_epoch = bump_epoch(session)
    _move(session, grant, Action.PAUSE, by=by, now=now, reason=grant.effective_reason)
    _tell(session, grant, "Your access is paused", grant.effective_reason)


def pause_lapsed_grants(session: Session, actor: System, now: dt.datetime) -> int:
    """Keep grant statuses truthful as conditions lapse and return: pause live grants a
    condition has ended, resume paused ones whose conditions hold again (a training dated to
    start later), and fill in the effective end of grants written before it was kept.
    Returns how many grants were paused or resumed."""
    unknown = session.scalars(
        select(Grant)
        .where(Grant.status.in_(LIVE_GRANT_STATUSES), Grant.effective_until.is_(None))
        .order_by(Grant.id)
    ).all()
    paused = session.scalars(
        select(Grant).where(Grant.status == GrantStatus.PAUSED).order_by(Grant.id)
    ).all()
    due = session.scalars(
        select(Grant)
        .where(
            Grant.status == GrantStatus.ACTIVE,
            Grant.effective_until <= now,
            Grant.effective_clause.not_in(list(OWN_ENDS)),
        )
        .order_by(Grant.id)
    ).all()
    changed = 0
    for batch in _batches([*unknown, *paused, *due]):
        before = {g.id: g.status for g in batch}
        refresh(session, batch, by=actor, now=now)
        changed += sum(1 for g in batch if g.status != before[g.id])
    for grant in list(dict.fromkeys([*unknown, *due])):
        if (
            grant.status == GrantStatus.ACTIVE
            and _ends(grant) <= now
            and grant.effective_clause not in OWN_ENDS
        ):
            pause(session, grant, by=actor, now=now)
            changed += 1
    return changed


def _batches(grants: Sequence[Grant]) -> Iterable[list[Grant]]:
    unique = list(dict.fromkeys(grants))
    for start in range(0, len(unique), BATCH):
        yield unique[start : start + BATCH]


def _ends(grant: Grant) -> dt.datetime:
    return grant.valid_until if grant.effective_until is None else grant.effective_until


def _set_end(grant: Grant, end: End, now: dt.datetime) -> bool:
    same = (grant.effective_clause, grant.effective_reason, grant.effective_rule or "")
    if same == (end.clause, end.reason, end.rule) and (
        grant.effective_until == end.at
        or (grant.effective_until is not None and grant.effective_until <= now and end.at <= now)
    ):
        # Unchanged, or ended in the past for the same reason: a condition that never held
        # ends "now" at every look, and rewriting it would reload the grant everywhere.
        return False
    grant.effective_until, grant.effective_clause = end.at, end.clause
    grant.effective_reason, grant.effective_rule = end.reason, end.rule
    return True


def _move(
    session: Session, grant: Grant, action: Action, *, by: Actor, now: dt.datetime, reason: str
) -> None:
    LIFECYCLE.apply(
        session,
        grant,
        action,
        by=by,
        record={
            "agreement_id": grant.agreement_id,
            "agreement_version": grant.agreement_version,
            "dataset_id": grant.dataset_id,
            "target_type": "grant",
            "target_id": grant.id,
            "clause": grant.effective_clause,
            "now": now,
            "detail": {
                "user_id": grant.user_id,
                "columns": grant.column_names,
                "effective_until": _ends(grant).isoformat(),
                "reason": reason,
            },
        },
    )


def _tell(session: Session, grant: Grant, subject: str, text: str) -> None:
    """The holder and the dataset's stewards (who would otherwise see a request again)."""
    holder = session.get(User, grant.user_id)
    dataset = session.get(Dataset, grant.dataset_id)
    agreement = session.get(Agreement, grant.agreement_id)
    stewards = [] if dataset is None else [session.get(User, i) for i in dataset.steward_ids]
    addresses = [u.email for u in [holder, *stewards] if u is not None and u.active]
    where = (
        f"grant #{grant.id} on {dataset.name if dataset else 'a dataset'} under "
        f"{agreement.reference if agreement else 'an agreement'}"
    )
    notify.queue(
        session,
        to=addresses,
        subject=f"{SUBJECT_PREFIX} {subject}: {where}",
        body=f"{subject}: {where}.\n\n{text}\n\nOpen the grant: "
        f"{notify.link(session, f'/access/grants/{grant.id}')}",
    )


def versions_of(
    session: Session,
    grants: Sequence[Grant],
) -> dict[tuple[int, int], AgreementVersion]:
    keys = {(g.agreement_id, g.agreement_version) for g in grants}
    if not keys:
        return {}
    found = session.scalars(
        select(AgreementVersion).where(
            tuple_(AgreementVersion.agreement_id, AgreementVersion.number).in_(sorted(keys))
        )
    )
    return {(v.agreement_id, v.number): v for v in found}


# --- the conditions ----------------------------------------------------------------------


def covered_until(periods: Iterable[tuple[Moment, Moment]], day: Moment) -> Moment | None:
    """The first day on or after `day` that no training period covers, when `day` itself is
    covered (a period covers completed_on <= d < expires_on, as `TrainingRecord.current_on`);
    None when `day` is not covered. Back-to-back and overlapping renewals join up. Works the
    same on moments (ethics approvals in force from the moment they were recorded)."""
    end = day
    for start, stop in sorted(periods):
        if start <= end < stop:
            end = stop
    return end if end != day else None


def training_end(
    periods: Sequence[tuple[dt.date, dt.date]], course: TrainingCourse, now: dt.datetime
) -> tuple[dt.datetime, str]:
    """When the person's training in `course` stops being current, and what they are told."""
    until = covered_until(periods, now.date())
    label = course.label
    todo = (
        "Renew the training and ask an administrator or compliance manager to record "
        "it: your access resumes as soon as it is recorded, without a new request."
    )
    if until is not None:
        return midnight(until), (
            f"Your {label} expired on {until.isoformat()}, and the "
            f"agreement requires it (clause {CLAUSE_TRAINING}). {todo}"
        )
    lapsed = [stop for start, stop in periods if stop <= now.date()]
    if lapsed:
        last = max(lapsed)
        return midnight(last), (
            f"Your {label} expired on {last.isoformat()}, and the "
            f"agreement requires it (clause {CLAUSE_TRAINING}). {todo}"
        )
    return now, (
        f"You have no current {label}, which the agreement requires (clause "
        f"{CLAUSE_TRAINING}). {todo}"
    )


@condition(CLAUSE_TRAINING)
def required_training(
    session: Session, grants: Sequence[Grant], now: dt.datetime
) -> dict[int, Lapse]:
    """The holder's training in every course the agreement's laws require (CJIS, HIPAA...).
    A record whose seal does not hold (written outside the application: access/seals.py)
    counts for nothing; a grant it would have kept working stops under rule `training-seal`."""
    versions = versions_of(session, grants)
    periods: dict[tuple[int, str], list[tuple[dt.date, dt.date]]] = defaultdict(list)
    rows = session.execute(
        select(*seals.TRAINING_FIELDS, TrainingRecord.seal).where(
            TrainingRecord.user_id.in_({g.user_id for g in grants})
        )
    )
    key = seals.ring(session)
    broken: dict[tuple[int, str], list[int]] = defaultdict(list)
    for row in rows:
        if seals.training_seal_holds(key, row):
            periods[(row.user_id, str(row.course))].append((row.completed_on, row.expires_on))
        else:
            broken[(row.user_id, str(row.course))].append(row.id)
    ends: dict[int, Lapse] = {}
    for grant in grants:
        version = versions.get((grant.agreement_id, grant.agreement_version))
        if version is None:
            continue
        for course in sorted(version.required_courses()):
            end = _sealed_training_end(
                periods[(grant.user_id, course.value)],
                broken.get((grant.user_id, course.value), []),
                course,
                now,
            )
            if grant.id not in ends or end[0] < ends[grant.id][0]:
                ends[grant.id] = end
    return ends


def _sealed_training_end(
    periods: Sequence[tuple[dt.date, dt.date]],
    broken: Sequence[int],
    course: TrainingCourse,
    now: dt.datetime,
) -> Lapse:
    """`training_end` over the sealed records; when they leave the course lapsed while a
    record that fails its seal exists, the end says so, under rule `training-seal`."""
    at, reason = training_end(periods, course, now)
    if not broken or at > now:
        return at, reason
    log.critical(
        "training record(s) %s fail their seal check (rule %s): counted for no grant",
        ", ".join(str(i) for i in broken),
        seals.TRAINING_SEAL_RULE,
    )
    return (
        at,
        (
            f"Your {course.label} record fails its integrity check (it was written or changed "
            f"outside the service), so it does not count, and the agreement requires it (clause "
            f"{CLAUSE_TRAINING}). Ask an administrator or compliance manager to record your "
            "training again."
        ),
        seals.TRAINING_SEAL_RULE,
    )
