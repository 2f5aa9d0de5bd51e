"""The audit search's rows, each drawn once per process for an event as it is shown.

Drawing 50 rows (the sentence, the detail list, the names) was about half of a search's CPU,
and a compliance manager pages through the same events again and again. A recorded event never
changes, so each process keeps the rows it drew, bounded, keyed by everything the event
records that the row shows. The names it was drawn with (a person's, an agreement's reference,
a dataset's) are looked up afresh for every search (`directory.names_for`) and compared with
those the row was drawn with: a renamed person or dataset draws the row again. Nothing else
goes into a row: labels are fixed when the app starts, and the template is the process's.
"""

from __future__ import annotations

import operator
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, get_template_attribute
from markupsafe import Markup

from governance.audit.directory import Names
from governance.audit.models import AuditEvent
from governance.audit.queries import EXPORT_COLUMNS
from governance.audit.sentences import detail_items, sentence_html

# About 40 pages of 50 rows of about 1.5 kB each: some 3 MB per process at most.
KEPT_ROWS = 2048

# A name asked while drawing a row: which look-up, of what, and the answer.
Asked = tuple[str, Any, str]


@dataclass(frozen=True)
class _Recording(Names):
    """The page's names, noting each one a row asks for."""

    asked: dict[tuple[str, Any], str] = field(default_factory=dict)

    def person(self, email: str | None) -> str:
        found = super().person(email)
        self.asked[("person", email)] = found
        return found

    def agreement(self, agreement_id: int | None) -> str:
        found = super().agreement(agreement_id)
        self.asked[("agreement", agreement_id)] = found
        return found

    def dataset(self, dataset_id: int | None) -> str:
        found = super().dataset(dataset_id)
        self.asked[("dataset", dataset_id)] = found
        return found


_kept: OrderedDict[tuple[Any, ...], tuple[tuple[Asked, ...], Markup]] = OrderedDict()
_lock = threading.Lock()


# The event's fields its row shows: every exported field but the actor's id (the row names the
# person by e-mail) and the chain's hashes; the detail last (a dict is no key: its repr is).
_SHOWN = tuple(name for name in EXPORT_COLUMNS if name not in {"actor_id", "prev_hash", "hash"})
_shown_loaded = operator.itemgetter(*_SHOWN)


def _shown(event: AuditEvent) -> tuple[Any, ...]:
    """Everything of the event that its row shows: a different value is a different row.

    Read from the values the ORM loaded into the event (its `__dict__`), in one call: through
    the mapped attributes, 13 per event, the key was three fifths of a kept page's rows (50
    events, 0.28 of 0.5 ms); a field not loaded (expired, deferred) is read as the ORM reads
    it, loading it."""
    try:
        values = _shown_loaded(event.__dict__)
    except KeyError:
        values = tuple(getattr(event, name) for name in _SHOWN)
    return (*values[:-1], repr(values[-1]))


def _same_names(asked: tuple[Asked, ...], names: Names) -> bool:
    return all(getattr(names, lookup)(value) == found for lookup, value, found in asked)


def _draw(event: AuditEvent, names: Names) -> tuple[tuple[Asked, ...], Markup]:
    recording = _Recording(
        people=names.people, agreements=names.agreements, datasets=names.datasets
    )
    macro = get_template_attribute("audit/_event_row.html", "event_row")
    # An autoescaping template's macro returns Markup, every value in it escaped.
    row: Markup = macro(event, sentence_html(event, recording), detail_items(event), recording)
    return tuple((lookup, value, found) for (lookup, value), found in recording.asked.items()), row


def event_rows(events: Sequence[AuditEvent], names: Names) -> list[Markup]:
    """The rows of a page of events, in order."""
    if current_app.jinja_env.auto_reload:  # a developer editing the template sees each edit
        return [_draw(event, names)[1] for event in events]
    rows = []
    for event in events:
        key = _shown(event)
        with _lock:
            kept = _kept.get(key)
            if kept is not None:
                _kept.move_to_end(key)
        if kept is None or not _same_names(kept[0], names):
            kept = _draw(event, names)
            with _lock:
                _kept[key] = kept
                while len(_kept) > KEPT_ROWS:
                    _kept.popitem(last=False)
        rows.append(kept[1])
    return rows
