"""The dataset catalogue: DCAT-AP 3.0.1 JSON-LD that the official SHACL shapes accept (checked by
pyshacl, an independent validator), listing only the datasets that agreements on the public
register use, with their stewards and access conditions, and never a row, a column or a value.

The shapes are SEMIC's release 3.0.1 files (tests/register/shapes/, CC-BY 4.0, from
SEMICeu/DCAT-AP `releases/3.0.1/shacl/`).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import rdflib
from flask import Flask
from pyshacl import validate
from sqlalchemy.orm import Session

from governance.agreements.odrl import expected_terms, policy, read_policy
from governance.agreements.odrl_links import addresses
from governance.datasets.ingestion import ingest_frame
from governance.datasets.models import (
    Classification,
    ColumnType,
    Dataset,
    DatasetColumn,
    DatasetSteward,
)
from governance.demo import load_demo
from governance.register.queries import listed_versions
from tests.agreements.builders import Datasets, approved, make_datasets
from tests.register.test_register import SUMMARY, listed
from tests.support import SETUP, People

SHAPES = Path(__file__).parent / "shapes"
DCAT = rdflib.Namespace("http://www.w3.org/ns/dcat#")
DCT = rdflib.Namespace("http://purl.org/dc/terms/")
ODRL = rdflib.Namespace("http://www.w3.org/ns/odrl/2/")
VCARD = rdflib.Namespace("http://www.w3.org/2006/vcard/ns#")
HOSTILE = 'Arrests "2025" </script><!-- \\ \u2028 {"@id": "x"} \' ; DROP TABLE dataset; --'
ROWS = pd.DataFrame(
    {
        "person_id": ["ROWVALUE-ID-1", "ROWVALUE-ID-2"],
        "name": ["Rowena Valuesworth", "Colin Contents"],
        "date_of_birth": ["1990-01-01", "1991-02-02"],
        "sex": ["F", "M"],
        "age_at_arrest": ["31", "47"],
        "arrest_date": ["2025-01-01", "2025-02-02"],
        "offence_category": ["SECRET-OFFENCE", "theft"],
        "district": ["Zeta-district", "north"],
    }
)


@cache
def shapes() -> rdflib.Graph:
    graph = rdflib.Graph()
    graph.parse(SHAPES / "dcat-ap-3.0.1-SHACL.ttl", format="turtle")
    return graph


def conforms(document: dict[str, Any]) -> tuple[bool, str]:
    data = rdflib.Graph().parse(data=json.dumps(document), format="json-ld")
    ok, _graph, text = validate(data, shacl_graph=shapes(), inference="none")
    return bool(ok), str(text)


@pytest.fixture
def datasets(db: Session, people: People) -> Datasets:
    found = make_datasets(db, people)
    db.add(DatasetSteward(dataset_id=found.arrests.id, user_id=people.steward.id))
    ingest_frame(
        db, dataset_id=found.arrests.id, frame=ROWS, source_filename="arrests.csv", by=SETUP
    )
    db.commit()
    return found


def catalogue(app: Flask) -> dict[str, Any]:
    response = app.test_client().get("/catalog/dcat.jsonld")  # nobody signed in
    assert response.status_code == 200
    assert response.mimetype == "application/ld+json"
    document: dict[str, Any] = json.loads(response.data)
    return document


def test_only_datasets_of_listed_agreements_are_catalogued_and_valid(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = listed(db, people, datasets)
    citations = Dataset(
        name="Citations",
        provider_id=people.police.id,
        columns=[
            DatasetColumn(
                position=0,
                name="sex",
                type=ColumnType.STRING,
                classification=Classification.QUASI_IDENTIFIER,
            )
        ],
    )
    db.add(citations)
    db.commit()
    # not on the register: its dataset stays out of the catalogue
    approved(db, people, datasets, columns={citations.id: ["sex"]})
    document = catalogue(app)
    assert [d["title"] for d in document["dataset"]] == [datasets.arrests.name]
    ok, report = conforms(document)
    assert ok, report
    graph = rdflib.Graph().parse(data=json.dumps(document), format="json-ld")
    (dataset,) = graph.subjects(rdflib.RDF.type, DCAT.Dataset)
    assert (
        dataset,
        DCT.accessRights,
        rdflib.URIRef("http://publications.europa.eu/resource/authority/access-right/RESTRICTED"),
    ) in graph
    (contact,) = graph.objects(dataset, DCAT.contactPoint)
    assert (contact, VCARD.hasEmail, rdflib.URIRef(f"mailto:{people.steward.email}")) in graph
    (distribution,) = graph.objects(dataset, DCAT.distribution)
    (access,) = graph.objects(distribution, DCAT.accessURL)
    assert str(access).endswith("/access/requests/new")
    assert not list(graph.objects(distribution, DCAT.downloadURL))
    (linked,) = graph.objects(distribution, ODRL.hasPolicy)
    assert str(linked).endswith(f"/agreements/{agreement.id}/versions/1/odrl.jsonld")
    register = app.test_client().get("/register/").get_data(as_text=True)
    assert 'href="/catalog/dcat.jsonld"' in register
    api = app.test_client().get("/api/v1/catalog")
    assert api.status_code == 200
    assert json.loads(api.data) == document


@pytest.mark.parametrize(
    ("where", "mandatory"),
    [
        ("catalog", "title"),
        ("catalog", "description"),
        ("catalog", "publisher"),
        ("dataset", "title"),
        ("dataset", "description"),
        ("distribution", "accessURL"),
        ("publisher", "name"),
    ],
)
def test_the_shapes_refuse_a_catalogue_missing_a_mandatory_property(
    app: Flask, db: Session, people: People, datasets: Datasets, where: str, mandatory: str
) -> None:
    listed(db, people, datasets)
    document = catalogue(app)
    node = {
        "catalog": document,
        "dataset": document["dataset"][0],
        "distribution": document["dataset"][0]["distribution"][0],
        "publisher": document["dataset"][0]["publisher"],
    }[where]
    del node[mandatory]
    ok, report = conforms(document)
    assert not ok
    assert "MinCountConstraintComponent" in report


def strings(node: Any) -> list[str]:
    """Every string value in a JSON document (keys aside)."""
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return [node] if isinstance(node, str) else []


def test_the_catalogue_holds_no_row_column_or_value(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    listed(db, people, datasets)
    document = catalogue(app)
    del document["@context"]
    text = json.dumps(document, ensure_ascii=False)
    values = set(strings(document))
    for column in datasets.arrests.column_names:
        assert column not in values, column
        assert "_" not in column or column not in text, column
    for value in ROWS.astype(str).to_numpy().ravel():
        if len(value) >= 5:  # a distinctive value (not "F" or "31", found in any text)
            assert value not in text, value
    assert SUMMARY not in text  # the register's business, not the catalogue's
    assert people.analyst.email not in text  # personnel are never named


def test_nothing_is_catalogued_until_an_agreement_is_listed(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    approved(db, people, datasets)
    document = catalogue(app)
    assert document["dataset"] == []
    ok, report = conforms(document)
    assert ok, report


def test_hostile_names_stay_strings(
    app: Flask, db: Session, people: People, datasets: Datasets
) -> None:
    datasets.arrests.name = HOSTILE
    datasets.arrests.description = HOSTILE
    db.commit()
    listed(db, people, datasets)
    raw = app.test_client().get("/catalog/dcat.jsonld").data
    assert raw.isascii()  # every non-ASCII character escaped (U+2028 included)
    document = json.loads(raw)
    assert document["dataset"][0]["title"] == HOSTILE
    graph = rdflib.Graph().parse(data=raw, format="json-ld")
    (dataset,) = graph.subjects(rdflib.RDF.type, DCAT.Dataset)
    assert str(graph.value(dataset, DCT.title)) == HOSTILE
    assert str(graph.value(dataset, DCT.description)) == HOSTILE
    assert not list(graph.subjects(None, rdflib.URIRef("x")))
    ok, report = conforms(document)
    assert ok, report


def test_the_demo_world_catalogue_conforms_and_its_policies_read_back(
    app: Flask, db: Session
) -> None:
    """The demo's own declarations (descriptions, stewards, laws), not only the builders'."""
    load_demo(db, app=app)
    db.commit()
    document = catalogue(app)
    assert document["dataset"]
    ok, report = conforms(document)
    assert ok, report
    with app.test_request_context():
        for agreement, version in listed_versions(db):
            found = policy(version, addresses(version))
            assert read_policy(found) == expected_terms(version, addresses(version))
            assert found["type"] == "Agreement", agreement.reference
