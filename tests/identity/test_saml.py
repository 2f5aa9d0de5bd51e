"""SAML 2.0 sign-in against a real IdP (pysaml2's own, signing with a test key): success,
another service provider's assertion, an expired one, an unsigned one, one signed by a key the
IdP's metadata does not hold, and a replayed one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType
from governance.identity.models import User
from governance.identity.oidc import SignInRefused
from governance.identity.sso_model import ExternalIdentity, SeenAssertion
from governance.identity.web_sso import saml_providers, saml_request_id
from tests.conftest import fresh
from tests.identity import saml_idp
from tests.support import People

pytestmark = pytest.mark.skipif(not saml_idp.xmlsec_available(), reason=saml_idp.XMLSEC_SKIP)

ALICE = {
    "mail": ["alice@campus.example"],
    "displayName": ["Alice Campus"],
    "eduPersonEntitlement": ["urn:mace:campus.example:research"],
}


@pytest.fixture
def idp(tmp_path: Path) -> saml_idp.TestIdP:
    return saml_idp.TestIdP(tmp_path)


@pytest.fixture
def app_config(database_url: str, tmp_path: Path, idp: saml_idp.TestIdP) -> dict[str, Any]:
    settings = tmp_path / "idp.toml"
    settings.write_text(
        "[saml.campus]\n"
        'display_name = "Campus (SAML)"\n'
        f'idp_entity_id = "{saml_idp.IDP_ENTITY_ID}"\n'
        f'idp_metadata_file = "{idp.write_metadata()}"\n'
        "allow_jit = true\n"
        'organization = "Test Lab"\n'
    )
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "IDENTITY_PROVIDERS_FILE": str(settings),
        "BASE_URL": "https://gov.test.example",
    }


def start(client: FlaskClient) -> str:
    answer = client.get("/login/saml/campus")
    assert answer.status_code == 302
    return str(answer.headers["Location"])


def sp_metadata(client: FlaskClient) -> str:
    return client.get("/saml/campus/metadata").get_data(as_text=True)


def post_back(client: FlaskClient, response: str) -> Any:
    return client.post("/saml/campus/acs", data={"SAMLResponse": response})


def signed_in(client: FlaskClient) -> bool:
    return client.get("/account/").status_code == 200


def failures(db: Session) -> list[str]:
    return [
        e.detail["reason"]
        for e in fresh(db).scalars(
            select(AuditEvent)
            .where(AuditEvent.event_type == AuditType.SSO_LOGIN_FAILED)
            .order_by(AuditEvent.seq)
        )
    ]


def test_the_metadata_is_published_at_a_stable_address(client: FlaskClient) -> None:
    answer = client.get("/saml/campus/metadata")
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    assert 'entityID="https://gov.test.example/saml/campus/metadata"' in text
    assert 'Location="https://gov.test.example/saml/campus/acs"' in text
    assert 'WantAssertionsSigned="true"' in text
    assert "Sign in with Campus (SAML)" in client.get("/login").get_data(as_text=True)


def test_a_signed_assertion_signs_in_by_name_id(
    client: FlaskClient, db: Session, people: People, idp: saml_idp.TestIdP
) -> None:
    response = idp.answer(sp_metadata(client), start(client), subject="c-1", attributes=ALICE)
    answer = post_back(client, response)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    assert signed_in(client)
    alice = fresh(db).scalars(select(User).where(User.email == "alice@campus.example")).one()
    assert alice.name == "Alice Campus"
    identity = db.scalars(select(ExternalIdentity)).one()
    assert (identity.issuer, identity.subject, identity.provider) == (
        saml_idp.IDP_ENTITY_ID,
        "c-1",
        "campus",
    )
    login = db.scalars(select(AuditEvent).where(AuditEvent.event_type == AuditType.SSO_LOGIN)).one()
    assert login.detail["groups"] == ["urn:mace:campus.example:research"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"audience": "https://another-sp.example/metadata"}, "AudienceRestrictions"),
        # pysaml2 names the failed NotOnOrAfter check "Condition not OK".
        ({"lifetime": {"minutes": -5}}, "VerificationError: Condition not OK"),
        ({"sign": False}, "Signature missing for assertion"),
    ],
    ids=["another audience", "expired", "unsigned"],
)
def test_a_wrong_assertion_is_refused(
    client: FlaskClient,
    db: Session,
    people: People,
    idp: saml_idp.TestIdP,
    change: dict[str, Any],
    reason: str,
) -> None:
    response = idp.answer(
        sp_metadata(client), start(client), subject="c-1", attributes=ALICE, **change
    )
    assert post_back(client, response).status_code == 401
    assert not signed_in(client)
    (recorded,) = failures(db)
    assert reason in recorded
    assert (
        fresh(db).scalars(select(User).where(User.email == "alice@campus.example")).first() is None
    )


def test_an_assertion_signed_by_a_key_not_in_the_metadata_is_refused(
    client: FlaskClient, db: Session, people: People, tmp_path: Path
) -> None:
    impostor = saml_idp.TestIdP(tmp_path, name="impostor")  # same entity id, its own key
    response = impostor.answer(sp_metadata(client), start(client), subject="c-1", attributes=ALICE)
    assert post_back(client, response).status_code == 401
    assert not signed_in(client)
    assert failures(db) == ["SAML response refused: SignatureError: Failed to verify signature"]


def test_an_unsolicited_response_is_refused(
    client: FlaskClient, db: Session, people: People, idp: saml_idp.TestIdP, app: Flask
) -> None:
    """A response captured elsewhere, posted into a browser that asked for nothing."""
    other = app.test_client()
    response = idp.answer(sp_metadata(other), start(other), subject="c-1", attributes=ALICE)
    assert post_back(client, response).status_code == 401
    assert failures(db) == ["no SAML sign-in was started in this browser (unsolicited)"]


def test_a_replayed_assertion_is_refused(
    app: Flask, client: FlaskClient, db: Session, people: People, idp: saml_idp.TestIdP
) -> None:
    url = start(client)
    response = idp.answer(sp_metadata(client), url, subject="c-1", attributes=ALICE)
    request_id = _pending_request_id(app, client)
    sp = _sp(app)
    now = dt.datetime.now(dt.UTC)
    with Session(bind=db.get_bind(), info=db.info) as session:
        assert sp.finish(session, saml_response=response, request_id=request_id, now=now)
        session.commit()
    with (
        Session(bind=db.get_bind(), info=db.info) as session,
        pytest.raises(SignInRefused) as refused,
    ):
        sp.finish(session, saml_response=response, request_id=request_id, now=now)
    assert refused.value.reason == "replayed SAML assertion (its id was seen before)"
    assert len(list(fresh(db).scalars(select(SeenAssertion)))) == 1


def _sp(app: Flask) -> Any:
    with app.app_context():
        return saml_providers()["campus"]


def _pending_request_id(app: Flask, client: FlaskClient) -> str:
    cookie = client.get_cookie("saml_request", path="/saml/campus/acs")
    assert cookie is not None
    with app.test_request_context(
        "/saml/campus/acs", headers={"Cookie": f"saml_request={cookie.value}"}
    ):
        request_id = saml_request_id("campus")
    assert request_id is not None
    return request_id
