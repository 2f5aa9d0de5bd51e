"""Runs refused one after another for differencing or a too-small population open an incident.

Whether a run is refused says something about people it did not release: an analyst who
submits a released cohort plus one person learns from the refusal whether that person has a
record (docs/decisions/analysis-ledger.md, "A refusal is itself an answer"). The checks cannot
deny that answer without refusing most honest re-runs, so every refusal is recorded
(`analysis:refuse`, with its reason) and this periodic job reads those records: when one
person's refusals of those kinds under one agreement reach `PROBE_ALERT_REFUSALS` within
`PROBE_ALERT_DAYS`, it opens an incident naming the person, the agreement and the runs, and
tells the privacy officers, who look at the runs and may freeze the agreement. Refusals that
opened an incident do not count towards the next one, so a burst opens one incident and a
later burst another.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType, Outcome, of_type, with_outcome
from governance.identity.actors import System
from governance.identity.models import User
from governance.incidents.alerts import Alert, followed_targets, open_alert
from governance.kernel.config import SETTINGS_BY_NAME

TARGET_TYPE = "analysis_probing"
# The engine's refusals that depend on who is in the data (analysis/provenance.py
# REFUSAL_CLAUSES): the differencing ledger and the minimum cohort size.
PROBING_REASONS = frozenset({"differencing", "cohort_too_small"})


def _threshold(session: Session) -> tuple[int, dt.timedelta]:
    settings: Mapping[str, Any] = session.info.get("settings") or {}

    def setting(name: str) -> int:  # the declared default where the session carries none
        return int(settings.get(name) or SETTINGS_BY_NAME[name].default)

    return setting("PROBE_ALERT_REFUSALS"), dt.timedelta(days=setting("PROBE_ALERT_DAYS"))


def _counted_through(session: Session) -> dict[tuple[int, int], int]:
    """(person, agreement) -> the last refusal an incident was already opened for."""
    through: dict[tuple[int, int], int] = {}
    for target in followed_targets(session, TARGET_TYPE):
        person, agreement, seq = (int(part) for part in target.split(":"))
        through[(person, agreement)] = max(seq, through.get((person, agreement), 0))
    return through


def open_from_probing(session: Session, actor: System, now: dt.datetime) -> int:
    """Open an incident for each person and agreement whose refused runs (differencing, too
    small a population) reached the threshold within the period; returns how many."""
    refusals, period = _threshold(session)
    refused = session.scalars(
        select(AuditEvent)
        .where(
            of_type(AuditType.ANALYSIS_REFUSE),
            with_outcome(Outcome.DENIED),
            AuditEvent.occurred_at >= now - period,
            AuditEvent.actor_id.is_not(None),
            AuditEvent.agreement_id.is_not(None),
        )
        .order_by(AuditEvent.seq)
    )
    through = _counted_through(session)
    bursts: dict[tuple[int, int], list[AuditEvent]] = defaultdict(list)
    for event in refused:
        pair = (int(event.actor_id or 0), int(event.agreement_id or 0))
        if event.detail.get("reason") in PROBING_REASONS and event.seq > through.get(pair, 0):
            bursts[pair].append(event)
    opened = 0
    for (person, agreement), events in sorted(bursts.items()):
        if len(events) < refusals:
            continue
        runs = [int(e.target_id) for e in events if e.target_id and e.target_id.isdigit()]
        last = events[-1].seq
        who = session.get(User, person)
        alert = Alert(
            TARGET_TYPE,
            f"{person}:{agreement}:{last}",
            f"{len(events)} analysis runs by {who.email if who else f'person {person}'} under "
            f"agreement {agreement} were "
            f"refused for differencing or too small a population within "
            f"{period.days} days (runs {', '.join(str(r) for r in runs)}). Each such refusal "
            "tells whether someone has a record: look at what the runs asked for.",
            [agreement],
            check=AuditType.ANALYSIS_REFUSE.value,
            rule="analysis-probing",
            detail={"user_id": person, "runs": runs, "through_seq": last},
            user_ids=[person],
        )
        open_alert(session, alert, actor, now)
        opened += 1
    return opened
