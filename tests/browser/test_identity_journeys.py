"""Signing in a real browser: through an OpenID Connect provider (the real oidc-provider), and
with a password and a TOTP code after enrolling an authenticator app."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
import requests
from sqlalchemy.orm import Session

from governance.authz import Role
from governance.identity import groups
from tests.browser.keyboard import log_in, log_out, press, type_into
from tests.identity import oidc_provider as idp
from tests.identity import saml_idp
from tests.live import LiveServer
from tests.support import PASSWORD, SETUP, People


@pytest.fixture
def sso_server(
    db: Session, people: People, database_url: str, instance_path: Path, tmp_path: Path
) -> Iterator[tuple[LiveServer, idp.TestProvider]]:
    if not idp.node_available():
        pytest.skip(idp.NODE_SKIP)
    groups.create_mapping(
        db,
        source="testidp",
        external_group="research-staff",
        role=Role.ANALYST,
        organization_id=None,
        by=SETUP,
    )
    db.commit()
    idp.install_packages()
    provider = idp.TestProvider(tmp_path, [])
    settings = idp.providers_file(tmp_path / "idp.toml", provider)
    server = LiveServer(
        database_url,
        instance_path,
        tmp_path / "server.log",
        env={"GOVERNANCE_IDENTITY_PROVIDERS_FILE": str(settings)},
    )
    provider.redirect_uris = [f"{server.url}/login/oidc/testidp/callback"]
    provider.start(keys=[idp.signing_key("journey-key")])
    yield server, provider
    provider.stop()
    server.stop()


def test_a_person_signs_in_through_their_institution(
    sso_server: tuple[LiveServer, idp.TestProvider], new_page: Any
) -> None:
    server, provider = sso_server
    page = new_page()
    page.goto(f"{server.url}/login")
    press(page, "a[href='/login/oidc/testidp']")
    assert page.url.startswith(provider.issuer), page.url
    assert "Test identity provider" in page.content()
    type_into(page, "input[name=login]", "alice")
    type_into(page, "input[name=password]", idp.PASSWORD)
    with page.expect_navigation(url=re.compile(re.escape(server.url))):
        page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()[:2000]
    page.goto(f"{server.url}/account/")
    assert "alice@university.example" in page.content()
    assert "Analyst" in page.content()  # from the group mapping, at sign-in


def test_a_person_signs_in_through_a_saml_idp(
    db: Session,
    people: People,
    database_url: str,
    instance_path: Path,
    tmp_path: Path,
    new_page: Any,
) -> None:
    if not saml_idp.xmlsec_available():
        pytest.skip(saml_idp.XMLSEC_SKIP)
    groups.create_mapping(
        db,
        source="campus",
        external_group="urn:mace:campus.example:research",
        role=Role.ANALYST,
        organization_id=None,
        by=SETUP,
    )
    db.commit()
    idp_port, sp_port = idp.free_port(), idp.free_port()
    base = f"http://127.0.0.1:{sp_port}"
    campus = saml_idp.TestIdP(tmp_path, sso_url=f"http://127.0.0.1:{idp_port}/sso")
    settings = tmp_path / "saml.toml"
    settings.write_text(
        "[saml.campus]\n"
        'display_name = "Campus (SAML)"\n'
        f'idp_entity_id = "{saml_idp.IDP_ENTITY_ID}"\n'
        f'idp_metadata_file = "{campus.write_metadata()}"\n'
        "allow_jit = true\n"
        'organization = "Test Lab"\n'
    )
    server = LiveServer(
        database_url,
        instance_path,
        tmp_path / "server.log",
        env={"GOVERNANCE_IDENTITY_PROVIDERS_FILE": str(settings), "GOVERNANCE_BASE_URL": base},
        port=sp_port,
    )
    site = saml_idp.IdPSite(
        campus,
        lambda: requests.get(f"{base}/saml/campus/metadata", timeout=10).text,
        port=idp_port,
        subject="campus-7",
        attributes={
            "mail": ["casey@campus.example"],
            "displayName": ["Casey Campus"],
            "eduPersonEntitlement": ["urn:mace:campus.example:research"],
        },
    )
    site.start()
    try:
        page = new_page()
        page.goto(f"{base}/login")
        press(page, "a[href='/login/saml/campus']")
        assert page.url.startswith(site.url), page.url
        press(page, "button[type=submit]")
        assert page.url.startswith(base), page.url
        assert "/login" not in page.url, page.content()[:2000]
        page.goto(f"{base}/account/")
        assert "casey@campus.example" in page.content()
        assert "Analyst" in page.content()
    finally:
        site.stop()
        server.stop()


def test_enrol_an_authenticator_app_and_sign_in_with_it(
    db: Session, people: People, live_server: Any, new_page: Any
) -> None:
    base = live_server.url
    page = new_page()
    log_in(page, base, people.analyst.email, PASSWORD)
    page.goto(f"{base}/account/two-factor")
    press(page, "form[action$='/two-factor/start'] button")
    secret = page.inner_text("#totp-secret").strip()
    assert page.locator("img[alt^='QR code']").count() == 1
    type_into(page, "#code", pyotp.TOTP(secret).now())
    press(page, "form[action$='/two-factor/confirm'] button")
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    log_out(page)

    page.goto(f"{base}/login")
    type_into(page, "#email", people.analyst.email)
    type_into(page, "#password", PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/login/second-factor")
    # The code of the next 30-second step: the enrolment's own code is never taken twice.
    type_into(page, "#code", pyotp.TOTP(secret).at(int(time.time()) + 30))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/login" not in page.url, page.content()[:2000]
