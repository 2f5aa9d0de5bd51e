"""Does a research purpose fit a dataset's data-use conditions? The GA4GH matching, pure.

A purpose fits a data use permission when its term is the permission or lies below it in
DUO's is-a hierarchy (a health research purpose fits data for general research use; general
research does not fit data for health research only); "no restriction" fits every purpose.
Each data use modifier is then checked against what the requester stated. Every term gets an
outcome, so the review page can show the whole table and a refusal can name the term that
failed.

Diseases: DUO's disease-specific permission names a MONDO disease. MONDO (some 25,000 terms)
is not shipped, so a disease-specific condition matches a purpose naming the same MONDO id
only: a purpose for a narrower disease is refused rather than guessed at (docs/standards.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from governance.datasets.duo.ontology import Ontology

NO_RESTRICTION = "NRES"
DISEASE_SPECIFIC = "DS"
POPULATION_ORIGINS = "POA"


@dataclass(frozen=True)
class Conditions:
    """A dataset's data-use conditions: one permission and its modifiers.

    `modifiers` maps each modifier's DUO id to its parameter as typed by the steward ("" when
    it takes none): months for a time limit, comma-separated regions, users' e-mail
    addresses, institutions or agreement references, a date for a moratorium, a kind of
    research's DUO id for a research-specific restriction.
    """

    permission: str
    disease: str = ""
    modifiers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Purpose:
    """A request's purpose as DUO terms, with the facts the modifiers are checked against."""

    term: str
    disease: str = ""
    research: frozenset[str] = frozenset()  # DUO kinds of research (method development...)
    for_profit_organisation: bool = False
    commercial_use: bool = False
    ethics_approval: str = ""  # the approving committee's reference
    will_publish: bool = False
    will_collaborate: bool = False
    will_return_data: bool = False
    accepts_moratorium: bool = False
    region: str = ""
    user: str = ""  # the requester's e-mail address
    institution: str = ""  # the requester's organisation
    project: str = ""  # the agreement's reference
    months: int = 0  # how long the use lasts, in started months


@dataclass(frozen=True)
class Outcome:
    term: str
    label: str
    ok: bool
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"term": self.term, "label": self.label, "ok": self.ok, "reason": self.reason}


@dataclass(frozen=True)
class Match:
    outcomes: tuple[Outcome, ...]

    @property
    def matches(self) -> bool:
        return all(o.ok for o in self.outcomes)

    @property
    def failed(self) -> Outcome | None:
        return next((o for o in self.outcomes if not o.ok), None)


def split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _in_list(value: str, parameter: str) -> bool:
    allowed = {item.casefold() for item in split_list(parameter)}
    return bool(value) and value.strip().casefold() in allowed


def _research(ontology: Ontology, purpose: Purpose, kind: str) -> bool:
    """The purpose includes research of `kind` (the kind itself or one below it)."""
    return any(ontology.is_a(r, kind) for r in purpose.research)


def _population(ontology: Ontology, purpose: Purpose) -> bool:
    poa = ontology.by_shorthand(POPULATION_ORIGINS).id
    kinds = [t.id for t in ontology.research_kinds() if t.label in POPULATION_KINDS]
    return ontology.is_a(purpose.term, poa) or any(_research(ontology, purpose, k) for k in kinds)


#: DUO's kinds of research that are population origins or ancestry research.
POPULATION_KINDS = ("population research", "ancestry research")
#: DUO's kinds of research that the methods and genetic modifiers are about.
METHODS_KIND = "method development"
GENETIC_KIND = "genetic research"


def _kind(ontology: Ontology, label: str) -> str:
    return next(t.id for t in ontology.research_kinds() if t.label == label)


def _ends_by(parameter: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(parameter.strip())
    except ValueError:
        return None


Check = Callable[[Ontology, Purpose, str], "tuple[bool, str]"]

#: What each modifier asks of a purpose, by the modifier's DUO shorthand: (fits, why not).
CHECKS: dict[str, Check] = {
    "NPUNCU": lambda o, p, _: (
        not p.for_profit_organisation and not p.commercial_use,
        "the requester's organisation is for profit or the use is commercial",
    ),
    "NPU": lambda o, p, _: (
        not p.for_profit_organisation,
        "the requester's organisation is for profit",
    ),
    "NCU": lambda o, p, _: (not p.commercial_use, "the use is commercial"),
    "IRB": lambda o, p, _: (bool(p.ethics_approval.strip()), "no ethics approval is given"),
    "PUB": lambda o, p, _: (p.will_publish, "the requester does not agree to publish"),
    "COL": lambda o, p, _: (
        p.will_collaborate,
        "the requester does not agree to collaborate with the study's investigators",
    ),
    "RTN": lambda o, p, _: (
        p.will_return_data,
        "the requester does not agree to return derived data",
    ),
    "MOR": lambda o, p, until: (
        p.accepts_moratorium,
        f"the requester does not accept the publication moratorium until {until}",
    ),
    "TS": lambda o, p, months: (
        months.strip().isdigit() and p.months <= int(months),
        f"the use lasts {p.months} months, beyond the {months} allowed",
    ),
    "US": lambda o, p, users: (_in_list(p.user, users), f"{p.user} is not an approved user"),
    "PS": lambda o, p, projects: (
        _in_list(p.project, projects),
        f"{p.project} is not an approved project",
    ),
    "IS": lambda o, p, places: (
        _in_list(p.institution, places),
        f"{p.institution} is not an approved institution",
    ),
    "GS": lambda o, p, regions: (
        _in_list(p.region, regions),
        f"the use in {p.region or 'an unstated region'} is outside {regions}",
    ),
    "GSO": lambda o, p, _: (
        _research(o, p, _kind(o, GENETIC_KIND)),
        "the purpose is not a genetic study",
    ),
    "NMDS": lambda o, p, _: (
        not _research(o, p, _kind(o, METHODS_KIND)),
        "the purpose includes methods development",
    ),
    "NPOA": lambda o, p, _: (
        not _population(o, p),
        "the purpose includes population origins or ancestry research",
    ),
    "RS": lambda o, p, kind: (
        bool(kind) and _research(o, p, kind),
        f"the purpose is not {o.label(kind)} research",
    ),
    # Clinical care use widens what the data may be used for; it asks nothing of a purpose.
    "CC": lambda o, p, _: (True, ""),
}


def _permission_outcome(ontology: Ontology, conditions: Conditions, purpose: Purpose) -> Outcome:
    permission = ontology.terms[conditions.permission]
    asked = ontology.label(purpose.term)
    if permission.shorthand == NO_RESTRICTION:
        return Outcome(permission.id, permission.label, True, "no restriction on use")
    if not ontology.is_a(purpose.term, permission.id):
        return Outcome(
            permission.id,
            permission.label,
            False,
            f"{asked} ({purpose.term}) is not {permission.label} or a kind of it",
        )
    if permission.shorthand == DISEASE_SPECIFIC and purpose.disease != conditions.disease:
        return Outcome(
            permission.id,
            permission.label,
            False,
            f"the purpose's disease {purpose.disease or '(none)'} is not {conditions.disease}",
        )
    return Outcome(permission.id, permission.label, True, f"{asked} is {permission.label}")


def match(ontology: Ontology, conditions: Conditions, purpose: Purpose) -> Match:
    """Each term's outcome, the permission first, then the modifiers in id order."""
    outcomes = [_permission_outcome(ontology, conditions, purpose)]
    for modifier_id in sorted(conditions.modifiers):
        term = ontology.terms[modifier_id]
        fits, why_not = CHECKS[term.shorthand](ontology, purpose, conditions.modifiers[modifier_id])
        outcomes.append(Outcome(term.id, term.label, fits, "" if fits else why_not))
    return Match(tuple(outcomes))
