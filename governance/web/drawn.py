"""Markup a process keeps once drawn, by what it was drawn from.

A part of a page that is a function of a few values alone (an agreement's terms table, the audit
search's filter form) can be drawn once per process and shown again while those values are the
same. Bounded: when full it is emptied, not grown. Nothing is kept while templates reload
(development), so an edited template shows at once.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

from flask import current_app
from markupsafe import Markup


class KeptDrawings:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._kept: dict[Hashable, Markup] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Markup | None:
        if current_app.jinja_env.auto_reload:
            return None
        with self._lock:
            return self._kept.get(key)

    def keep(self, key: Hashable, drawn: Markup) -> None:
        if current_app.jinja_env.auto_reload:
            return
        with self._lock:
            if len(self._kept) >= self.limit:
                self._kept.clear()
            self._kept[key] = drawn
