"""Conditions of an approval as structured terms of the grant, never free text.

A member who approves with conditions names them as data: the columns the grant is narrowed
to, columns granted only coarsened or pseudonymised (access/column_forms.py), an end date
earlier than the one asked for, and no row-level download. When the
committee approves, the conditions of every counted approval are combined into the strictest
(the columns all of them allow, each column in the most protective form any names, the
earliest end, no download if any says so) and the grant
is made with them, so the data door enforces them like any other grant term.

Publication after the partner's preview is not a condition here: every output already goes
through the provider's preview window the agreement sets (outputs/preview.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from governance.kernel.errors import ValidationFailed

#: Column forms from least to most protective: a pseudonym says nothing of the value, a
#: coarsened value still says its band, month or larger area.
FORM_ORDER = ("coarsened", "pseudonymised")


@dataclass(frozen=True)
class Conditions:
    columns: frozenset[str] | None = None  # None: every column the request asked for
    end_date: dt.date | None = None
    no_download: bool = False
    forms: Mapping[str, str] = field(default_factory=dict)  # column -> coarsened/pseudonymised

    @property
    def empty(self) -> bool:
        return (
            self.columns is None
            and self.end_date is None
            and not self.no_download
            and not self.forms
        )

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.columns is not None:
            out["columns"] = sorted(self.columns)
        if self.end_date is not None:
            out["end_date"] = self.end_date.isoformat()
        if self.no_download:
            out["no_download"] = True
        if self.forms:
            out["forms"] = dict(sorted(self.forms.items()))
        return out

    def describe(self) -> list[str]:
        """The conditions in words, for the case page and the requester."""
        words = []
        if self.columns is not None:
            words.append("columns narrowed to " + ", ".join(sorted(self.columns)))
        if self.end_date is not None:
            words.append(f"access ends on {self.end_date.isoformat()}")
        if self.no_download:
            words.append("no row-level download")
        words.extend(f"{column} granted {form}" for column, form in sorted(self.forms.items()))
        return words


def parse(raw: Mapping[str, Any], *, requested: Sequence[str], end_date: dt.date) -> Conditions:
    """Check a voter's conditions against the request: 422 for anything it cannot narrow."""
    unknown = set(raw) - {"columns", "end_date", "no_download", "forms"}
    if unknown:
        raise ValidationFailed(
            "Conditions are columns, column forms, an end date and no download.",
            {"conditions": ", ".join(sorted(unknown))},
        )
    columns: frozenset[str] | None = None
    if raw.get("columns"):
        columns = frozenset(str(c).strip() for c in raw["columns"] if str(c).strip())
        if not columns or not columns <= set(requested):
            raise ValidationFailed(
                "Conditions can narrow to requested columns only.",
                {"conditions": ", ".join(sorted(columns - set(requested))) or "empty"},
            )
    end: dt.date | None = None
    if raw.get("end_date"):
        try:
            end = dt.date.fromisoformat(str(raw["end_date"]))
        except ValueError:
            raise ValidationFailed(
                "The condition's end date is not a date.", {"conditions": "YYYY-MM-DD"}
            ) from None
        if end >= end_date:
            raise ValidationFailed(
                "A condition's end date must be earlier than the one asked for.",
                {"conditions": f"Before {end_date.isoformat()}."},
            )
    forms = _forms(raw.get("forms"), requested)
    return Conditions(
        columns=columns, end_date=end, no_download=bool(raw.get("no_download")), forms=forms
    )


def _forms(raw: object, requested: Sequence[str]) -> dict[str, str]:
    if not raw:
        return {}
    if not isinstance(raw, Mapping) or not all(
        str(f) in FORM_ORDER and str(c) in requested for c, f in raw.items()
    ):
        raise ValidationFailed(
            "Column forms name requested columns, each coarsened or pseudonymised.",
            {"conditions": "forms"},
        )
    return {str(c): str(f) for c, f in raw.items()}


def from_json(raw: Mapping[str, Any]) -> Conditions:
    columns = raw.get("columns")
    end = raw.get("end_date")
    return Conditions(
        columns=frozenset(columns) if columns is not None else None,
        end_date=dt.date.fromisoformat(end) if end else None,
        no_download=bool(raw.get("no_download")),
        forms=dict(raw.get("forms") or {}),
    )


def strictest(all_conditions: Iterable[Conditions]) -> Conditions:
    """Every approval's conditions together: the grant honours each of them."""
    columns: frozenset[str] | None = None
    end: dt.date | None = None
    no_download = False
    forms: dict[str, str] = {}
    for c in all_conditions:
        for column, form in c.forms.items():
            if FORM_ORDER.index(form) > FORM_ORDER.index(forms.get(column, FORM_ORDER[0])):
                forms[column] = form
            forms.setdefault(column, form)
        if c.columns is not None:
            columns = c.columns if columns is None else columns & c.columns
        if c.end_date is not None:
            end = c.end_date if end is None else min(end, c.end_date)
        no_download = no_download or c.no_download
    return Conditions(columns=columns, end_date=end, no_download=no_download, forms=forms)
