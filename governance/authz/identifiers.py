"""How our identifiers are written for Casbin, so that no name can break or change a rule.

Casbin's policy text is comma-separated and its matcher is an expression language; a column
called `a,b` or `x) || (true` must stay one inert token. Every free-form name is
percent-encoded (only letters, digits and `_.-~` pass through) and prefixed by its kind.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote, unquote

ANY_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def safe(name: str) -> str:
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
    return moment.astimezone(dt.UTC).strftime(ANY_TIME_FORMAT)


def grant_rule(grant_id: int) -> str:
    return f"grant:{int(grant_id)}"


def grant_of(rule: str) -> int:
    return int(rule.split(":", 1)[1])
