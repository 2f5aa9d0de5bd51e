"""Where an exported policy and what it names live, as absolute addresses.

Datasets and organisations are named by fragments of the public catalogue's address, so the
catalogue (governance/register/catalog.py) and every policy name them alike.
"""

from __future__ import annotations

from flask import url_for

from governance.agreements.models import AgreementVersion
from governance.agreements.odrl import Addresses


def catalogue_address() -> str:
    return url_for("catalog.dcat", _external=True)


def profile_address() -> str:
    return url_for("catalog.odrl_profile", _external=True) + "#"


def policy_address(agreement_id: int, number: int) -> str:
    return url_for("agreements.odrl", agreement_id=agreement_id, number=number, _external=True)


def dataset_address(dataset_id: int) -> str:
    return f"{catalogue_address()}#dataset-{dataset_id}"


def organisation_address(organisation_id: int) -> str:
    return f"{catalogue_address()}#organisation-{organisation_id}"


def addresses(version: AgreementVersion) -> Addresses:
    agreement = version.agreement
    return Addresses(
        policy=policy_address(agreement.id, version.number),
        profile=profile_address(),
        provider=organisation_address(agreement.provider_id),
        recipient=organisation_address(agreement.recipient_id),
        datasets={i: dataset_address(i) for i in version.covered_dataset_ids},
    )
