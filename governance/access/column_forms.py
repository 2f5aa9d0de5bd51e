"""Columns granted in another form than stored: coarsened or pseudonymised at every read.

A steward (or a committee's condition) may grant a column coarsened (a date to its month, an
age to a 5-wide band, an area code to its larger unit: the one step the re-identification
figures show, `reidentification.coarsened`) or pseudonymised (a keyed pseudonym: HMAC-SHA-256
under a secret derived from the data key for the agreement, so the same person has the same
pseudonym in every dataset of the project and a different one in any other project). The form
is a term of the grant (`GrantColumn.form`); the data door produces it from the stored values
after its decision and before anything else touches the frame — filters are refused on such a
column, sorting sorts the produced values — so the page, the API, an export and an analysis
all receive only the granted form, never the fine value.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from governance.access.models import ColumnForm
from governance.agreements.models import DerivedForms
from governance.analysis.engine.reidentification import coarsened
from governance.kernel.errors import ValidationFailed
from governance.kernel.keys import rings_of

PSEUDONYM_PREFIX = "ps_"
PSEUDONYM_HEX = 20  # 80 bits: no collision among a billion values in practice


@dataclass(frozen=True)
class GrantedForm:
    """How one column is produced for a read: its form and, for a pseudonym, the data key id
    its secret is derived from."""

    form: ColumnForm
    key_id: str | None = None


def parse_forms(raw: object, *, allowed: set[str]) -> dict[str, ColumnForm]:
    """A {column: form} mapping from a form or JSON body: 422 for anything else."""
    if raw is None or raw == {}:
        return {}
    if not isinstance(raw, Mapping):
        raise ValidationFailed(
            "Forms are given as {column: 'coarsened' | 'pseudonymised'}.",
            {"forms": "An object of column names."},
        )
    forms: dict[str, ColumnForm] = {}
    for column, form in raw.items():
        if not form or form == "as stored":
            continue
        if str(column) not in allowed:
            raise ValidationFailed(
                "A form can be given only for a column that is approved.",
                {"forms": str(column)[:120]},
            )
        try:
            forms[str(column)] = ColumnForm(str(form))
        except ValueError:
            raise ValidationFailed(
                "A column is granted as stored, coarsened or pseudonymised.",
                {"forms": f"{str(column)[:120]}: {str(form)[:40]}"},
            ) from None
    return forms


DERIVED_FORMS_CLAUSE = "access.derived_forms"


def not_allowed(forms: Mapping[str, str], allowed: DerivedForms) -> str:
    """Why the agreement does not allow these columns in these forms (clause
    access.derived_forms), or "" when it does: checked when a steward or a committee grants
    them, and again at every read (an amendment may have narrowed the term since)."""
    refused = sorted((c, str(f)) for c, f in forms.items() if not allowed.allows(str(f)))
    if not refused:
        return ""
    what = ", ".join(f"{column} {form}" for column, form in refused)
    return (
        f"The agreement does not allow {what} (clause {DERIVED_FORMS_CLAUSE}: "
        f"{_ALLOWED_WORDS[allowed]}): grant the column as stored, in an allowed form, or "
        "leave it out."
    )


def refuse_unless_allowed(
    forms: Mapping[str, str], allowed: DerivedForms, *, field: str, audit: Mapping[str, Any]
) -> None:
    """422 on `field` when the agreement does not allow these columns in these forms (a
    steward's approval, a committee's condition); nothing is written, and the refusal is
    recorded with `audit`'s fields, the clause, and what was refused beside `audit`'s detail."""
    reason = not_allowed(forms, allowed)
    if not reason:
        return
    raise ValidationFailed(
        reason,
        {field: reason},
        audit={
            **audit,
            "clause": DERIVED_FORMS_CLAUSE,
            "detail": {
                **audit.get("detail", {}),
                "reason": reason,
                "forms": {c: str(f) for c, f in sorted(forms.items())},
                "agreement_allows": str(allowed),
            },
        },
    )


_ALLOWED_WORDS = {
    DerivedForms.NONE: "every column as stored",
    DerivedForms.COARSENED: "coarsened only",
    DerivedForms.PSEUDONYMISED: "pseudonymised only",
    DerivedForms.BOTH: "coarsened or pseudonymised",
}


def pseudonym_label(agreement_id: int) -> str:
    return f"pseudonym/agreement-{agreement_id}"


def current_key_id(session: Session) -> str:
    return rings_of(session).data.current_id


def pseudonymised(values: pd.Series, secret: bytes) -> pd.Series:
    """Each distinct value's keyed pseudonym (missing stays missing)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    names = [
        PSEUDONYM_PREFIX
        + hmac.new(secret, str(value).encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]
        for value in uniques
    ]
    out = pd.Series(pd.NA, index=values.index, dtype="string", name=values.name)
    present = codes >= 0
    if names:
        out[present] = pd.array(names, dtype="string")[codes[present]]
    return out


def produce(
    session: Session, frame: pd.DataFrame, forms: Mapping[str, GrantedForm], *, agreement_id: int
) -> pd.DataFrame:
    """The frame with each formed column in its granted form (a copy; the stored frame, which
    the column cache may share, is untouched). A column with no coarser form in this version
    is refused (422) rather than served fine."""
    wanted = {c: f for c, f in forms.items() if c in frame.columns}
    if not wanted:
        return frame
    out = frame.copy(deep=False)
    for column, granted in wanted.items():
        if granted.form == ColumnForm.COARSENED:
            coarse = coarsened(frame[column])
            if coarse is None:
                raise ValidationFailed(
                    f"{column} is granted coarsened, and its values in this version have no "
                    "coarser form: ask the dataset's steward.",
                    {"columns": column},
                )
            out[column] = coarse
        else:
            secret = rings_of(session).data.derive(
                pseudonym_label(agreement_id), key_id=granted.key_id
            )
            out[column] = pseudonymised(frame[column], secret)
    return out


def for_figures(frame: pd.DataFrame, forms: Mapping[str, ColumnForm]) -> pd.DataFrame:
    """The frame as the figures of a grant count it: coarsened columns coarsened; a pseudonym
    is one-to-one, so a pseudonymised column counts as stored (no key is needed to count)."""
    out = frame.copy(deep=False)
    for column, form in forms.items():
        if form == ColumnForm.COARSENED and column in frame.columns:
            coarse = coarsened(frame[column])
            if coarse is None:
                raise ValidationFailed(
                    f"{column} has no coarser form in the stored data: grant it as stored, "
                    "pseudonymised, or leave it out.",
                    {"forms": column},
                )
            out[column] = coarse
    return out
