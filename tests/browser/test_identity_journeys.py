"""Signing in a real browser: through an OpenID Connect provider (the real oidc-provider), and
with a password and a TOTP code after enrolling an authenticator app."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.audit.models import AuditEvent, AuditType
from governance.authz import Role
from governance.identity import groups
from governance.identity.models import User
from tests.browser.keyboard import choose, log_in, log_out, press, type_into
from tests.identity import oidc_provider as idp
from tests.identity import saml_idp
from tests.identity.test_roles import second_admin
from tests.live import LiveServer
from tests.support import PASSWORD, SETUP, People, add_person


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


def test_a_group_mapped_to_the_steward_role_gives_it_at_sign_in_and_takes_it_back(
    db: Session,
    app: Any,
    people: People,
    database_url: str,
    instance_path: Path,
    tmp_path: Path,
    new_page: Any,
) -> None:
    if not idp.node_available():
        pytest.skip(idp.NODE_SKIP)
    # The steward reviews requests: the mapping rules ask a second administrator to approve.
    assert authz.carries_powers(Role.DATA_STEWARD)
    admin2 = add_person(
        db,
        app,
        email="admin2@test.example",
        name="Second Admin",
        org=people.lab,
        roles=(Role.ADMIN,),
    )
    db.commit()
    idp.install_packages()
    people_at_provider = copy.deepcopy(idp.USERS)
    people_at_provider["sam"] = {
        "password": idp.PASSWORD,
        "email": "sam@university.example",
        "name": "Sam Steward",
        "groups": ["data-stewards", "research-staff"],
    }
    provider = idp.TestProvider(tmp_path, [], users=people_at_provider)
    settings = idp.providers_file(tmp_path / "idp.toml", provider)
    server = LiveServer(
        database_url,
        instance_path,
        tmp_path / "server.log",
        env={"GOVERNANCE_IDENTITY_PROVIDERS_FILE": str(settings)},
    )
    base = server.url
    provider.redirect_uris = [f"{base}/login/oidc/testidp/callback"]
    provider.start(keys=[idp.signing_key("journey-key")])
    try:
        admin = new_page()
        log_in(admin, base, people.admin.email, PASSWORD)
        admin.goto(f"{base}/admin/identity/groups")
        type_into(admin, "#mapping-source", "testidp")
        type_into(admin, "#mapping-external_group", "data-stewards")
        choose(admin, "#mapping-role", "Data steward")
        press(admin, "section form button[type=submit]")
        assert "counts once a second administrator approves it" in admin.content()
        assert "waiting for a second administrator" in admin.content()
        # The one who asked cannot approve their own mapping.
        assert admin.locator("form[action$='/approve'] button").count() == 0

        # Before the approval, the group gives nothing.
        sam = new_page()
        sign_in_at_provider(sam, base, provider, "sam")
        sam.goto(f"{base}/account/")
        assert "sam@university.example" in sam.content()
        assert "Data steward" not in sam.content()
        log_out(sam)

        second = new_page()
        log_in(second, base, admin2.email, PASSWORD)
        second.goto(f"{base}/admin/identity/groups")
        press(second, "form[action$='/approve'] button")
        assert f"counts (approved by {admin2.email})" in second.content()

        sign_in_at_provider(sam, base, provider, "sam")
        sam.goto(f"{base}/account/")
        assert "Data steward" in sam.content()
        sam.goto(f"{base}/")
        assert "/dashboard/data_steward" in sam.url, sam.url
        log_out(sam)

        # Sam leaves the group at the provider: the next sign-in takes the role back.
        provider.users["sam"]["groups"] = []
        provider.restart(keys=[idp.signing_key("journey-key-2")])
        sign_in_at_provider(sam, base, provider, "sam")
        assert "Your account is ready" in sam.content(), sam.content()[:2000]
        sam.goto(f"{base}/account/")
        assert "Data steward" not in sam.content()
        with Session(db.get_bind()) as check:
            sam_row = check.scalars(
                select(User).where(User.email == "sam@university.example")
            ).one()
            assert sam_row.role_set == frozenset()
            kinds = [
                (e.event_type, e.detail["role"])
                for e in check.scalars(
                    select(AuditEvent)
                    .where(
                        AuditEvent.event_type.in_(
                            [AuditType.GROUP_ROLE_GRANT, AuditType.GROUP_ROLE_REMOVE]
                        )
                    )
                    .order_by(AuditEvent.seq)
                )
            ]
        assert kinds == [
            (AuditType.GROUP_ROLE_GRANT, "data_steward"),
            (AuditType.GROUP_ROLE_REMOVE, "data_steward"),
        ]
    finally:
        provider.stop()
        server.stop()


def sign_in_at_provider(page: Any, base: str, provider: idp.TestProvider, login: str) -> None:
    """Through the provider's button; the provider asks for the login unless it remembers it."""
    page.goto(f"{base}/login")
    press(page, "a[href='/login/oidc/testidp']")
    page.wait_for_load_state()
    if page.url.startswith(provider.issuer):
        type_into(page, "input[name=login]", login)
        type_into(page, "input[name=password]", idp.PASSWORD)
        with page.expect_navigation(url=re.compile(re.escape(base))):
            page.keyboard.press("Enter")
        page.wait_for_load_state()
    # else the provider still knew them (single sign-on) and sent them straight back.
    assert page.url.startswith(base), page.url
    assert "/login" not in page.url, page.content()[:2000]


def test_issue_new_recovery_codes_then_turn_the_second_factor_off(
    db: Session, people: People, live_server: Any, new_page: Any
) -> None:
    base = live_server.url
    page = new_page()
    log_in(page, base, people.analyst.email, PASSWORD)
    page.goto(f"{base}/account/two-factor")
    press(page, "form[action$='/two-factor/start'] button")
    secret = page.inner_text("#totp-secret").strip()
    type_into(page, "#code", pyotp.TOTP(secret).now())
    press(page, "form[action$='/two-factor/confirm'] button")
    old = page.locator("#recovery-codes li").all_inner_texts()

    page.goto(f"{base}/account/")
    assert "Second factor: on" in page.inner_text("#second-factor-status")
    press(page, "form[action$='/two-factor/recovery-codes'] button")
    assert "Your earlier recovery codes no longer work" in page.content()
    new = page.locator("#recovery-codes li").all_inner_texts()
    assert len(new) == 10
    assert not set(new) & set(old)

    page.goto(f"{base}/account/")
    press(page, "form[action$='/two-factor/disable'] button")
    assert page.url.endswith("/account/")
    assert "Second factor: off" in page.inner_text("#second-factor-status")
    log_out(page)
    log_in(page, base, people.analyst.email, PASSWORD)  # the password alone again


def test_moving_a_partner_reviewer_waits_for_a_second_administrator(
    db: Session, app: Any, people: People, live_server: Any, new_page: Any
) -> None:
    """An administrator moves the police's partner reviewer to Probation on the person's page:
    nothing moves until a second administrator approves it on the role-changes page."""
    admin2 = second_admin(db, app, people)
    base = live_server.url
    admin = new_page()
    log_in(admin, base, people.admin.email, PASSWORD)
    admin.goto(f"{base}/admin/users/{people.partner.id}")
    choose(admin, "#edit-organization_id", people.probation.name)
    press(admin, "section[aria-labelledby=edit-heading] form button[type=submit]")
    page = admin.content()
    assert f"Organisation: {people.probation.name}" in page, page[:2000]
    assert f"{people.partner.email} · {people.police.name}" in page
    admin.goto(f"{base}/admin/role-changes")
    # The one who asked has no approve button.
    assert admin.locator("form[action$='/approve'] button").count() == 0

    second = new_page()
    log_in(second, base, admin2.email, PASSWORD)
    second.goto(f"{base}/admin/role-changes")
    press(second, "form[action$='/approve'] button")
    assert f"now belongs to {people.probation.name}" in second.content()
    second.goto(f"{base}/admin/users/{people.partner.id}")
    assert f"{people.partner.email} · {people.probation.name}" in second.content()
