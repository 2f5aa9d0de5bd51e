"""The live evidence behind each control of the controls report: measures computed from the
database for the audit period (counts of decisions and refusals, the chain's last checkpoint
and whether it verifies, the last certification campaign, training currency, key rotations,
encryption of stored files). The catalogue (policies/controls.toml) names them; each returns
one sentence, with its figures, for the PDF and the CSV.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.access.models import LIVE_GRANT_STATUSES, Grant
from governance.access.training_report import training_lines
from governance.audit.models import (
    AuditCheckpoint,
    AuditEvent,
    AuditHead,
    AuditType,
    Outcome,
    of_type,
    with_outcome,
)
from governance.audit.verify import Verification
from governance.compliance.models import PeriodStatus
from governance.compliance.periods import latest_campaign
from governance.datasets.models import DatasetVersion
from governance.kernel import keys


@dataclass(frozen=True)
class Window:
    """What a measure needs: the period [since, until), the moment and the verification."""

    since: dt.datetime
    until: dt.datetime
    now: dt.datetime
    verification: Verification | None
    settings: Mapping[str, Any]


Measure = Callable[[Session, Window], str]


def count_events(
    session: Session, window: Window, types: Iterable[AuditType], outcome: Outcome | None = None
) -> int:
    query = select(func.count()).where(
        of_type(*types),
        AuditEvent.occurred_at >= window.since,
        AuditEvent.occurred_at < window.until,
    )
    if outcome is not None:
        query = query.where(with_outcome(outcome))
    return int(session.scalar(query) or 0)


def reads(session: Session, window: Window) -> tuple[int, int]:
    reads = (AuditType.DATASET_READ, AuditType.DATASET_DOWNLOAD, AuditType.COHORT_READ)
    return (
        count_events(session, window, reads, Outcome.ALLOWED),
        count_events(session, window, reads, Outcome.DENIED),
    )


def decisions(session: Session, window: Window) -> str:
    allowed, denied = reads(session, window)
    return (
        f"{allowed + denied:,} decisions on reads of dataset rows: {allowed:,} allowed, "
        f"{denied:,} refused."
    )


def denials(session: Session, window: Window) -> str:
    refused = int(
        session.scalar(
            select(func.count()).where(
                with_outcome(Outcome.DENIED),
                AuditEvent.occurred_at >= window.since,
                AuditEvent.occurred_at < window.until,
            )
        )
        or 0
    )
    return f"{refused:,} refused actions recorded (every kind)."


def grants(session: Session, window: Window) -> str:
    live = int(
        session.scalar(select(func.count()).where(Grant.status.in_(LIVE_GRANT_STATUSES))) or 0
    )
    made = count_events(session, window, [AuditType.GRANT_CREATE])
    narrowed = count_events(session, window, [AuditType.GRANT_NARROW])
    revoked = count_events(session, window, [AuditType.GRANT_REVOKE])
    return (
        f"{live:,} grants in force now; in the period {made:,} granted, {narrowed:,} narrowed, "
        f"{revoked:,} revoked."
    )


def certification(session: Session, window: Window) -> str:
    period = latest_campaign(session)
    if period is None:
        return "No access certification campaign has been run."
    counts = Counter(str(item.status) for item in period.items)
    overdue = sum(1 for item in period.items if item.overdue(window.now))
    state = "closed" if period.status == PeriodStatus.CLOSED else "in progress"
    deadline = f"{period.certify_by:%Y-%m-%d}" if period.certify_by else "none"
    parts = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("confirmed", "narrowed", "revoked"))
    return (
        f"Last campaign '{period.name}' ({state}, deadline {deadline}): {len(period.items)} "
        f"grants; {parts}; {counts.get('pending', 0)} undecided, {overdue} overdue."
    )


def training(session: Session, window: Window) -> str:
    lines = training_lines(session, today=window.now.date())
    counts = {
        s: sum(1 for line in lines if line.status == s)
        for s in ("current", "lapses_soon", "lapsed")
    }
    return (
        f"{len(lines):,} required trainings of authorised people: {counts['current']:,} "
        f"current, {counts['lapses_soon']:,} lapse within 90 days, {counts['lapsed']:,} lapsed."
    )


def sign_in(session: Session, window: Window) -> str:
    logins = count_events(session, window, [AuditType.LOGIN])
    failed = count_events(session, window, [AuditType.LOGIN_FAILED])
    throttled = count_events(session, window, [AuditType.LOGIN_THROTTLED])
    locked = count_events(session, window, [AuditType.LOCKOUT])
    return (
        f"{logins:,} sign-ins, {failed:,} failed, {throttled:,} throttled, "
        f"{locked:,} accounts locked."
    )


def sessions(session: Session, window: Window) -> str:
    ended = count_events(session, window, [AuditType.SESSIONS_END])
    changed = count_events(session, window, [AuditType.PASSWORD_CHANGE, AuditType.PASSWORD_RESET])
    tokens = count_events(session, window, [AuditType.TOKEN_CREATE])
    revoked = count_events(session, window, [AuditType.TOKEN_REVOKE])
    return (
        f"{ended:,} sign-outs everywhere, {changed:,} password changes or resets, "
        f"{tokens:,} API tokens created and {revoked:,} revoked."
    )


def role_changes(session: Session, window: Window) -> str:
    asked = count_events(session, window, [AuditType.ROLE_REQUEST])
    approved = count_events(session, window, [AuditType.ROLE_APPROVE])
    rejected = count_events(session, window, [AuditType.ROLE_REJECT])
    return (
        f"{asked:,} role changes asked for, {approved:,} approved by a second administrator, "
        f"{rejected:,} rejected."
    )


def audit_chain(session: Session, window: Window) -> str:
    head = session.get(AuditHead, 1)
    checkpoint = session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
    ).first()
    last = (
        f"last signed checkpoint seq={checkpoint.seq} at {checkpoint.created_at:%Y-%m-%d %H:%M} "
        f"UTC (key {checkpoint.key_id})"
        if checkpoint
        else "no signed checkpoint yet"
    )
    verified = (
        "not verified for this report"
        if window.verification is None
        else "the whole chain verifies"
        if window.verification.intact
        else "VERIFICATION FAILED: " + window.verification.summary()
    )
    seq = head.seq if head else 0
    line = f"Chain of {seq:,} events; {last}; {verified}."
    if window.verification is not None and window.verification.intact:
        line += " " + window.verification.witnesses.statement()
    return line


def audit_reviews(session: Session, window: Window) -> str:
    searches = count_events(session, window, [AuditType.AUDIT_SEARCH])
    exports = count_events(session, window, [AuditType.AUDIT_EXPORT, AuditType.AUDIT_REPORT])
    verified = count_events(session, window, [AuditType.AUDIT_VERIFY])
    return (
        f"{searches:,} audit searches, {exports:,} exports and reports, {verified:,} verifications."
    )


def key_rotation(session: Session, window: Window) -> str:
    rings = keys.rings_of(session)
    parts = []
    for purpose in (keys.KeyPurpose.AUDIT, keys.KeyPurpose.DATA):
        last = _last_rotation(session, str(purpose))
        when = f"last rotated {last:%Y-%m-%d}" if last else "never rotated"
        parts.append(f"{purpose} key {rings.of(purpose).current_id} ({when})")
    return "; ".join(parts) + "."


def _last_rotation(session: Session, purpose: str) -> dt.datetime | None:
    last: dt.datetime | None = None
    for occurred_at, detail in session.execute(
        select(AuditEvent.occurred_at, AuditEvent.detail).where(of_type(AuditType.KEY_ROTATE))
    ):
        if detail.get("purpose") == purpose:
            last = occurred_at if last is None else max(last, occurred_at)
    return last


def encryption_at_rest(session: Session, window: Window) -> str:
    stored = session.execute(
        select(DatasetVersion.wrapping_key_id, func.count())
        .where(DatasetVersion.destroyed_at.is_(None))
        .group_by(DatasetVersion.wrapping_key_id)
    ).all()
    total = sum(count for _, count in stored)
    per_file = sum(count for key_id, count in stored if key_id)
    wrapping = sorted({key_id for key_id, _ in stored if key_id})
    return (
        f"{total:,} stored dataset files, all encrypted; {per_file:,} under their own file key "
        f"wrapped by data key(s) {', '.join(wrapping) or 'none'}."
    )


def downloads(session: Session, window: Window) -> str:
    kinds = [AuditType.DATASET_DOWNLOAD, AuditType.ANALYSIS_DOWNLOAD, AuditType.OUTPUT_DOWNLOAD]
    allowed = count_events(session, window, kinds, Outcome.ALLOWED)
    denied = count_events(session, window, kinds, Outcome.DENIED)
    return f"{allowed:,} downloads allowed and {denied:,} refused."


def destruction(session: Session, window: Window) -> str:
    destroyed = count_events(session, window, [AuditType.DATASET_DESTROY])
    certified = count_events(
        session,
        window,
        [AuditType.DATASET_CERTIFY_DESTRUCTION, AuditType.AGREEMENT_CLOSE],
    )
    return f"{destroyed:,} stored files destroyed and {certified:,} destructions certified."


def transport(session: Session, window: Window) -> str:
    base = str(window.settings.get("BASE_URL", ""))
    secure = window.settings.get("SESSION_COOKIE_SECURE", "auto")
    scheme = base.split(":", 1)[0] if base else "unset"
    return f"BASE_URL scheme {scheme}; session cookie HTTPS-only setting: {secure}."


MEASURES: dict[str, Measure] = {
    "decisions": decisions,
    "denials": denials,
    "grants": grants,
    "certification": certification,
    "training": training,
    "sign_in": sign_in,
    "sessions": sessions,
    "role_changes": role_changes,
    "audit_chain": audit_chain,
    "audit_reviews": audit_reviews,
    "key_rotation": key_rotation,
    "encryption_at_rest": encryption_at_rest,
    "downloads": downloads,
    "destruction": destruction,
    "transport": transport,
}
