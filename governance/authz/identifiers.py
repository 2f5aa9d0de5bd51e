"""How our identifiers are written for Casbin, so that no name can break or change a rule.

Casbin's policy text is comma-separated and its matcher is an expression language; a column
called `a,b` or `x) || (true` must stay one inert token. Every free-form name is
percent-encoded (only letters, digits and `_.-~` pass through) and prefixed by its kind.
"""

from __future__ import annotations

import datetime as dt
import functools
from urllib.parse import quote, unquote

ANY_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@functools.lru_cache(maxsize=4096)
def safe(name: str) -> str:
    # Kept: every decision encodes its purpose and each column again (3-5 µs apiece in
    # `quote`), and a service has few distinct names; bounded, so odd names cannot grow it.
    return quote(name, safe="")


def subject(user_id: int) -> str:
    return f"user:{int(user_id)}"


def domain(agreement_id: int) -> str:
    return f"agreement:{int(agreement_id)}"


def column_object(dataset_id: int, column: str) -> str:
    return f"dataset:{int(dataset_id)}/column:{safe(column)}"


def column_of(obj: str) -> str:
    return unquote(obj.rsplit("/column:", 1)[1])


def purpose_token(purpose: str) -> str:
    return safe(purpose)


def time_token(moment: dt.datetime) -> str:
    """Fixed-width UTC text, so Casbin's string comparison orders times correctly."""
    utc = moment.astimezone(dt.UTC)
    if utc.year < 1000:
        # strftime writes such a year unpadded; isoformat would pad it. Kept as it was.
        return utc.strftime(ANY_TIME_FORMAT)
    # The same text as `strftime(ANY_TIME_FORMAT)` at a sixth of its cost (2 µs against 12 on
    # this machine; every decision formats its time).
    return _TIME_TEXT % (
        utc.year,
        utc.month,
        utc.day,
        utc.hour,
        utc.minute,
        utc.second,
        utc.microsecond,
    )


_TIME_TEXT = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"


def grant_rule(grant_id: int) -> str:
    return f"grant:{int(grant_id)}"


def grant_of(rule: str) -> int:
    return int(rule.split(":", 1)[1])
