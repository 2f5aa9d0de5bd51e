"""Saved searches of the audit trail: the checks a compliance manager repeats, one click away.

Each person keeps their own, by name; a few presets are offered to everyone who may search the
trail ("denials in the last 7 days", "exports this month", "reads of direct identifiers").
A search is kept as the query string of its filters, so running it again is the same page as
typing the filters again. Saving and deleting one is recorded in the trail.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.audit import service as audit
from governance.audit.models import AuditType, SavedSearch
from governance.audit.queries import FILTER_FIELDS
from governance.authz import Permission
from governance.kernel.errors import Conflict, NotFound, ValidationFailed
from governance.kernel.text import clean_line
from governance.kernel.types import utcnow

if TYPE_CHECKING:
    from governance.identity.actors import Actor  # who acts: a type only, audit knows no noun

MAX_SAVED = 50  # per person


@dataclass(frozen=True)
class Preset:
    name: str
    query: str


def presets(today: dt.date | None = None) -> list[Preset]:
    """The checks offered to everyone, with their dates worked out for today (UTC)."""
    day = today or utcnow().date()
    week_ago = day - dt.timedelta(days=7)
    month_start = day.replace(day=1)
    return [
        Preset("Denials in the last 7 days", urlencode({"since": week_ago, "outcome": "denied"})),
        Preset("Exports this month", urlencode({"since": month_start, "kind": "exports"})),
        Preset("Reads of direct identifiers", urlencode({"kind": "identifier_reads"})),
        Preset("Failed sign-ins", urlencode({"event_type": AuditType.LOGIN_FAILED.value})),
    ]


def _require(by: Actor, event_type: AuditType, detail: dict[str, object]) -> None:
    authz.require(
        by,
        Permission.AUDIT_READ,
        audit={"event_type": event_type, "target_type": "saved_search", "detail": detail},
    )


def list_saved(session: Session, *, by: Actor) -> list[SavedSearch]:
    """The person's own saved searches, by name (none for those who may not search)."""
    if by.id is None or not authz.can(by, Permission.AUDIT_READ):
        return []
    query = select(SavedSearch).where(SavedSearch.owner_id == by.id).order_by(SavedSearch.name)
    return list(session.scalars(query))


def _clean_query(query: str) -> str:
    """Keep only the filters (no paging, no stray parameters), in their usual order."""
    pairs = dict(parse_qsl(query.lstrip("?"), keep_blank_values=False))
    kept = {key: pairs[key].strip() for key in FILTER_FIELDS if pairs.get(key, "").strip()}
    return urlencode(kept)


def save(session: Session, *, name: str, query: str, by: Actor) -> SavedSearch:
    """Keep the filters of `query` under `name` for `by`; the caller commits."""
    errors: dict[str, str] = {}
    title = clean_line(name, "name", errors, max_length=80)
    filters = _clean_query(query)
    detail: dict[str, object] = {"name": title, "query": filters}
    _require(by, AuditType.AUDIT_SEARCH_SAVE, detail)
    if not filters:
        errors["query"] = "Choose at least one filter before saving a search."
    if len(filters) > 2000:
        errors["query"] = "These filters are too long to save."
    if errors:
        raise ValidationFailed("The search could not be saved.", errors)
    mine = list_saved(session, by=by)
    if any(saved.name.lower() == title.lower() for saved in mine):
        raise Conflict(f"You already have a saved search named “{title}”.")
    if len(mine) >= MAX_SAVED:
        raise Conflict(f"You can keep {MAX_SAVED} saved searches; delete one first.")
    if by.id is None:
        raise ValidationFailed("Only a person can save a search.")
    saved = SavedSearch(owner_id=by.id, name=title, query=filters, created_at=utcnow())
    session.add(saved)
    session.flush()
    audit.record(
        session,
        AuditType.AUDIT_SEARCH_SAVE,
        by=by,
        target_type="saved_search",
        target_id=saved.id,
        detail=detail,
    )
    return saved


def delete(session: Session, search_id: int, *, by: Actor) -> None:
    """Delete one of `by`'s own saved searches; someone else's is as absent as a missing one."""
    detail: dict[str, object] = {"saved_search": search_id}
    _require(by, AuditType.AUDIT_SEARCH_DELETE, detail)
    saved = session.get(SavedSearch, search_id)
    if saved is None or saved.owner_id != by.id:
        raise NotFound("There is no such saved search of yours.")
    audit.record(
        session,
        AuditType.AUDIT_SEARCH_DELETE,
        by=by,
        target_type="saved_search",
        target_id=saved.id,
        detail={**detail, "name": saved.name, "query": saved.query},
    )
    session.delete(saved)
