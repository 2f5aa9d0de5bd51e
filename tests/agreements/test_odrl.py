"""An agreement version as an ODRL 2.2 policy: what it says is what the version says, read back
by this service's reader and by an independent JSON-LD processor (rdflib) against the ODRL
vocabulary; only those who may read the agreement get it, and each export is recorded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest
import rdflib
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

import governance.all_models  # noqa: F401  (every mapped class, for transient versions)
from governance.agreements.analysis_kind_model import AnalysisKind
from governance.agreements.models import Agreement, AgreementVersion, VersionStatus
from governance.agreements.odrl import (
    ODRL,
    Addresses,
    PolicyUnreadable,
    expected_terms,
    policy,
    read_policy,
)
from governance.agreements.odrl_export import serialise
from governance.agreements.odrl_links import addresses as live_addresses
from governance.agreements.parts_model import CoveredColumn
from governance.audit.models import AuditEvent, AuditType
from governance.identity.models import Role
from governance.identity.organization_model import Organization, OrganizationKind
from tests.agreements.builders import Datasets, approved, draft, make_datasets
from tests.compliance.test_api import token_of
from tests.conftest import Browser
from tests.support import PASSWORD, People, add_person

ODRL_NS = rdflib.Namespace(ODRL)
PROFILE = "https://governance.example/catalog/odrl-profile.jsonld#"
CATALOGUE = "https://governance.example/catalog/dcat.jsonld"
HOSTILE = 'Q1 "review" </script><!-- \\ \u2028 {"@id": "x"} \' ; DROP TABLE agreement; --'


def transient_version(**terms: Any) -> AgreementVersion:
    """A version with its agreement and parties, never stored: the export reads only these."""
    provider = Organization(
        id=1, name=terms.pop("provider", "Police"), kind=OrganizationKind.PROVIDER
    )
    recipient = Organization(id=2, name="Crime Lab", kind=OrganizationKind.RESEARCH)
    agreement = Agreement(
        id=7,
        reference="DUA-2026-007",
        provider=provider,
        recipient=recipient,
        provider_id=1,
        recipient_id=2,
    )
    datasets = terms.pop("datasets", [3])
    values: dict[str, Any] = {
        "number": 1,
        "status": VersionStatus.APPROVED,
        "title": "Diversion",
        "purpose": "Estimate the effect of diversion.",
        "permitted_uses": ["descriptive"],
        "third_party_recipients": [],
        "publication_allowed": True,
        "min_cell_size": 10,
        "min_cohort_size": 60,
        "preview_window_days": 30,
        "two_checkers_required": True,
        "dominance_threshold": 0.9,
        "row_level_download": False,
        "destruction_days": 30,
        "effective_date": dt.date(2026, 1, 1),
        "expiry_date": dt.date(2027, 1, 1),
        **terms,
    }
    version = AgreementVersion(agreement=agreement, **values)
    version.covered = [CoveredColumn(dataset_id=i, column_name="sex") for i in datasets]
    return version


def addresses(version: AgreementVersion) -> Addresses:
    return Addresses(
        policy=f"https://governance.example/agreements/7/versions/{version.number}/odrl.jsonld",
        profile=PROFILE,
        provider=f"{CATALOGUE}#organisation-1",
        recipient=f"{CATALOGUE}#organisation-2",
        datasets={i: f"{CATALOGUE}#dataset-{i}" for i in version.covered_dataset_ids},
    )


def exported(version: AgreementVersion) -> dict[str, Any]:
    """Through the bytes a reader gets, not the dict the exporter built."""
    loaded: dict[str, Any] = json.loads(serialise(policy(version, addresses(version))))
    return loaded


words = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
versions = st.fixed_dictionaries(
    {
        "status": st.sampled_from(list(VersionStatus)),
        "purpose": words,
        "permitted_uses": st.lists(st.sampled_from([k.value for k in AnalysisKind]), unique=True),
        "third_party_recipients": st.lists(words, unique=True, max_size=3),
        "publication_allowed": st.booleans(),
        "min_cell_size": st.integers(1, 10_000),
        "min_cohort_size": st.integers(1, 10_000),
        "preview_window_days": st.integers(0, 365),
        "two_checkers_required": st.booleans(),
        "dominance_threshold": st.floats(1e-6, 1.0),
        "row_level_download": st.booleans(),
        "destruction_days": st.integers(0, 3650),
        "effective_date": st.dates(dt.date(2000, 1, 1), dt.date(2090, 1, 1)),
        "expiry_date": st.dates(dt.date(2000, 1, 1), dt.date(2090, 1, 1)),
        "datasets": st.lists(st.integers(1, 50), unique=True, min_size=1, max_size=4),
    }
)


@settings(max_examples=200, deadline=None)
@given(versions)
def test_the_policy_read_back_says_what_the_version_says(terms: dict[str, Any]) -> None:
    version = transient_version(**terms)
    assert read_policy(exported(version)) == expected_terms(version, addresses(version))


def test_the_round_trip_sees_each_clause_change() -> None:
    """The comparison is not vacuous: changing one clause changes what is read back."""
    base = transient_version()
    read = read_policy(exported(base))
    for change in (
        {"min_cell_size": 11},
        {"purpose": "Something else"},
        {"third_party_recipients": ["State auditor"]},
        {"preview_window_days": 0},
        {"destruction_days": 90},
        {"row_level_download": True},
        {"publication_allowed": False},
        {"expiry_date": dt.date(2027, 1, 2)},
    ):
        assert read_policy(exported(transient_version(**change))) != read, change


def graph_of(document: dict[str, Any]) -> rdflib.Graph:
    return rdflib.Graph().parse(data=json.dumps(document), format="json-ld")


def constraint_values(graph: rdflib.Graph, action: str, left: rdflib.URIRef) -> set[Any]:
    rows = graph.query(
        """SELECT ?right WHERE {
             ?policy odrl:permission ?rule . ?rule odrl:action ?action ;
             odrl:constraint ?c . ?c odrl:leftOperand ?left ; odrl:rightOperand ?right }""",
        initNs={"odrl": ODRL_NS},
        initBindings={"action": ODRL_NS[action], "left": left},
    )
    return {row[0].toPython() for row in rows}  # type: ignore[index]


@settings(max_examples=25, deadline=None)
@given(versions)
def test_an_independent_json_ld_processor_reads_the_same_constraints(
    terms: dict[str, Any],
) -> None:
    version = transient_version(**terms)
    graph = graph_of(exported(version))
    policy_node = rdflib.URIRef(addresses(version).policy)
    in_force = version.status in (VersionStatus.APPROVED, VersionStatus.SUPERSEDED)
    kind = ODRL_NS.Agreement if in_force else ODRL_NS.Offer
    assert (policy_node, rdflib.RDF.type, kind) in graph
    assert constraint_values(graph, "use", ODRL_NS.purpose) == {version.purpose}
    assert constraint_values(graph, "use", ODRL_NS.dateTime) == {
        version.effective_date,
        version.expiry_date,
    }
    cells = constraint_values(graph, "distribute", rdflib.URIRef(PROFILE + "minCellSize"))
    assert cells == ({version.min_cell_size} if version.publication_allowed else set())
    targets = set(graph.objects(policy_node, ODRL_NS.target))
    assert {str(t) for t in targets} == set(addresses(version).datasets.values())
    assert (policy_node, ODRL_NS.assigner, rdflib.URIRef(f"{CATALOGUE}#organisation-1")) in graph


def test_hostile_text_is_data_not_structure() -> None:
    version = transient_version(purpose=HOSTILE, title=HOSTILE, provider=HOSTILE)
    raw = serialise(policy(version, addresses(version)))
    assert raw.isascii()  # every non-ASCII character escaped (U+2028 included)
    document = json.loads(raw)
    assert read_policy(document).purpose == HOSTILE
    assert document["assigner"]["name"] == HOSTILE
    graph = graph_of(document)
    assert constraint_values(graph, "use", ODRL_NS.purpose) == {HOSTILE}
    assert not list(graph.subjects(None, rdflib.URIRef("x")))  # no injected node


def test_a_document_this_service_did_not_write_is_refused() -> None:
    with pytest.raises(PolicyUnreadable):
        read_policy({"type": "Agreement", "permission": []})


# ---------------------------------------------------------------- through the app --------
@pytest.fixture
def datasets(db: Session, people: People) -> Datasets:
    return make_datasets(db, people)


def exports(db: Session) -> list[AuditEvent]:
    db.rollback()
    return list(
        db.scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.AGREEMENT_ODRL))
    )


def test_a_party_exports_the_version_in_force_and_it_is_recorded(
    app: Flask, browser: Browser, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = approved(db, people, datasets, min_cell_size=15, third_party_recipients=["IRB"])
    browser.login(people.analyst.email, PASSWORD)
    response = browser.client.get(f"/agreements/{agreement.id}/versions/1/odrl.jsonld")
    assert response.status_code == 200
    assert response.mimetype == "application/ld+json"
    document = json.loads(response.data)
    version = agreement.current_version
    assert version is not None
    read = read_policy(document)
    with app.test_request_context():
        assert read == expected_terms(version, live_addresses(version))
    assert read.min_cell_size == 15
    assert read.third_party_recipients == {"IRB"}
    assert document["type"] == "Agreement"
    (event,) = exports(db)
    assert event.actor_id == people.analyst.id
    assert event.agreement_id == agreement.id
    assert event.detail["sha256"] == hashlib.sha256(response.data).hexdigest()
    page = browser.client.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert f"/agreements/{agreement.id}/versions/1/odrl.jsonld" in page


def test_a_draft_is_an_offer_not_an_agreement(
    client: FlaskClient, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = draft(db, people, datasets)
    headers = token_of(db, people.privacy)
    response = client.get(f"/api/v1/agreements/{agreement.id}/odrl", headers=headers)
    assert response.status_code == 200, response.data
    assert json.loads(response.data)["type"] == "Offer"


@pytest.mark.parametrize("on_register", [False, True])
def test_a_non_party_cannot_export_and_the_refusal_is_recorded(
    app: Flask,
    client: FlaskClient,
    db: Session,
    people: People,
    datasets: Datasets,
    on_register: bool,
) -> None:
    """Private or on the public register alike: the policy states more than the register."""
    agreement = approved(
        db, people, datasets, public_register=on_register, lay_summary="Listed." * on_register
    )
    outsider = add_person(
        db,
        app,
        email="outsider@probation.example",
        name="Out Sider",
        org=people.probation,
        roles=(Role.ANALYST,),
    )
    db.commit()
    api = client.get(f"/api/v1/agreements/{agreement.id}/odrl", headers=token_of(db, outsider))
    assert api.status_code == 403
    browser = Browser(app.test_client())
    browser.login(outsider.email, PASSWORD)
    page = browser.client.get(f"/agreements/{agreement.id}/versions/1/odrl.jsonld")
    assert page.status_code == 403
    assert "Estimate the effect" not in page.get_data(as_text=True)
    anonymous = app.test_client().get(f"/agreements/{agreement.id}/versions/1/odrl.jsonld")
    assert anonymous.status_code == 302  # to the sign-in page, even for a listed agreement
    assert exports(db) == []
    refusals = db.scalars(
        select(AuditEvent).where(
            AuditEvent.event_type == AuditType.AGREEMENT_READ,
            AuditEvent.actor_id == outsider.id,
        )
    ).all()
    assert len(refusals) == 2


def test_a_version_the_agreement_does_not_have_is_404(
    browser: Browser, db: Session, people: People, datasets: Datasets
) -> None:
    agreement = approved(db, people, datasets)
    browser.login(people.privacy.email, PASSWORD)
    assert (
        browser.client.get(f"/agreements/{agreement.id}/versions/9/odrl.jsonld").status_code == 404
    )
    assert exports(db) == []


def test_the_profile_declares_every_term_the_policies_use(client: FlaskClient) -> None:
    profile = json.loads(client.get("/catalog/odrl-profile.jsonld").data)
    graph = rdflib.Graph().parse(data=json.dumps(profile), format="json-ld")
    declared = {str(s) for s in graph.subjects(rdflib.RDF.type, ODRL_NS.LeftOperand)}
    declared |= {str(s) for s in graph.subjects(rdflib.RDF.type, ODRL_NS.Action)}
    base = profile["@context"]["dua"]
    version = transient_version(third_party_recipients=["x"])
    used = {
        str(o)
        for o in graph_of(policy(version, addresses(version))).objects()
        if str(o).startswith(PROFILE)
    }
    assert {u.removeprefix(PROFILE) for u in used} <= {d.removeprefix(base) for d in declared}
