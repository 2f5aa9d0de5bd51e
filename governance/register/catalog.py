"""The dataset catalogue as DCAT-AP 3.0.1 JSON-LD: metadata only, never a row or a column.

Which datasets: those that an agreement on the public register covers. The parties' consent to
list the agreement (governance/register/queries.py) is what makes a dataset's existence public
here; a dataset no listed agreement uses is in nobody's public record and stays out. What each
entry says is the provider's declaration (name, description, subject area), its stewards as the
contact point, the access conditions (restricted: rows are read only inside the service under
an approved agreement and a steward's grant; only aggregate outputs leave), the laws the
listed agreements cite with their legal bases, and links to those agreements' ODRL policies.
The one distribution is the request-access page, never a download of rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.agreements.models import AgreementVersion
from governance.datasets.models import Dataset, DatasetVersion, SubjectArea
from governance.identity.models import User
from governance.identity.organization_model import Organization
from governance.register.queries import listed_versions

DCAT_AP = "https://semiceu.github.io/DCAT-AP/releases/3.0.1"
ACCESS_RIGHTS = "http://publications.europa.eu/resource/authority/access-right/RESTRICTED"
CONDITIONS = (
    "Restricted. Rows never leave this service: approved researchers read the columns a data "
    "steward grants them, inside the service, under a data use agreement with the provider "
    "that a privacy officer approved. Only aggregate outputs that pass disclosure control "
    "leave, under the agreement's minimum cell size. Ask for access through the request page."
)

CONTEXT: dict[str, Any] = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "dcatap": "http://data.europa.eu/r5r/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "odrl": "http://www.w3.org/ns/odrl/2/",
    "eli": "http://data.europa.eu/eli/ontology#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "dataset": {"@id": "dcat:dataset", "@container": "@set"},
    "distribution": {"@id": "dcat:distribution", "@container": "@set"},
    "title": "dct:title",
    "description": "dct:description",
    "identifier": "dct:identifier",
    "publisher": "dct:publisher",
    "issued": {"@id": "dct:issued", "@type": "xsd:date"},
    "modified": {"@id": "dct:modified", "@type": "xsd:date"},
    "keyword": {"@id": "dcat:keyword", "@container": "@set"},
    "contactPoint": {"@id": "dcat:contactPoint", "@container": "@set"},
    "accessRights": "dct:accessRights",
    "rights": "dct:rights",
    "conformsTo": "dct:conformsTo",
    "accessURL": {"@id": "dcat:accessURL", "@type": "@id"},
    "hasPolicy": {"@id": "odrl:hasPolicy", "@container": "@set"},
    "applicableLegislation": {"@id": "dcatap:applicableLegislation", "@container": "@set"},
    "name": "foaf:name",
    "fn": "vcard:fn",
    "hasEmail": {"@id": "vcard:hasEmail", "@type": "@id"},
    "organisationName": "vcard:organization-name",
    "label": "rdfs:label",
}


@dataclass(frozen=True)
class Links:
    """The addresses the catalogue names (built by the caller from its routes)."""

    catalogue: str
    request_access: str
    dataset: Callable[[int], str]
    organisation: Callable[[int], str]
    policy: Callable[[int, int], str]


@dataclass
class Listed:
    dataset: Dataset
    versions: list[AgreementVersion] = field(default_factory=list)


def listed_datasets(session: Session) -> list[Listed]:
    """The datasets listed agreements cover, by name, with those agreements' versions."""
    found: dict[int, Listed] = {}
    for _agreement, version in listed_versions(session):
        for covered in version.covered:
            listed = found.setdefault(covered.dataset_id, Listed(covered.dataset))
            if version not in listed.versions:
                listed.versions.append(version)
    return sorted(found.values(), key=lambda item: (item.dataset.name, item.dataset.id))


def _agent(organisation: Organization, links: Links) -> dict[str, Any]:
    return {
        "@id": links.organisation(organisation.id),
        "@type": "foaf:Agent",
        "name": organisation.name,
    }


def _stewards(session: Session, dataset: Dataset) -> list[dict[str, Any]]:
    if not dataset.steward_ids:
        return []
    users = session.scalars(
        select(User).where(User.id.in_(dataset.steward_ids)).order_by(User.name, User.id)
    )
    return [
        {
            "@type": ["vcard:Kind", "vcard:Individual"],
            "fn": f"{user.name} (data steward)",
            "hasEmail": f"mailto:{user.email}",
            "organisationName": dataset.provider.name,
        }
        for user in users
    ]


def _laws(versions: list[AgreementVersion]) -> list[dict[str, Any]]:
    laws: dict[str, dict[str, Any]] = {}
    for version in versions:
        for law in version.laws:
            code = str(law["code"])
            entry = laws.setdefault(
                code, {"@type": "eli:LegalResource", "label": str(law["label"]), "bases": set()}
            )
            if basis := version.legal_bases.get(code):
                entry["bases"].add(str(basis))
    return [
        {
            "@type": law["@type"],
            "label": law["label"],
            **({"description": sorted(law["bases"])} if law["bases"] else {}),
        }
        for _code, law in sorted(laws.items())
    ]


def _modified(session: Session, dataset_id: int) -> dt.date | None:
    stored = session.scalar(
        select(func.max(DatasetVersion.created_at)).where(
            DatasetVersion.dataset_id == dataset_id, DatasetVersion.destroyed_at.is_(None)
        )
    )
    return stored.date() if stored else None


def _dataset(session: Session, listed: Listed, links: Links) -> dict[str, Any]:
    dataset = listed.dataset
    area = SubjectArea(dataset.subject_area).label
    description = (
        dataset.description.strip()
        or f"{area} records held by {dataset.provider.name}, available for approved research."
    )
    entry: dict[str, Any] = {
        "@id": links.dataset(dataset.id),
        "@type": "dcat:Dataset",
        "title": dataset.name,
        "description": description,
        "identifier": f"dataset-{dataset.id}",
        "publisher": _agent(dataset.provider, links),
        "keyword": [area],
        "issued": dataset.created_at.date().isoformat(),
        "accessRights": {"@id": ACCESS_RIGHTS, "@type": "dct:RightsStatement"},
        "rights": {"@type": "dct:RightsStatement", "label": CONDITIONS},
        "distribution": [
            {
                "@id": f"{links.dataset(dataset.id)}-access",
                "@type": "dcat:Distribution",
                "title": f"Request access to {dataset.name}",
                "description": CONDITIONS,
                "accessURL": links.request_access,
                "accessRights": {"@id": ACCESS_RIGHTS, "@type": "dct:RightsStatement"},
                # Each listed agreement's version in force, as an ODRL policy (readable by
                # those who may read the agreement: governance/agreements/odrl_export.py).
                "hasPolicy": [
                    {
                        "@id": links.policy(v.agreement_id, v.number),
                        "@type": ["odrl:Policy", "odrl:Agreement"],
                    }
                    for v in listed.versions
                ],
            }
        ],
    }
    if contacts := _stewards(session, dataset):
        entry["contactPoint"] = contacts
    if laws := _laws(listed.versions):
        entry["applicableLegislation"] = laws
    if modified := _modified(session, dataset.id):
        entry["modified"] = modified.isoformat()
    return entry


def catalogue(session: Session, *, publisher: str, links: Links) -> dict[str, Any]:
    """The catalogue document (a dcat:Catalog with its datasets)."""
    return {
        "@context": CONTEXT,
        "@id": links.catalogue,
        "@type": "dcat:Catalog",
        "title": f"{publisher}: datasets available for approved research",
        "description": (
            "The datasets that agreements on the public data-use register use, described by "
            "their providers. Metadata only: no rows, columns or values are published here. "
            f"DCAT-AP 3.0.1 ({DCAT_AP})."
        ),
        "publisher": {
            "@id": f"{links.catalogue}#publisher",
            "@type": "foaf:Agent",
            "name": publisher,
        },
        "conformsTo": {"@id": DCAT_AP},
        "dataset": [_dataset(session, item, links) for item in listed_datasets(session)],
    }
