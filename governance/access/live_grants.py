"""What the grant index (authz/grant_index.py) reads of the grants: each grant changed after a
policy epoch, as the entry its Casbin lines are made from.

It lives with the grants rather than with the door because authz sits below access; the
registry hands `load_changes` to the index.
"""

from __future__ import annotations

import logging
import sys

from sqlalchemy.orm import Session

from governance.access import seals, trail_check
from governance.access.models import LIVE_GRANT_STATUSES, Grant
from governance.authz.actions import DataAction
from governance.authz.grant_index import (
    GRANT_END_CLAUSE,
    GRANT_SEAL_RULE,
    GRANT_TRAIL_RULE,
    NO_COLUMNS,
    GrantEntry,
)
from governance.datasets.models import Classification

log = logging.getLogger(__name__)


def load_changes(session: Session, since: int) -> list[tuple[int, GrantEntry | None]]:
    """Grants changed after `since` (all live grants on first load), with their columns. A
    live grant whose seal does not hold (written outside the application: access/seals.py)
    comes back as an entry that allows nothing (`sealed=False`), so a refusal can name it; so
    does one whose row the audit trail contradicts (`broken_rule` "grant-trail")."""
    query = seals.grant_rows()
    query = (
        query.where(Grant.status.in_(LIVE_GRANT_STATUSES))
        if since < 0
        else query.where(Grant.changed_epoch > since)
    )
    key = seals.ring(session)
    changes: list[tuple[int, GrantEntry | None]] = []
    loaded = seals.grouped(session.execute(query))
    live = {i: found for i, found in loaded.items() if found[0].status in LIVE_GRANT_STATUSES}
    # One query on the trail for every grant loaded: a row put back to an earlier sealed state
    # passes its seal but not the trail (access/trail_check.py).
    contradicted = trail_check.contradicted(session, live)
    for grant_id, (row, rows) in loaded.items():
        if grant_id not in live:
            changes.append((grant_id, None))
            continue
        sealed = seals.grant_seal_holds(key, row, rows)
        broken_rule = GRANT_SEAL_RULE
        if not sealed:
            log.critical(
                "grant %s fails its seal check (rule %s): it was written outside the "
                "application and allows nothing",
                grant_id,
                GRANT_SEAL_RULE,
            )
        elif grant_id in contradicted:
            sealed, broken_rule = False, GRANT_TRAIL_RULE
            log.critical(
                "grant %s contradicts the audit trail (rule %s): %s; it was put back to an "
                "earlier state outside the application and allows nothing",
                grant_id,
                GRANT_TRAIL_RULE,
                contradicted[grant_id],
            )
        columns = {c.column_name for c in rows}
        identifiers = {
            c.column_name for c in rows if c.classification == Classification.DIRECT_IDENTIFIER
        }
        forms = [(c.column_name, str(c.form), c.form_key_id or "") for c in rows if c.form]
        changes.append(
            (
                grant_id,
                GrantEntry(
                    id=grant_id,
                    user_id=row.user_id,
                    agreement_id=row.agreement_id,
                    agreement_version=row.agreement_version,
                    dataset_id=row.dataset_id,
                    purpose=row.purpose,
                    valid_until=row.valid_until,
                    actions=(DataAction.READ, DataAction.DOWNLOAD)
                    if row.allow_download
                    else (DataAction.READ,),
                    columns=frozenset(columns),
                    until=row.effective_until,
                    # Interned: a hundred thousand grants share a handful of clauses and reasons.
                    until_clause=sys.intern(row.effective_clause or GRANT_END_CLAUSE),
                    until_reason=sys.intern(row.effective_reason or ""),
                    until_rule=sys.intern(row.effective_rule or ""),
                    identifiers=frozenset(identifiers) if identifiers else NO_COLUMNS,
                    forms=tuple(sorted(forms)),
                    sealed=sealed,
                    broken_rule=broken_rule,
                ),
            )
        )
    return changes
