"""The dataset catalogue through the API: the same public DCAT-AP document as the page."""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from governance.agreements.odrl_export import MEDIA_TYPE
from governance.api.operations import Answer, operation
from governance.register.catalog_web import catalogue_document, jsonld


@operation(
    "GET",
    "/catalog",
    tag="Catalogue",
    summary="The dataset catalogue (DCAT-AP 3.0.1 JSON-LD)",
    authenticated=False,
    answer=Answer(
        200,
        "A dcat:Catalog of the datasets that agreements on the public register use: metadata "
        "only, never rows or columns.",
        {"type": "object"},
        media_types=(MEDIA_TYPE,),
    ),
)
def catalog() -> ResponseReturnValue:
    """Needs no token, like /catalog/dcat.jsonld."""
    return jsonld(catalogue_document())
