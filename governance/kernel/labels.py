"""Human labels for the codes a person would otherwise see: one registry for pages and PDFs.

Codes (`matched_comparison`, `domestic_violence`, `auth:login`, `scope.permitted_uses`) are
stable identifiers that the database, the API and the audit trail keep; people read labels.
Each noun registers its own labels here (the registry installs them at start-up), templates
use the `label` filter, and a code nobody labelled still reads as words rather than as a
code: `in_treatment_group` becomes "In treatment group".
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from markupsafe import Markup, escape

_labels: dict[str, str] = {}
_SEPARATORS = re.compile(r"[_:.]+")
# A code as a person would never write it: snake_case, noun:verb or dotted.clause.ids.
CODE_PATTERN = re.compile(r"\b[a-z][a-z0-9]*(?:[_:][a-z0-9]+)+\b|\b[a-z]+(?:\.[a-z_]+){1,3}\b")


def register(labels: Mapping[str, str]) -> None:
    """Add labels; a code labelled twice keeps its first label (one meaning per code)."""
    for code, text in labels.items():
        _labels.setdefault(str(code), text)


def registered() -> Mapping[str, str]:
    return dict(_labels)


def humanise(code: str) -> str:
    """Words for a code nobody labelled: separators become spaces, the first letter capital."""
    words = _SEPARATORS.sub(" ", code).strip()
    return words[:1].upper() + words[1:] if words else code


def label(code: object) -> str:
    """The label of `code` (an enum member or its value); None and "" read as ""."""
    if code is None:
        return ""
    text = str(getattr(code, "value", code))
    if not text:
        return ""
    found = _labels.get(text)
    if found is not None:
        return found
    return humanise(text) if CODE_PATTERN.fullmatch(text) else text


def in_words(text: object) -> str:
    """Text the service composed from codes ("Balance: age_at_index") with each code said in
    words ("Balance: Age at index")."""
    if text is None:
        return ""
    return CODE_PATTERN.sub(lambda code: label(code.group()), str(text))


def label_list(codes: object) -> str:
    """Several codes as one phrase: "sexual, domestic violence"."""
    if codes is None:
        return ""
    if isinstance(codes, str):
        return label(codes)
    if not isinstance(codes, list | tuple | set | frozenset):
        return label(codes)
    return ", ".join(label(code) for code in codes)


def code_spans(text: object) -> Markup:
    """Text holding data identifiers (column names in a clause's value: "person_id, risk_level")
    with each identifier set as <code>, the rest escaped: identifiers a person types stay exact."""
    if text is None:
        return Markup("")
    escaped = str(escape(str(text)))
    # Safe: the text was escaped first, and a code is only letters, digits, "_", ":" and ".".
    return Markup(CODE_PATTERN.sub(lambda code: f"<code>{code.group()}</code>", escaped))  # noqa: S704
