"""Anonymous requests go to the login page; a role without the permission gets 403."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from tests.conftest import Browser
from tests.support import PASSWORD, People

# The pages behind e-mailed links need no login: the link's secret is the credential.
PUBLIC_ENDPOINTS = {
    "static",
    "auth.login",
    "public.index",
    "public.output",
    "public.file",
    "api.openapi",
    "account.reset_password",
    "account.unlock",
}


def page_urls(app: Flask) -> list[str]:
    """Every GET route in the URL map, with placeholder arguments filled in."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()) or rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        url = re.sub(r"<(?:int:)?(\w+)>", "1", rule.rule)
        urls.append(re.sub(r"<\w+:(\w+)>", "1", url))
    return urls


def test_anonymous_requests_to_every_page_redirect_to_login(app: Flask) -> None:
    client = app.test_client()
    urls = page_urls(app)
    assert len(urls) >= 5
    for url in urls:
        response = client.get(url)
        if url.startswith("/api/"):
            assert response.status_code == 401, url
        else:
            assert response.status_code == 302, url
            assert "/login" in response.headers["Location"], url


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("analyst", "/admin/users"),
        ("analyst", "/dashboard/admin"),
        ("partner", "/admin/organizations"),
        ("steward", "/admin/users/new"),
        ("compliance", "/admin/users/new"),
    ],
)
def test_a_wrong_role_gets_403(browser: Browser, people: People, role: str, path: str) -> None:
    browser.login(getattr(people, role).email, PASSWORD)
    response = browser.get(path)
    assert response.status_code == 403
    assert "Not allowed" in response.get_data(as_text=True)


def test_each_role_reaches_its_own_dashboard(app: Flask, people: People) -> None:
    for key in ("admin", "privacy", "steward", "compliance", "analyst", "checker", "partner"):
        client = app.test_client()
        browser = Browser(client)
        browser.login(getattr(people, key).email, PASSWORD)
        landing = client.get("/", follow_redirects=True)
        assert landing.status_code == 200, key
        assert landing.request.path.startswith("/dashboard/"), key
