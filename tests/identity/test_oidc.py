"""OpenID Connect sign-in against a real provider (oidc-provider, started by the tests).

Each refusal is a real answer of the provider or a real token it signed: a person deactivated
at the provider, a token for another client, an expired token, a token whose nonce belongs to
another sign-in, a provider that rotated its keys, and one whose key was replaced by another
under the same key id (a forged signer).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditType
from governance.authz import Role
from governance.identity import groups
from governance.identity.actors import System
from governance.identity.models import User
from governance.identity.oidc import OidcClient, SignInRefused
from governance.identity.providers import load_providers
from governance.identity.sso_model import ExternalIdentity
from tests.conftest import Browser, fresh
from tests.identity import oidc_provider as idp
from tests.support import PASSWORD, People

CALLBACK = "http://localhost/login/oidc/testidp/callback"

pytestmark = [
    pytest.mark.skipif(not idp.node_available(), reason=idp.NODE_SKIP),
    # Under xdist the module's tests stay on one worker: one provider process, started once.
    pytest.mark.xdist_group("test_oidc"),
]


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[idp.TestProvider]:
    idp.install_packages()
    running = idp.TestProvider(tmp_path_factory.mktemp("oidc"), [CALLBACK])
    running.start(keys=[idp.signing_key("key-1")])
    yield running
    running.stop()


@pytest.fixture
def app_config(database_url: str, tmp_path: Path, provider: idp.TestProvider) -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "IDENTITY_PROVIDERS_FILE": str(idp.providers_file(tmp_path / "idp.toml", provider)),
    }


def via_provider(
    client: FlaskClient, provider: idp.TestProvider, login: str, *, state: str | None = None
) -> Any:
    """Press the provider's button, sign in there, and come back (optionally with a forged
    `state`)."""
    start = client.get("/login/oidc/testidp")
    assert start.status_code == 302, start.get_data(as_text=True)
    assert start.headers["Location"].startswith(provider.issuer)
    back = urlsplit(provider.sign_in(start.headers["Location"], login))
    assert f"http://{back.netloc}{back.path}" == CALLBACK
    query = parse_qs(back.query)
    if state is not None:
        query["state"] = [state]
    return client.get(back.path, query_string={k: v[0] for k, v in query.items()})


def map_group(db: Session, group: str, role: Role) -> None:
    groups.create_mapping(
        db,
        source="testidp",
        external_group=group,
        role=role,
        organization_id=None,
        by=System("test"),
    )
    db.commit()


def events(db: Session, kind: AuditType) -> list[AuditEvent]:
    return list(
        fresh(db).scalars(
            select(AuditEvent).where(AuditEvent.event_type == kind).order_by(AuditEvent.seq)
        )
    )


def signed_in_as(client: FlaskClient) -> str | None:
    page = client.get("/account/")
    if page.status_code != 200:
        return None
    text = page.get_data(as_text=True)
    for user in idp.USERS.values():
        if user["email"] in text:
            return str(user["email"])
    return "someone else"


def test_the_login_page_offers_each_provider(client: FlaskClient, people: People) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert "Sign in with Test University" in page
    assert 'href="/login/oidc/testidp"' in page
    assert client.get("/login/oidc/nobody").status_code == 404


def test_first_sign_in_creates_an_account_without_roles_then_finds_it_by_subject(
    client: FlaskClient, db: Session, people: People, provider: idp.TestProvider
) -> None:
    answer = via_provider(client, provider, "alice")
    assert answer.status_code == 302, answer.get_data(as_text=True)
    assert signed_in_as(client) == "alice@university.example"
    alice = fresh(db).scalars(select(User).where(User.email == "alice@university.example")).one()
    assert alice.role_set == frozenset()
    assert alice.organization.name == "Test Lab"
    link = db.scalars(select(ExternalIdentity).where(ExternalIdentity.user_id == alice.id)).one()
    assert (link.issuer, link.subject, link.provider) == (provider.issuer, "alice", "testidp")
    provisioned = events(db, AuditType.SSO_PROVISION)
    assert [e.detail["subject"] for e in provisioned] == ["alice"]
    assert provisioned[0].detail["roles"] == []
    # The password form cannot sign the new account in: it has no password.
    client.post("/logout", data={"csrf_token": _csrf(client)})
    Browser(client).login("alice@university.example", "")
    assert signed_in_as(client) is None
    # A second sign-in finds the same account by issuer and subject.
    via_provider(client, provider, "alice")
    assert signed_in_as(client) == "alice@university.example"
    assert (
        fresh(db).scalar(select(func.count()).select_from(User).where(User.email.like("alice%")))
        == 1
    )
    logins = events(db, AuditType.SSO_LOGIN)
    assert [(e.actor_email, e.detail["provider"]) for e in logins] == [
        ("alice@university.example", "testidp")
    ] * 2


def test_a_person_deactivated_at_the_provider_is_refused(
    client: FlaskClient, db: Session, people: People, provider: idp.TestProvider
) -> None:
    answer = via_provider(client, provider, "leaver")
    assert answer.status_code == 401
    assert "not signed in" in answer.get_data(as_text=True)
    assert signed_in_as(client) is None
    (failure,) = events(db, AuditType.SSO_LOGIN_FAILED)
    assert "access_denied" in failure.detail["reason"]
    assert fresh(db).scalars(select(User).where(User.email.like("leaver%"))).first() is None


def test_a_forged_state_is_refused_and_recorded(
    client: FlaskClient, db: Session, people: People, provider: idp.TestProvider
) -> None:
    answer = via_provider(client, provider, "alice", state="forged-state")
    assert answer.status_code == 401
    assert signed_in_as(client) is None
    (failure,) = events(db, AuditType.SSO_LOGIN_FAILED)
    assert failure.detail["reason"] == "state mismatch"


def test_a_callback_no_browser_started_is_refused(
    client: FlaskClient, db: Session, people: People, provider: idp.TestProvider
) -> None:
    """An attacker sends a victim their own callback link (login CSRF)."""
    answer = client.get("/login/oidc/testidp/callback?code=abc&state=xyz")
    assert answer.status_code == 401
    assert "state mismatch" in events(db, AuditType.SSO_LOGIN_FAILED)[0].detail["reason"]


def test_an_unknown_group_grants_no_role_and_is_recorded(
    client: FlaskClient, db: Session, people: People, provider: idp.TestProvider
) -> None:
    map_group(db, "research-staff", Role.ANALYST)
    via_provider(client, provider, "gerry")
    assert signed_in_as(client) == "gerry@university.example"
    gerry = fresh(db).scalars(select(User).where(User.email == "gerry@university.example")).one()
    assert gerry.role_set == frozenset()
    (login,) = events(db, AuditType.SSO_LOGIN)
    assert login.detail["groups"] == ["a-group-nobody-mapped"]
    (unmapped,) = events(db, AuditType.GROUPS_UNMAPPED)
    assert unmapped.detail == {
        "email": "gerry@university.example",
        "source": "testidp",
        "groups": ["a-group-nobody-mapped"],
    }
    assert client.get("/admin/users").status_code in (403, 404)


def test_a_person_without_a_role_is_told_their_account_exists_and_whom_to_ask(
    client: FlaskClient, db: Session, people: People, provider: idp.TestProvider
) -> None:
    via_provider(client, provider, "gerry")
    home = client.get("/")
    text = home.get_data(as_text=True)
    assert home.status_code == 200, text[:2000]
    assert "Your account is ready" in text
    assert "gerry@university.example" in text
    assert "holds no role yet" in text
    # The administrators of their organisation, with an address to write to.
    assert f"mailto:{people.admin.email}" in text
    assert people.admin.name in text
    # Nobody else is offered as a contact: not the privacy officer, not the steward.
    assert people.privacy.email not in text
    assert people.steward.email not in text
    # The page is only a welcome: the pages of roles stay closed.
    assert client.get("/dashboard/analyst").status_code == 403


def test_a_mapped_group_gives_its_role_at_sign_in_and_takes_it_back_when_left(
    client: FlaskClient, db: Session, people: People, provider: idp.TestProvider
) -> None:
    map_group(db, "research-staff", Role.ANALYST)
    via_provider(client, provider, "alice")
    alice = fresh(db).scalars(select(User).where(User.email == "alice@university.example")).one()
    assert alice.role_set == {Role.ANALYST}
    (granted,) = events(db, AuditType.GROUP_ROLE_GRANT)
    assert granted.detail["source"] == "testidp"
    # The session being signed in with survives the role change it caused.
    assert signed_in_as(client) == "alice@university.example"
    assert events(db, AuditType.SSO_LOGIN)[0].detail["role_changes"] == ["grant:analyst"]


def test_an_e_mail_alone_never_takes_over_an_existing_account(
    client: FlaskClient, db: Session, people: People, provider: idp.TestProvider
) -> None:
    """The provider's `steward` claims the local steward's e-mail; no link, no sign-in."""
    answer = via_provider(client, provider, "steward")
    assert answer.status_code == 401
    assert signed_in_as(client) is None
    (failure,) = events(db, AuditType.SSO_LOGIN_FAILED)
    assert failure.detail["reason"] == "e-mail belongs to an unlinked account"
    assert fresh(db).scalars(select(ExternalIdentity)).first() is None


def test_the_holder_links_their_account_then_signs_in_through_the_provider(
    client: FlaskClient, db: Session, people: People, provider: idp.TestProvider
) -> None:
    browser = Browser(client)
    browser.login(people.steward.email, PASSWORD)
    start = browser.post("/account/link/testidp")
    assert start.status_code == 302
    back = urlsplit(provider.sign_in(start.headers["Location"], "steward"))
    assert client.get(back.path + "?" + back.query).status_code == 302
    (linked,) = events(db, AuditType.SSO_LINK)
    assert linked.actor_email == people.steward.email
    client.post("/logout", data={"csrf_token": _csrf(client)})
    via_provider(client, provider, "steward")
    logins = events(db, AuditType.SSO_LOGIN)
    assert [e.actor_email for e in logins] == [people.steward.email]


def test_without_just_in_time_provisioning_an_unknown_subject_is_refused(
    app_config: dict[str, Any], tmp_path: Path, provider: idp.TestProvider, instance_path: Path
) -> None:
    from governance import create_app
    from governance.kernel.extensions import database

    app_config["IDENTITY_PROVIDERS_FILE"] = str(
        idp.providers_file(tmp_path / "nojit.toml", provider, allow_jit=False)
    )
    app = create_app(app_config)
    try:
        client = app.test_client()
        assert via_provider(client, provider, "alice").status_code == 401
        engine = database(app).read_engine()
        with Session(engine) as db:
            (failure,) = events(db, AuditType.SSO_LOGIN_FAILED)
            assert failure.detail["reason"] == "no linked account; provisioning is off"
            assert db.scalars(select(User).where(User.email.like("alice%"))).first() is None
    finally:
        database(app).dispose()


# ID tokens checked one by one: real tokens from the provider, for our client or another.


def raw_id_token(
    provider: idp.TestProvider, client_id: str, secret: str, nonce: str, login: str = "alice"
) -> str:
    metadata = requests.get(
        f"{provider.issuer}/.well-known/openid-configuration", timeout=30
    ).json()
    verifier = secrets.token_urlsafe(64)
    query = urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "scope": "openid email profile groups",
            "redirect_uri": CALLBACK,
            "state": "s",
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    back = provider.sign_in(f"{metadata['authorization_endpoint']}?{query}", login)
    code = parse_qs(urlsplit(back).query)["code"][0]
    token = requests.post(
        metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
        timeout=30,
    ).json()
    return str(token["id_token"])


@pytest.fixture
def our_client(tmp_path: Path, provider: idp.TestProvider) -> OidcClient:
    providers = load_providers(idp.providers_file(tmp_path / "p.toml", provider)).oidc
    return OidcClient(providers["testidp"], cache_seconds=3600)


def now() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp())


def test_a_token_for_our_client_passes(our_client: OidcClient, provider: idp.TestProvider) -> None:
    token = raw_id_token(provider, idp.CLIENT_ID, idp.CLIENT_SECRET, "n-1")
    verified = our_client.verify_id_token(token, nonce="n-1", now=now(), leeway=0)
    assert (verified.subject, verified.email) == ("alice", "alice@university.example")
    assert verified.groups == ("research-staff",)


def test_a_required_claim_admits_only_the_institutions_accounts(
    tmp_path: Path, provider: idp.TestProvider
) -> None:
    """As Google's `hd` admits one domain: here the claim is the person's name."""
    settings = idp.providers_file(tmp_path / "p.toml", provider)
    settings.write_text(settings.read_text() + 'required_claims = { name = "Alice Archer" }\n')
    client = OidcClient(load_providers(settings).oidc["testidp"], cache_seconds=3600)
    token = raw_id_token(provider, idp.CLIENT_ID, idp.CLIENT_SECRET, "n-5")
    assert client.verify_id_token(token, nonce="n-5", now=now(), leeway=0).subject == "alice"
    other = raw_id_token(provider, idp.CLIENT_ID, idp.CLIENT_SECRET, "n-6", login="gerry")
    with pytest.raises(SignInRefused) as refused:
        client.verify_id_token(other, nonce="n-6", now=now(), leeway=0)
    assert refused.value.reason == "ID token claim 'name' is not the required value"


def test_a_token_issued_to_another_client_is_refused(
    our_client: OidcClient, provider: idp.TestProvider
) -> None:
    token = raw_id_token(provider, idp.OTHER_CLIENT_ID, "another-service-secret", "n-2")
    with pytest.raises(SignInRefused) as refused:
        our_client.verify_id_token(token, nonce="n-2", now=now(), leeway=0)
    assert "aud" in refused.value.reason


def test_an_expired_token_is_refused(our_client: OidcClient, provider: idp.TestProvider) -> None:
    token = raw_id_token(provider, idp.CLIENT_ID, idp.CLIENT_SECRET, "n-3")
    # The provider's ID tokens live 600 s; a minute of clock skew is allowed.
    our_client.verify_id_token(token, nonce="n-3", now=now() + 600, leeway=60)
    with pytest.raises(SignInRefused) as refused:
        our_client.verify_id_token(token, nonce="n-3", now=now() + 661, leeway=60)
    assert "exp" in refused.value.reason


def test_a_token_from_another_sign_in_is_refused(
    our_client: OidcClient, provider: idp.TestProvider
) -> None:
    token = raw_id_token(provider, idp.CLIENT_ID, idp.CLIENT_SECRET, "victim-nonce")
    with pytest.raises(SignInRefused) as refused:
        our_client.verify_id_token(token, nonce="attacker-nonce", now=now(), leeway=0)
    assert "nonce" in refused.value.reason


def test_a_tampered_token_is_refused(our_client: OidcClient, provider: idp.TestProvider) -> None:
    token = raw_id_token(provider, idp.CLIENT_ID, idp.CLIENT_SECRET, "n-4")
    header, payload, signature = token.split(".")
    flipped = "A" if signature[10] != "A" else "B"
    forged = ".".join([header, payload, signature[:10] + flipped + signature[11:]])
    with pytest.raises(SignInRefused) as refused:
        our_client.verify_id_token(forged, nonce="n-4", now=now(), leeway=0)
    assert "signature" in refused.value.reason


# Key rotation and a forged signer: a provider of the test's own, restarted with other keys.


@pytest.fixture
def own_provider(tmp_path: Path) -> Iterator[idp.TestProvider]:
    running = idp.TestProvider(tmp_path, [CALLBACK])
    running.start(keys=[idp.signing_key("key-1")])
    yield running
    running.stop()


@pytest.fixture
def own_app(
    database_url: str, tmp_path: Path, own_provider: idp.TestProvider, instance_path: Path
) -> Iterator[Any]:
    from governance import create_app
    from governance.kernel.extensions import database
    from tests.support import make_people

    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "IDENTITY_PROVIDERS_FILE": str(idp.providers_file(tmp_path / "own.toml", own_provider)),
        }
    )
    with Session(database(app).read_engine(), info=database(app).info) as db:
        make_people(db, app)
    yield app
    database(app).dispose()


def test_a_rotated_key_is_fetched_once_and_accepted(
    own_app: Any, own_provider: idp.TestProvider
) -> None:
    client = own_app.test_client()
    assert via_provider(client, own_provider, "alice").status_code == 302
    client.post("/logout", data={"csrf_token": _csrf(client)})
    own_provider.restart(keys=[idp.signing_key("key-2")])
    assert via_provider(client, own_provider, "alice").status_code == 302
    assert signed_in_as(client) == "alice@university.example"


def test_a_token_signed_by_another_key_under_a_known_key_id_is_refused(
    own_app: Any, own_provider: idp.TestProvider
) -> None:
    client = own_app.test_client()
    assert via_provider(client, own_provider, "alice").status_code == 302
    client.post("/logout", data={"csrf_token": _csrf(client)})
    # Someone else's key, published under the id the service already trusts.
    own_provider.restart(keys=[idp.signing_key("key-1")])
    answer = via_provider(client, own_provider, "alice")
    assert answer.status_code == 401
    assert signed_in_as(client) is None
    from governance.kernel.extensions import database

    with Session(database(own_app).read_engine()) as db:
        (failure,) = events(db, AuditType.SSO_LOGIN_FAILED)
        assert "signature" in failure.detail["reason"]


def _csrf(client: FlaskClient) -> str:
    from tests.conftest import csrf_token

    return csrf_token(client, "/account/")
