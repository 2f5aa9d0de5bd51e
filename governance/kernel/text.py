"""Cleaning what people type: trimmed, bounded, and free of control characters.

Control characters are refused rather than stripped: a NUL cannot be stored by PostgreSQL, and
invisible characters in an agreement's text would make what is shown differ from what is
signed. That includes Unicode's direction overrides, embeddings and isolates (U+202A-U+202E,
U+2066-U+2069: "report\u202egnp.exe" shows as "reportexe.png", the "Trojan Source" trick) and
the invisible zero-width space, word joiner and byte order mark. The zero-width joiner and
non-joiner and the left-to-right and right-to-left marks stay allowed: scripts such as Persian
and Hindi need the first two, and right-to-left text pasted from a word processor carries the
marks, which cannot reorder letters. Markup is kept as typed and escaped wherever it is shown
(pages and PDF alike).
"""

from __future__ import annotations

import re

from governance.kernel.types import MAX_ID

#: The refused characters as (first, last) code points: the C0 controls but tab, line feed and
#: carriage return; DEL and the C1 controls; the zero-width space; the direction embeddings and
#: overrides; the word joiner; the direction isolates; the byte order mark.
REFUSED_RANGES = (
    (0x00, 0x08),
    (0x0B, 0x0C),
    (0x0E, 0x1F),
    (0x7F, 0x9F),
    (0x200B, 0x200B),
    (0x202A, 0x202E),
    (0x2060, 0x2060),
    (0x2066, 0x2069),
    (0xFEFF, 0xFEFF),
)
_CONTROL = re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in REFUSED_RANGES) + "]")
#: The same rule as a JSON Schema pattern (ECMA-262 syntax) for the API's documents.
TEXT_PATTERN = "^[^" + "".join(f"\\u{a:04x}-\\u{b:04x}" for a, b in REFUSED_RANGES) + "]*$"
REFUSED_MESSAGE = (
    "Contains control characters or invisible formatting (such as a direction override); "
    "type plain text."
)


def refused_character(value: str) -> bool:
    """Whether `value` holds a character typed text may not hold (above)."""
    return _CONTROL.search(value) is not None


def clean_text(
    raw: str | None, field: str, errors: dict[str, str], *, max_length: int, required: bool = True
) -> str:
    """Multi-line text: surrounding space trimmed, line endings normalised."""
    value = (raw or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if _CONTROL.search(value):
        errors[field] = REFUSED_MESSAGE
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
        errors[field] = REFUSED_MESSAGE
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


def whole_number(text: str, maximum: int = MAX_ID) -> int | None:
    """The number `text` spells in ASCII digits, if it is at most `maximum` (by default the
    largest id a table holds); else None.

    `str.isdigit` also accepts characters `int` refuses (superscripts such as "²"), and a number
    past 64 bits overflows SQLite's driver: both were 500s where the answer is "not a number"
    or "there is no such thing"."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(maximum)):
        return None
    number = int(text)
    return number if number <= maximum else None
