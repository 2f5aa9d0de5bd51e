"""Conditions of an approval as structured terms of the grant, never free text.

A member who approves with conditions names them as data: the columns the grant is narrowed
to, columns granted only coarsened or pseudonymised (access/column_forms.py), an end date
earlier than the one asked for, and no row-level download. When the
committee approves, the conditions of every counted approval are combined into the strictest
(the columns all of them allow, each column in the most protective form any names, the
earliest end, no download if any says so) and the grant
is made with them, so the data door enforces them like any other grant term.

On an agreement version's approval the conditions are terms of the version instead
(`VersionConditions`): an earlier end date (its expiry), publication only after the partner's
preview (a preview window of at least N days: outputs/preview.py holds every output for it)
and no row-level download. When the committee approves, the strictest of them is written into
the version in the decision's own transaction, and the decision's audit record lists each term
before and after; the privacy officer then approves the version with those terms.
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
                "The condition's end date is not a date.", {"end_date": "YYYY-MM-DD"}
            ) from None
        if end >= end_date:
            raise ValidationFailed(
                "A condition's end date must be earlier than the one asked for.",
                {"end_date": f"Before {end_date.isoformat()}."},
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


# Conditions of an approval of an agreement version: terms of the version itself.

MAX_PREVIEW_DAYS = 365


@dataclass(frozen=True)
class VersionConditions:
    """What a member may attach to approving an agreement version, each a term of the version:
    an earlier end date (its expiry), publication only after the partner's preview (a preview
    window of at least `preview_days`), and no row-level download."""

    end_date: dt.date | None = None
    preview_days: int | None = None
    no_download: bool = False

    @property
    def empty(self) -> bool:
        return self.end_date is None and self.preview_days is None and not self.no_download

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.end_date is not None:
            out["end_date"] = self.end_date.isoformat()
        if self.preview_days is not None:
            out["preview_days"] = self.preview_days
        if self.no_download:
            out["no_download"] = True
        return out

    def describe(self) -> list[str]:
        words = []
        if self.end_date is not None:
            words.append(f"the agreement ends on {self.end_date.isoformat()}")
        if self.preview_days is not None:
            words.append(
                f"publication only after the partner's preview of {self.preview_days} days"
            )
        if self.no_download:
            words.append("no row-level download")
        return words


def parse_version(raw: Mapping[str, Any], *, version: Any) -> VersionConditions:
    """Check a voter's conditions against the submitted version: 422 for anything that is not
    stricter than its terms (an end before its start, a shorter preview)."""
    given = {key: value for key, value in raw.items() if value not in (None, "", [], False)}
    unknown = set(given) - {"end_date", "preview_days", "no_download"}
    if unknown:
        raise ValidationFailed(
            "Conditions on an agreement are an earlier end date, a partner preview before "
            "publication (preview_days) and no download.",
            {"conditions": ", ".join(sorted(unknown))},
        )
    end: dt.date | None = None
    if "end_date" in given:
        try:
            end = dt.date.fromisoformat(str(given["end_date"]))
        except ValueError:
            raise ValidationFailed(
                "The condition's end date is not a date.", {"end_date": "YYYY-MM-DD"}
            ) from None
        if end >= version.expiry_date or end < version.effective_date:
            raise ValidationFailed(
                "A condition's end date must fall before the version's expiry and not before "
                "its start.",
                {
                    "end_date": f"From {version.effective_date.isoformat()} to before "
                    f"{version.expiry_date.isoformat()}."
                },
            )
    days: int | None = None
    if "preview_days" in given:
        raw_days = given["preview_days"]
        if isinstance(raw_days, bool) or not isinstance(raw_days, int):
            raise ValidationFailed(
                "The partner preview is a number of days.", {"preview_days": "A number of days."}
            )
        if not version.preview_window_days < raw_days <= MAX_PREVIEW_DAYS:
            raise ValidationFailed(
                "A partner preview condition must be longer than the version's preview window.",
                {
                    "preview_days": f"More than {version.preview_window_days} days, at most "
                    f"{MAX_PREVIEW_DAYS}."
                },
            )
        days = raw_days
    return VersionConditions(
        end_date=end, preview_days=days, no_download=bool(given.get("no_download"))
    )


def version_from_json(raw: Mapping[str, Any]) -> VersionConditions:
    end = raw.get("end_date")
    days = raw.get("preview_days")
    return VersionConditions(
        end_date=dt.date.fromisoformat(end) if end else None,
        preview_days=int(days) if days is not None else None,
        no_download=bool(raw.get("no_download")),
    )


def strictest_version(all_conditions: Iterable[VersionConditions]) -> VersionConditions:
    """Every approval's conditions together: the earliest end, the longest preview."""
    end: dt.date | None = None
    days: int | None = None
    no_download = False
    for c in all_conditions:
        if c.end_date is not None:
            end = c.end_date if end is None else min(end, c.end_date)
        if c.preview_days is not None:
            days = c.preview_days if days is None else max(days, c.preview_days)
        no_download = no_download or c.no_download
    return VersionConditions(end_date=end, preview_days=days, no_download=no_download)


def apply_to_version(conditions: VersionConditions, version: Any) -> dict[str, list[Any]]:
    """Write the conditions into the version's terms (only ever stricter); returns what
    changed, {term: [before, after]}, for the decision's audit record."""
    changed: dict[str, list[Any]] = {}
    if conditions.end_date is not None and conditions.end_date < version.expiry_date:
        changed["expiry_date"] = [version.expiry_date.isoformat(), conditions.end_date.isoformat()]
        version.expiry_date = conditions.end_date
    if (
        conditions.preview_days is not None
        and conditions.preview_days > version.preview_window_days
    ):
        changed["preview_window_days"] = [version.preview_window_days, conditions.preview_days]
        version.preview_window_days = conditions.preview_days
    if conditions.no_download and version.row_level_download:
        changed["row_level_download"] = [True, False]
        version.row_level_download = False
    return changed
