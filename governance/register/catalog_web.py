"""The dataset catalogue (DCAT-AP JSON-LD) and the ODRL profile, at stable public addresses.

Like the register, reading them needs no sign-in and is not recorded: they hold only what the
register's consent already makes public (governance/register/catalog.py).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, url_for

from governance.agreements.odrl import profile_document
from governance.agreements.odrl_export import MEDIA_TYPE, serialise
from governance.agreements.odrl_links import (
    catalogue_address,
    dataset_address,
    organisation_address,
    policy_address,
    profile_address,
)
from governance.identity.web_login import public
from governance.kernel.extensions import db_session
from governance.register.catalog import Links, catalogue

bp = Blueprint("catalog", __name__, url_prefix="/catalog")

PUBLIC_CACHE = "public, max-age=300"


def jsonld(document: dict[str, Any]) -> Response:
    """JSON-LD with every non-ASCII character escaped, whatever a name holds."""
    response = Response(serialise(document), mimetype=MEDIA_TYPE)
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return response


def catalogue_document() -> dict[str, Any]:
    links = Links(
        catalogue=catalogue_address(),
        request_access=url_for("access.new_request", _external=True),
        dataset=dataset_address,
        organisation=organisation_address,
        policy=policy_address,
    )
    return catalogue(
        db_session(), publisher=str(current_app.config["CATALOG_PUBLISHER"]), links=links
    )


@bp.route("/dcat.jsonld")
@public
def dcat() -> Response:
    return jsonld(catalogue_document())


@bp.route("/odrl-profile.jsonld")
@public
def odrl_profile() -> Response:
    """The terms this service's ODRL policies add to ODRL 2.2 (their `profile`)."""
    return jsonld(profile_document(profile_address()))
