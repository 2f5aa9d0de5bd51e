"""What the grant index (authz/grant_index.py) reads of the grants: each grant changed after a
policy epoch, as the entry its Casbin lines are made from.

It lives with the grants rather than with the door because authz sits below access; the
registry hands `load_changes` to the index.
"""

from __future__ import annotations

import sys
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access.models import LIVE_GRANT_STATUSES, Grant, GrantColumn
from governance.authz.actions import DataAction
from governance.authz.grant_index import GRANT_END_CLAUSE, NO_COLUMNS, GrantEntry
from governance.datasets.models import Classification


def load_changes(session: Session, since: int) -> list[tuple[int, GrantEntry | None]]:
    """Grants changed after `since` (all live grants on first load), with their columns."""
    query = (
        select(
            Grant.id,
            Grant.user_id,
            Grant.agreement_id,
            Grant.agreement_version,
            Grant.dataset_id,
            Grant.purpose,
            Grant.valid_until,
            Grant.allow_download,
            Grant.status,
            Grant.effective_until,
            Grant.effective_clause,
            Grant.effective_reason,
            GrantColumn.column_name,
            GrantColumn.classification,
            GrantColumn.form,
            GrantColumn.form_key_id,
        )
        .join(GrantColumn, GrantColumn.grant_id == Grant.id, isouter=True)
        .order_by(Grant.id)
    )
    query = (
        query.where(Grant.status.in_(LIVE_GRANT_STATUSES))
        if since < 0
        else query.where(Grant.changed_epoch > since)
    )
    grouped: dict[int, tuple[Any, set[str], set[str], list[tuple[str, str, str]]]] = {}
    for row in session.execute(query):
        _, columns, identifiers, forms = grouped.setdefault(row.id, (row, set(), set(), []))
        if row.column_name is not None:
            columns.add(row.column_name)
            if row.classification == Classification.DIRECT_IDENTIFIER:
                identifiers.add(row.column_name)
            if row.form:
                forms.append((row.column_name, str(row.form), row.form_key_id or ""))
    changes: list[tuple[int, GrantEntry | None]] = []
    for grant_id, (row, columns, identifiers, forms) in grouped.items():
        if row.status not in LIVE_GRANT_STATUSES:
            changes.append((grant_id, None))
            continue
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
                    identifiers=frozenset(identifiers) if identifiers else NO_COLUMNS,
                    forms=tuple(sorted(forms)),
                ),
            )
        )
    return changes
