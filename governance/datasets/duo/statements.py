"""Reading data-use statements typed by people (forms, API) into checked DUO terms.

A dataset's conditions take one live term of the data use permission branch and live terms of
the data use modifier branch; a request's purpose takes one live permission term other than
"no restriction" (a purpose is something to do, not an absence of limits) and DUO's kinds of
research. An id that is not in the shipped release, an obsolete term or a term of another
branch is refused with the field that carries it (422), before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from governance.datasets.duo.matching import (
    DISEASE_SPECIFIC,
    NO_RESTRICTION,
    Conditions,
    Purpose,
    split_list,
)
from governance.datasets.duo.ontology import Ontology, Term
from governance.kernel.errors import ValidationFailed
from governance.kernel.text import whole_number

MONDO_ID = re.compile(r"^MONDO:[0-9]{7}$")
MAX_PARAMETER = 500
#: Modifiers that say nothing without their parameter, and what the parameter is.
PARAMETERS = {
    "TS": "a number of months",
    "US": "the approved users' e-mail addresses",
    "PS": "the approved projects' agreement references",
    "IS": "the approved institutions",
    "GS": "the regions where use is allowed",
    "MOR": "the date until which nothing may be published (YYYY-MM-DD)",
    "RS": "the DUO id of the kind of research allowed",
}
#: The purpose's facts that are the requester's own statements (the rest the service knows).
DECLARED_FLAGS = (
    "for_profit_organisation",
    "commercial_use",
    "will_publish",
    "will_collaborate",
    "will_return_data",
    "accepts_moratorium",
)


def _term_in(ontology: Ontology, term_id: str, branch: list[Term], field: str, what: str) -> Term:
    term = ontology.term(term_id.strip())
    if term is None:
        raise ValidationFailed(
            f"{term_id!r} is not a term of the Data Use Ontology ({ontology.version}).",
            {field: "Not a DUO term."},
        )
    if term not in branch:
        raise ValidationFailed(
            f"{term.label} ({term.id}) is not {what}.", {field: f"Choose {what}."}
        )
    return term


def _disease(ontology: Ontology, term: Term, disease: str, field: str) -> str:
    text = disease.strip().upper()
    if not ontology.is_a(term.id, ontology.by_shorthand(DISEASE_SPECIFIC).id):
        return ""
    if not MONDO_ID.match(text):
        raise ValidationFailed(
            "Disease-specific research names its disease as a MONDO id (MONDO:0000000).",
            {field: "A MONDO id, such as MONDO:0005148."},
        )
    return text


def _parameter(ontology: Ontology, term: Term, value: str) -> str:
    text = value.strip()
    field = f"modifier_{term.shorthand.lower()}"
    if len(text) > MAX_PARAMETER:
        raise ValidationFailed(
            f"The parameter of {term.label} is too long.", {field: "At most 500 characters."}
        )
    if term.shorthand not in PARAMETERS:
        return ""
    wanted = PARAMETERS[term.shorthand]
    valid = bool(text)
    if term.shorthand == "TS":
        months = whole_number(text, maximum=1200)
        valid = months is not None and months > 0
    elif term.shorthand == "MOR":
        valid = bool(re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text))
    elif term.shorthand == "RS":
        valid = ontology.term(text) in ontology.research_kinds()
    elif valid:
        text = ", ".join(split_list(text))
    if not valid:
        raise ValidationFailed(
            f"{term.label} ({term.id}) needs {wanted}.", {field: f"Give {wanted}."}
        )
    return text


def read_conditions(
    ontology: Ontology, *, permission: str, disease: str, modifiers: Mapping[str, str]
) -> Conditions:
    term = _term_in(
        ontology, permission, ontology.permissions(), "permission", "a data use permission"
    )
    chosen: dict[str, str] = {}
    for modifier_id, value in modifiers.items():
        modifier = _term_in(
            ontology, modifier_id, ontology.modifiers(), "modifiers", "a data use modifier"
        )
        chosen[modifier.id] = _parameter(ontology, modifier, value)
    return Conditions(
        permission=term.id,
        disease=_disease(ontology, term, disease, "disease"),
        modifiers=chosen,
    )


def purpose_terms(ontology: Ontology) -> list[Term]:
    """The permission terms a purpose can name: every one but "no restriction"."""
    return [t for t in ontology.permissions() if t.shorthand != NO_RESTRICTION]


def read_purpose(
    ontology: Ontology,
    *,
    term: str,
    disease: str,
    research: Iterable[str],
    ethics_approval: str,
    region: str,
    flags: Mapping[str, bool],
    known: Mapping[str, Any],
) -> Purpose:
    """The purpose as stated, with what the service knows of the request (`known`: user,
    institution, project, months)."""
    chosen = _term_in(ontology, term, purpose_terms(ontology), "duo_purpose", "a research purpose")
    kinds = frozenset(
        _term_in(
            ontology, r, ontology.research_kinds(), "duo_research", "a DUO kind of research"
        ).id
        for r in research
        if r.strip()
    )
    for name, value in (("ethics_approval", ethics_approval), ("region", region)):
        if len(value.strip()) > MAX_PARAMETER:
            raise ValidationFailed(f"The {name} is too long.", {name: "At most 500 characters."})
    fields: dict[str, Any] = {
        "term": chosen.id,
        "disease": _disease(ontology, chosen, disease, "duo_disease"),
        "research": kinds,
        "ethics_approval": ethics_approval.strip(),
        "region": region.strip(),
        **{name: bool(flags.get(name, False)) for name in DECLARED_FLAGS},
        **known,
    }
    return Purpose(**fields)


def conditions_record(conditions: Conditions) -> dict[str, Any]:
    return {
        "permission": conditions.permission,
        "disease": conditions.disease,
        "modifiers": dict(conditions.modifiers),
    }


def conditions_from_record(record: Mapping[str, Any]) -> Conditions:
    return Conditions(
        permission=str(record["permission"]),
        disease=str(record.get("disease", "")),
        modifiers={str(k): str(v) for k, v in dict(record.get("modifiers", {})).items()},
    )


def purpose_record(purpose: Purpose) -> dict[str, Any]:
    return {
        "term": purpose.term,
        "disease": purpose.disease,
        "research": sorted(purpose.research),
        "ethics_approval": purpose.ethics_approval,
        "region": purpose.region,
        **{name: getattr(purpose, name) for name in DECLARED_FLAGS},
    }


def purpose_from_record(record: Mapping[str, Any], known: Mapping[str, Any]) -> Purpose:
    fields: dict[str, Any] = {
        "term": str(record["term"]),
        "disease": str(record.get("disease", "")),
        "research": frozenset(record.get("research", ())),
        "ethics_approval": str(record.get("ethics_approval", "")),
        "region": str(record.get("region", "")),
        **{name: bool(record.get(name, False)) for name in DECLARED_FLAGS},
        **known,
    }
    return Purpose(**fields)


def describe_conditions(ontology: Ontology, conditions: Conditions) -> dict[str, Any]:
    """Ids with labels, for pages and the API."""
    return {
        "version": ontology.version,
        "permission": ontology.terms[conditions.permission].as_dict(),
        "disease": conditions.disease,
        "modifiers": [
            {**ontology.terms[m].as_dict(), "parameter": p}
            for m, p in sorted(conditions.modifiers.items())
        ],
    }


def describe_purpose(ontology: Ontology, record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "version": ontology.version,
        "purpose": ontology.terms[str(record["term"])].as_dict(),
        "disease": record.get("disease", ""),
        "research": [ontology.terms[r].as_dict() for r in record.get("research", ())],
        "ethics_approval": record.get("ethics_approval", ""),
        "region": record.get("region", ""),
        **{name: bool(record.get(name, False)) for name in DECLARED_FLAGS},
    }
