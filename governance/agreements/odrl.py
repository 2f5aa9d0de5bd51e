"""An agreement version as an ODRL 2.2 policy (JSON-LD), and the policy read back.

Everything comes from the stored version: the parties, the datasets it covers, the purpose and
term, the permitted analyses, the disclosure-control thresholds, the third parties, the
preview window and the retention period. A version in force (approved, or superseded by an
amendment) is an `odrl:Agreement`: both parties are named and bound. A draft, a version under
review or a discarded amendment binds nobody yet, so it is an `odrl:Offer` from the provider.

ODRL has no words for some of the clauses (minimum cell size, the form of an output, days
after the end by which the data is destroyed); they are left operands and actions of this
service's profile (`PROFILE_TERMS`), named by the policy's `profile` and defined at that
address, as ODRL 2.2 section 2.1 asks of extensions. The JSON-LD context is written inline with
the W3C ODRL IRIs, so a reader needs no network to expand it.

`read_policy` reads a policy back into `PolicyTerms`; `expected_terms` says what a version's
policy must say. The tests hold the two equal for generated agreements.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from governance.agreements.models import AgreementVersion, VersionStatus

ODRL = "http://www.w3.org/ns/odrl/2/"
IN_FORCE = (VersionStatus.APPROVED, VersionStatus.SUPERSEDED)
AGGREGATE = "aggregate"
RECORD_LEVEL = "record-level"

# The profile's own terms: (compact name, kind, what it means).
PROFILE_TERMS: tuple[tuple[str, str, str], ...] = (
    ("minCellSize", "LeftOperand", "The fewest people in any published cell."),
    ("minCohortSize", "LeftOperand", "The fewest people in a matched comparison's cohort."),
    ("dominanceShare", "LeftOperand", "The largest share of a cell total one contributor has."),
    ("outputForm", "LeftOperand", "The form of what leaves: 'aggregate' or 'record-level'."),
    ("identifiable", "LeftOperand", "Whether a person can be identified from what leaves."),
    ("analysisKind", "LeftOperand", "The kind of analysis run on the data."),
    ("checkers", "LeftOperand", "How many output checkers approve a release."),
    ("previewDays", "LeftOperand", "The days the provider has to preview an output."),
    ("daysAfterEnd", "LeftOperand", "Days after the agreement ends."),
    ("outputCheck", "Action", "Have an output checked for disclosure before it leaves."),
    ("partnerPreview", "Action", "Let the provider preview an output before publication."),
)


def context(profile: str) -> dict[str, Any]:
    """The ODRL 2.2 terms this export uses (as the W3C context defines them) and the profile's."""
    vocab = {"@type": "@vocab"}
    terms: dict[str, Any] = {
        "odrl": ODRL,
        "xsd": "http://www.w3.org/2001/XMLSchema#",
        "dct": "http://purl.org/dc/terms/",
        "vcard": "http://www.w3.org/2006/vcard/ns#",
        "dua": profile,
        "uid": "@id",
        "type": "@type",
        "Agreement": "odrl:Agreement",
        "Offer": "odrl:Offer",
        "Party": "odrl:Party",
        "Asset": "odrl:Asset",
        "profile": {"@id": "odrl:profile", "@type": "@id"},
        "assigner": {"@id": "odrl:assigner", "@type": "@id"},
        "assignee": {"@id": "odrl:assignee", "@type": "@id"},
        "target": {"@id": "odrl:target", "@type": "@id"},
        "permission": {"@id": "odrl:permission", "@container": "@set"},
        "prohibition": {"@id": "odrl:prohibition", "@container": "@set"},
        "duty": {"@id": "odrl:duty", "@container": "@set"},
        "obligation": {"@id": "odrl:obligation", "@container": "@set"},
        "constraint": {"@id": "odrl:constraint", "@container": "@set"},
        "action": {"@id": "odrl:action", **vocab},
        "leftOperand": {"@id": "odrl:leftOperand", **vocab},
        "operator": {"@id": "odrl:operator", **vocab},
        "rightOperand": {"@id": "odrl:rightOperand"},
        "unit": {"@id": "odrl:unit", "@type": "@id"},
        "use": "odrl:use",
        "aggregate": "odrl:aggregate",
        "distribute": "odrl:distribute",
        "reproduce": "odrl:reproduce",
        "delete": "odrl:delete",
        "purpose": "odrl:purpose",
        "dateTime": "odrl:dateTime",
        "recipient": "odrl:recipient",
        "eq": "odrl:eq",
        "gteq": "odrl:gteq",
        "lteq": "odrl:lteq",
        "isAnyOf": "odrl:isAnyOf",
        "isNoneOf": "odrl:isNoneOf",
        "title": "dct:title",
        "name": "vcard:fn",
    }
    terms.update({name: f"dua:{name}" for name, _kind, _meaning in PROFILE_TERMS})
    return terms


def profile_document(profile: str) -> dict[str, Any]:
    """The profile's terms as JSON-LD, served at the profile's address."""
    return {
        "@context": {
            "odrl": ODRL,
            "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
            "dua": profile,
        },
        "@graph": [
            {"@id": f"dua:{name}", "@type": f"odrl:{kind}", "rdfs:comment": meaning}
            for name, kind, meaning in PROFILE_TERMS
        ],
    }


def _constraint(left: str, operator: str, right: Any) -> dict[str, Any]:
    return {"leftOperand": left, "operator": operator, "rightOperand": right}


def _date(day: dt.date) -> dict[str, str]:
    return {"@value": day.isoformat(), "@type": "xsd:date"}


def _integer(value: int) -> dict[str, Any]:
    return {"@value": value, "@type": "xsd:integer"}


def _decimal(value: float) -> dict[str, Any]:
    return {"@value": repr(float(value)), "@type": "xsd:decimal"}


@dataclass(frozen=True)
class Addresses:
    """Where the policy, its parties and its datasets are named (built by the caller)."""

    policy: str
    profile: str
    provider: str
    recipient: str
    datasets: dict[int, str]


def policy(version: AgreementVersion, addresses: Addresses) -> dict[str, Any]:
    """The version as an ODRL policy (a JSON-LD document)."""
    agreement = version.agreement
    targets = [addresses.datasets[dataset_id] for dataset_id in version.covered_dataset_ids]
    document: dict[str, Any] = {
        "@context": context(addresses.profile),
        "uid": addresses.policy,
        "type": "Agreement" if version.status in IN_FORCE else "Offer",
        "profile": addresses.profile.removesuffix("#"),  # the profile document
        "title": f"{agreement.reference} v{version.number}: {version.title}",
        "assigner": {"uid": addresses.provider, "type": "Party", "name": agreement.provider.name},
        "assignee": {"uid": addresses.recipient, "type": "Party", "name": agreement.recipient.name},
        "target": targets,
        "permission": _permissions(version, targets),
        "prohibition": _prohibitions(version, targets),
    }
    if not targets:
        del document["target"]
    return document


def _permissions(version: AgreementVersion, targets: list[str]) -> list[dict[str, Any]]:
    use = [
        _constraint("purpose", "eq", version.purpose),
        _constraint("dateTime", "gteq", _date(version.effective_date)),
        _constraint("dateTime", "lteq", _date(version.expiry_date)),
        _constraint("analysisKind", "isAnyOf", list(version.permitted_uses)),
    ]
    permissions: list[dict[str, Any]] = [
        {
            "action": "use",
            "target": targets,
            "constraint": use,
            "duty": [
                {
                    "action": "delete",
                    "target": targets,
                    "constraint": [
                        _constraint("daysAfterEnd", "lteq", _integer(version.destruction_days))
                    ],
                }
            ],
        },
        {"action": "aggregate", "target": targets, "constraint": use},
    ]
    if version.publication_allowed:
        duties: list[dict[str, Any]] = [
            {
                "action": "outputCheck",
                "constraint": [
                    _constraint(
                        "checkers", "gteq", _integer(2 if version.two_checkers_required else 1)
                    )
                ],
            }
        ]
        if version.preview_window_days:
            duties.append(
                {
                    "action": "partnerPreview",
                    "constraint": [
                        _constraint("previewDays", "eq", _integer(version.preview_window_days))
                    ],
                }
            )
        permissions.append(
            {
                "action": "distribute",
                "target": targets,
                "constraint": [
                    _constraint("outputForm", "eq", AGGREGATE),
                    _constraint("minCellSize", "gteq", _integer(version.min_cell_size)),
                    _constraint("minCohortSize", "gteq", _integer(version.min_cohort_size)),
                    _constraint("dominanceShare", "lteq", _decimal(version.dominance_threshold)),
                ],
                "duty": duties,
            }
        )
    if version.third_party_recipients:
        permissions.append(
            {
                "action": "distribute",
                "target": targets,
                "constraint": [
                    _constraint("outputForm", "eq", RECORD_LEVEL),
                    _constraint("recipient", "isAnyOf", list(version.third_party_recipients)),
                ],
            }
        )
    return permissions


def _prohibitions(version: AgreementVersion, targets: list[str]) -> list[dict[str, Any]]:
    record_level = _constraint("outputForm", "eq", RECORD_LEVEL)
    sharing = [record_level]
    if version.third_party_recipients:
        sharing.append(_constraint("recipient", "isNoneOf", list(version.third_party_recipients)))
    prohibitions: list[dict[str, Any]] = [
        {"action": "distribute", "target": targets, "constraint": sharing},
    ]
    if version.no_identifiable_publication:
        prohibitions.append(
            {
                "action": "distribute",
                "target": targets,
                "constraint": [_constraint("identifiable", "eq", True)],
            }
        )
    if not version.publication_allowed:
        prohibitions.append(
            {
                "action": "distribute",
                "target": targets,
                "constraint": [_constraint("outputForm", "eq", AGGREGATE)],
            }
        )
    if not version.row_level_download:
        prohibitions.append(
            {"action": "reproduce", "target": targets, "constraint": [record_level]}
        )
    return prohibitions


# ---------------------------------------------------------------- reading back -------------
@dataclass(frozen=True)
class PolicyTerms:
    """What a policy says, in the agreement's own terms."""

    bound: bool
    targets: frozenset[str]
    purpose: str
    effective_date: dt.date
    expiry_date: dt.date
    permitted_uses: frozenset[str]
    destruction_days: int
    publication_allowed: bool
    min_cell_size: int | None
    min_cohort_size: int | None
    dominance_threshold: float | None
    checkers: int | None
    preview_window_days: int
    third_party_recipients: frozenset[str]
    identifiable_publication: bool
    row_level_download: bool


def expected_terms(version: AgreementVersion, addresses: Addresses) -> PolicyTerms:
    """What the version's policy must say, straight from its stored terms."""
    published = version.publication_allowed
    return PolicyTerms(
        bound=version.status in IN_FORCE,
        targets=frozenset(addresses.datasets[i] for i in version.covered_dataset_ids),
        purpose=version.purpose,
        effective_date=version.effective_date,
        expiry_date=version.expiry_date,
        permitted_uses=frozenset(version.permitted_uses),
        destruction_days=version.destruction_days,
        publication_allowed=published,
        min_cell_size=version.min_cell_size if published else None,
        min_cohort_size=version.min_cohort_size if published else None,
        dominance_threshold=version.dominance_threshold if published else None,
        checkers=(2 if version.two_checkers_required else 1) if published else None,
        preview_window_days=version.preview_window_days if published else 0,
        third_party_recipients=frozenset(version.third_party_recipients),
        identifiable_publication=not version.no_identifiable_publication,
        row_level_download=version.row_level_download,
    )


class PolicyUnreadable(ValueError):
    """The document is not a policy this reader understands."""


def _value(right: Any) -> Any:
    return right["@value"] if isinstance(right, dict) and "@value" in right else right


def _constraints(rule: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {
        (str(c["leftOperand"]), str(c["operator"])): _value(c["rightOperand"])
        for c in rule.get("constraint", [])
    }


def _rules(document: dict[str, Any], kind: str, action: str) -> list[dict[str, Any]]:
    return [rule for rule in document.get(kind, []) if rule.get("action") == action]


def _only(rules: list[dict[str, Any]], what: str) -> dict[str, Any]:
    if len(rules) != 1:
        raise PolicyUnreadable(f"Expected one {what}, found {len(rules)}.")
    return rules[0]


def _form(rules: list[dict[str, Any]], form: str) -> list[dict[str, Any]]:
    return [r for r in rules if _constraints(r).get(("outputForm", "eq")) == form]


def read_policy(document: dict[str, Any]) -> PolicyTerms:
    """Read an exported policy back (compact JSON-LD, as `policy` writes it)."""
    try:
        use = _constraints(_only(_rules(document, "permission", "use"), "use permission"))
        (delete,) = _only(_rules(document, "permission", "use"), "use permission")["duty"]
        shares = _rules(document, "permission", "distribute")
        bans = _rules(document, "prohibition", "distribute")
        published = _form(shares, AGGREGATE)
        outputs = _constraints(published[0]) if published else {}
        duties = {d["action"]: _constraints(d) for d in (published[0]["duty"] if published else [])}
        third = _form(shares, RECORD_LEVEL)
        identifiable = not any(_constraints(b).get(("identifiable", "eq")) is True for b in bans)
        return PolicyTerms(
            bound=document["type"] == "Agreement",
            targets=frozenset(document.get("target", [])),
            purpose=str(use[("purpose", "eq")]),
            effective_date=dt.date.fromisoformat(use[("dateTime", "gteq")]),
            expiry_date=dt.date.fromisoformat(use[("dateTime", "lteq")]),
            permitted_uses=frozenset(use[("analysisKind", "isAnyOf")]),
            destruction_days=int(_constraints(delete)[("daysAfterEnd", "lteq")]),
            publication_allowed=bool(published) and not _form(bans, AGGREGATE),
            min_cell_size=int(outputs[("minCellSize", "gteq")]) if published else None,
            min_cohort_size=int(outputs[("minCohortSize", "gteq")]) if published else None,
            dominance_threshold=(float(outputs[("dominanceShare", "lteq")]) if published else None),
            checkers=int(duties["outputCheck"][("checkers", "gteq")]) if published else None,
            preview_window_days=int(duties.get("partnerPreview", {}).get(("previewDays", "eq"), 0)),
            third_party_recipients=frozenset(
                _constraints(third[0])[("recipient", "isAnyOf")] if third else ()
            ),
            identifiable_publication=identifiable,
            row_level_download=not _rules(document, "prohibition", "reproduce"),
        )
    except (KeyError, ValueError, TypeError, IndexError) as error:
        raise PolicyUnreadable(f"Not a policy this service wrote: {error!r}") from error
