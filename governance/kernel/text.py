"""Cleaning what people type: trimmed, bounded, and free of control characters.

Control characters are refused rather than stripped: a NUL cannot be stored by PostgreSQL, and
invisible characters in an agreement's text would make what is shown differ from what is
signed. Markup is kept as typed and escaped wherever it is shown (pages and PDF alike).
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(
    raw: str | None, field: str, errors: dict[str, str], *, max_length: int, required: bool = True
) -> str:
    """Multi-line text: surrounding space trimmed, line endings normalised."""
    value = (raw or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if _CONTROL.search(value):
        errors[field] = "Contains control characters; type plain text."
    elif required and not value:
        errors[field] = "Required."
    elif len(value) > max_length:
        errors[field] = f"At most {max_length} characters."
    return value


def clean_line(
    raw: str | None, field: str, errors: dict[str, str], *, max_length: int, required: bool = True
) -> str:
    """One line: runs of white space collapsed to one space."""
    value = raw or ""
    if _CONTROL.search(value):
        errors[field] = "Contains control characters; type plain text."
        return value
    value = " ".join(value.split())
    if required and not value:
        errors[field] = "Required."
    elif len(value) > max_length:
        errors[field] = f"At most {max_length} characters."
    return value


def clean_lines(
    raw: str | list[str] | None,
    field: str,
    errors: dict[str, str],
    *,
    max_length: int,
    max_items: int = 50,
) -> list[str]:
    """A list typed one item per line: blanks dropped, duplicates removed, order kept."""
    items = raw.splitlines() if isinstance(raw, str) else list(raw or [])
    result: list[str] = []
    for item in items:
        value = clean_line(item, field, errors, max_length=max_length, required=False)
        if value and value not in result:
            result.append(value)
    if len(result) > max_items:
        errors[field] = f"At most {max_items} entries."
    return result
