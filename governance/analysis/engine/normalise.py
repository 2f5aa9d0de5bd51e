"""Normalising the identifiers used to link a partner's cohort to administrative records.

Owned here: name keys (case, accents, punctuation, whitespace and name order do not matter),
strict date parsing (a fixed list of unambiguous formats, day-first by default as UK partners
write dates; two-digit years are refused), and sex codes.

Name keys: "Surname, Forenames" is first turned round to "Forenames Surname"; the text is
NFKD-decomposed and combining marks dropped (é -> e), letters NFKD leaves alone are
transliterated (ø -> o, ß -> ss, æ -> ae ...), case is folded, apostrophes are removed
(O'Brien -> obrien), any other run of non-alphanumerics becomes one space. The *full key* is the
tokens sorted (so "SMITH John" == "john smith"); the *short key* is the first and last token
sorted, which ignores middle names.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np
import pandas as pd

_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_APOSTROPHES = re.compile("['\u2019\u2018`\u00b4]")
_SEPARATORS = re.compile(r"[\W_]+")
_TRANSLITERATE = str.maketrans(
    {
        "ø": "o",
        "Ø": "o",
        "æ": "ae",
        "Æ": "ae",
        "œ": "oe",
        "Œ": "oe",
        "đ": "d",
        "Đ": "d",
        "ł": "l",
        "Ł": "l",
        "ð": "d",
        "Ð": "d",
        "þ": "th",
        "Þ": "th",
        "ı": "i",  # noqa: RUF001 (Turkish dotless i)
        "ħ": "h",
    }
)

DAY_FIRST_FORMATS = (
    "%Y-%m-%d",
    "%d/%m/%Y",
    "%d-%m-%Y",
    "%d.%m.%Y",
    "%d %b %Y",
    "%d %B %Y",
    "%Y%m%d",
    "%Y/%m/%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
)
MONTH_FIRST_FORMATS = (
    "%Y-%m-%d",
    "%m/%d/%Y",
    "%m-%d-%Y",
    "%b %d %Y",
    "%B %d %Y",
    "%Y%m%d",
    "%Y/%m/%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
)
SEX_CODES = {"m": "M", "male": "M", "1": "M", "f": "F", "female": "F", "2": "F"}


def name_tokens(name: str) -> list[str]:
    """Normalised tokens of one name, in forename-first order."""
    surname, comma, forenames = name.partition(",")
    text = f"{forenames} {surname}" if comma else name
    text = _COMBINING.sub("", unicodedata.normalize("NFKD", text)).translate(_TRANSLITERATE)
    text = _APOSTROPHES.sub("", text.casefold())
    return _SEPARATORS.sub(" ", text).split()


def name_keys(names: pd.Series) -> pd.DataFrame:
    """``full_key`` and ``short_key`` for each name ("" when the name is missing or empty)."""
    text = names.astype("string").fillna("")
    uniques = pd.unique(text.to_numpy())
    full: dict[str, str] = {}
    short: dict[str, str] = {}
    for value in uniques:
        tokens = name_tokens(str(value))
        full[value] = " ".join(sorted(tokens))
        short[value] = " ".join(sorted({tokens[0], tokens[-1]})) if tokens else ""
    return pd.DataFrame(
        {"full_key": text.map(full).astype(str), "short_key": text.map(short).astype(str)},
        index=names.index,
    )


def parse_dates(
    values: pd.Series,
    day_first: bool = True,
    formats: Sequence[str] | None = None,
    earliest: str = "1900-01-01",
    latest: str = "2100-12-31",
) -> pd.Series:
    """Dates at midnight (datetime64[ns]); NaT where missing, unparseable or out of range.

    Each value must match one of ``formats`` exactly; the first matching format wins, so the
    list order resolves nothing ambiguous: day-first and month-first lists never both apply.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = (
            pd.to_datetime(values).dt.tz_localize(None)
            if getattr(values.dt, "tz", None) is not None
            else pd.to_datetime(values)
        )
        parsed = parsed.dt.normalize()
    else:
        text = values.astype("string").str.strip()
        parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
        for fmt in formats or (DAY_FIRST_FORMATS if day_first else MONTH_FIRST_FORMATS):
            todo = parsed.isna() & text.notna()
            if not todo.any():
                break
            attempt = pd.to_datetime(text[todo].astype(str), format=fmt, errors="coerce")
            parsed.loc[todo] = attempt
    in_range = (parsed >= pd.Timestamp(earliest)) & (parsed <= pd.Timestamp(latest))
    return parsed.where(in_range).astype("datetime64[ns]")


def normalise_sex(values: pd.Series) -> pd.Series:
    """ "M" or "F" (from M/F, male/female, 1/2 in any case); missing for anything else.

    1 = male and 2 = female follow the ONS/Police National Computer convention.
    """
    text = values.astype("string").str.strip().str.casefold().str.replace(r"\.0$", "", regex=True)
    return text.map(SEX_CODES).astype("string")


def swap_day_month(dates: pd.Series) -> pd.Series:
    """The date with day and month exchanged; NaT when that is not a valid date or is the same."""
    valid = dates.notna()
    swapped = pd.Series(pd.NaT, index=dates.index, dtype="datetime64[ns]")
    if valid.any():
        parts = pd.DataFrame(
            {
                "year": dates[valid].dt.year,
                "month": dates[valid].dt.day,
                "day": dates[valid].dt.month,
            }
        )
        swapped.loc[valid] = pd.to_datetime(parts, errors="coerce")
    return swapped.where(swapped != dates)


def age_in_years(date_of_birth: pd.Series, on: pd.Series) -> pd.Series:
    """Completed years of age on a date (birthday not yet reached this year counts one less)."""
    years = on.dt.year - date_of_birth.dt.year
    before_birthday = (on.dt.month < date_of_birth.dt.month) | (
        (on.dt.month == date_of_birth.dt.month) & (on.dt.day < date_of_birth.dt.day)
    )
    age: pd.Series = (years - before_birthday.astype(int)).astype(float)
    return age.where(date_of_birth.notna() & on.notna(), np.nan)
