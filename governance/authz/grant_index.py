"""Each process's view of the live grants, kept fresh by the policy epoch.

Plain Casbin scans every policy line on every check, so its cost grows with the number of
grants (about 90 ms per check at 100,000 lines here). This index hands Casbin only the lines
that can match a request: those of one (user, agreement, column, action). Before every
decision the epoch is read in the deciding transaction; if another process changed a grant
since this process last looked, the changed grants are reloaded first. A grant revoked in one
process therefore stops working in every process at its next decision.

A line's `until` is the grant's effective end: the earliest of its own end, its agreement's
end and the ends of the conditions it depends on (access/conditions.py keeps it, and
bumps the epoch whenever a condition changes). Checking every condition at each read therefore
costs the decision nothing more than checking the grant's own end.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy.orm import Session

from governance.authz import identifiers as ids
from governance.authz.actions import DataAction
from governance.authz.read_memo import ReadMemo, seen_epoch
from governance.kernel.installed import Installed

LineKey = tuple[str, str, str, str]
PolicyLine = tuple[str, str, str, str, str, str, str]
GRANT_END_CLAUSE = "access.valid_until"
#: The rule a read is refused under when a grant that would decide it fails its seal check.
GRANT_SEAL_RULE = "grant-seal"
#: The rule when the grant's seal holds but the audit trail contradicts its row (a row put back
#: to an earlier sealed state: access/trail_check.py).
GRANT_TRAIL_RULE = "grant-trail"
NO_COLUMNS: frozenset[str] = frozenset()


@dataclass(frozen=True)
class GrantEntry:
    id: int
    user_id: int
    agreement_id: int
    agreement_version: int
    dataset_id: int
    purpose: str
    valid_until: dt.datetime
    actions: tuple[DataAction, ...]
    columns: frozenset[str]
    # The effective end (None: the grant's own end) and the clause that sets it, with what the
    # holder is told when a read comes after it.
    until: dt.datetime | None = None
    until_clause: str = GRANT_END_CLAUSE
    until_reason: str = ""
    # The rule that set the effective end, when one did (`training-seal`).
    until_rule: str = ""
    # Columns granted as direct identifiers (the classification recorded with the grant).
    identifiers: frozenset[str] = NO_COLUMNS
    # Columns granted in another form than stored: (column, form, data key id or "").
    forms: tuple[tuple[str, str, str], ...] = ()
    # False when the grant's seal does not hold (written outside the application) or the audit
    # trail contradicts it: it is kept so that a refusal can name it, but it has no lines, so
    # it allows nothing. `broken_rule` names which check it failed.
    sealed: bool = True
    broken_rule: str = GRANT_SEAL_RULE

    @property
    def rule(self) -> str:
        return ids.grant_rule(self.id)

    @property
    def ends_at(self) -> dt.datetime:
        """The moment the grant stops working: the `until` of its lines."""
        return self.valid_until if self.until is None else self.until

    def lines(self) -> Iterator[tuple[LineKey, PolicyLine]]:
        if not self.sealed:
            return
        sub, dom = ids.subject(self.user_id), ids.domain(self.agreement_id)
        until = ids.time_token(self.ends_at)
        purpose = ids.purpose_token(self.purpose)
        for column in sorted(self.columns):
            obj = ids.column_object(self.dataset_id, column)
            for action in self.actions:
                yield (
                    (sub, dom, obj, action.value),
                    (sub, dom, obj, action.value, purpose, until, self.rule),
                )


# Reads the grants changed after an epoch (all live grants on first load, since < 0), each with
# its entry or None when it no longer works. The grants are access's tables, above authz, so the
# registry installs the loader (governance/access/live_grants.py).
GrantLoader = Callable[[Session, int], list[tuple[int, GrantEntry | None]]]
_loader: Installed[GrantLoader] = Installed("No grant loader is installed: build the app first.")
install_loader = _loader.install


class GrantIndex:
    """Live grants of one database, by the (subject, domain, object, action) they match."""

    def __init__(self) -> None:
        self.epoch = -1
        self._lines: dict[LineKey, tuple[PolicyLine, ...]] = {}
        self._entries: dict[int, GrantEntry] = {}
        self._by_rule: dict[str, GrantEntry] = {}
        self._by_scope: dict[tuple[int, int, int], frozenset[int]] = {}
        self._lock = threading.Lock()
        # What reads look up besides the grants, behind the same epoch (read_memo.py).
        self.memo = ReadMemo()

    def ensure_fresh(self, session: Session) -> None:
        current = seen_epoch(session)
        if current == self.epoch:
            return
        with self._lock:
            if current != self.epoch:
                self._apply(_loader.get()(session, self.epoch))
                self.epoch = current

    def lines(self, key: LineKey) -> tuple[PolicyLine, ...]:
        return self._lines.get(key, ())

    def granted_by(self, rule: str) -> GrantEntry:
        """The grant behind a rule a matched line named (the line came from this index)."""
        return self._by_rule[rule]

    def grants_for(self, user_id: int, agreement_id: int, dataset_id: int) -> list[GrantEntry]:
        found = self._by_scope.get((user_id, agreement_id, dataset_id), frozenset())
        return [self._entries[grant_id] for grant_id in sorted(found)]

    def all_lines(self) -> list[PolicyLine]:
        return [line for lines in self._lines.values() for line in lines]

    def __len__(self) -> int:
        return len(self._entries)

    def _apply(self, changes: Iterable[tuple[int, GrantEntry | None]]) -> None:
        for grant_id, entry in changes:
            self._remove(grant_id)
            if entry is not None:
                self._add(entry)

    def _add(self, entry: GrantEntry) -> None:
        self._entries[entry.id] = entry
        self._by_rule[entry.rule] = entry
        scope = (entry.user_id, entry.agreement_id, entry.dataset_id)
        self._by_scope[scope] = self._by_scope.get(scope, frozenset()) | {entry.id}
        for key, line in entry.lines():
            # Replace the tuple rather than mutate it: readers in other threads may hold it.
            self._lines[key] = (*self._lines.get(key, ()), line)

    def _remove(self, grant_id: int) -> None:
        entry = self._entries.pop(grant_id, None)
        if entry is None:
            return
        self._by_rule.pop(entry.rule, None)
        scope = (entry.user_id, entry.agreement_id, entry.dataset_id)
        remaining = self._by_scope.get(scope, frozenset()) - {grant_id}
        if remaining:
            self._by_scope[scope] = remaining
        else:
            self._by_scope.pop(scope, None)
        for key, line in entry.lines():
            kept = tuple(existing for existing in self._lines.get(key, ()) if existing != line)
            if kept:
                self._lines[key] = kept
            else:
                self._lines.pop(key, None)
