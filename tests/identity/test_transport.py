"""The session cookie travels over HTTPS only, unless the site is the local demo on plain HTTP
at a loopback address; serving other machines over plain HTTP is warned about at start-up."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from flask import Flask

from governance import create_app
from governance.kernel.extensions import database
from tests.conftest import csrf_token
from tests.identity.conftest import login_from
from tests.support import PASSWORD, People


def built(config: dict[str, object]) -> Flask:
    app = create_app(config)
    database(app).dispose()
    return app


@pytest.mark.parametrize(
    ("base_url", "secure"),
    [
        ("http://127.0.0.1:5000", False),  # `make run`
        ("http://localhost:8000", False),
        ("http://[::1]:5000", False),
        ("https://governance.lab.example", True),
        ("http://governance.lab.example", True),
        ("http://10.1.2.3:5000", True),
    ],
)
def test_the_session_cookie_is_secure_unless_served_on_loopback_over_http(
    instance_path: Path, base_url: str, secure: bool
) -> None:
    app = built({"BASE_URL": base_url})
    assert app.config["SESSION_COOKIE_SECURE"] is secure
    assert app.config["REMEMBER_COOKIE_SECURE"] is secure


def test_an_explicit_setting_wins(instance_path: Path) -> None:
    assert (
        built({"BASE_URL": "http://127.0.0.1:5000", "SESSION_COOKIE_SECURE": "true"}).config[
            "SESSION_COOKIE_SECURE"
        ]
        is True
    )
    assert (
        built({"BASE_URL": "https://x.example", "SESSION_COOKIE_SECURE": False}).config[
            "SESSION_COOKIE_SECURE"
        ]
        is False
    )


def test_serving_other_machines_over_plain_http_is_warned_about(
    instance_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="governance"):
        built({"BASE_URL": "http://governance.lab.example"})
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "plain HTTP" in warnings[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="governance"):
        built({"BASE_URL": "http://127.0.0.1:5000"})
        built({"BASE_URL": "https://governance.lab.example"})
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_login_cookie_is_marked_secure_behind_https(
    app_config: dict[str, object], instance_path: Path, people: People, app: Flask
) -> None:
    https = create_app({**app_config, "BASE_URL": "https://governance.lab.example"})
    try:
        answer = login_from(https.test_client(), "192.0.2.1", people.analyst.email, PASSWORD)
        assert answer.status_code == 302
        assert "; Secure" in answer.headers["Set-Cookie"]
    finally:
        database(https).dispose()


def test_behind_a_trusted_proxy_the_clients_own_address_is_used(
    app_config: dict[str, object], people: People, app: Flask
) -> None:
    """With PROXY_COUNT=1 the throttle (and the session record) see the address the proxy
    reports, so one client's failures do not throttle everyone behind the proxy."""
    proxied = create_app({**app_config, "PROXY_COUNT": 1})

    def attempt(address: str, password: str) -> int:
        client = proxied.test_client()
        status: int = client.post(
            "/login",
            data={
                "email": people.analyst.email,
                "password": password,
                "csrf_token": csrf_token(client),
            },
            headers={"X-Forwarded-For": address},
        ).status_code
        return status

    try:
        tries = [attempt("203.0.113.9", "wrong") for _ in range(5)]
        assert tries == [200, 200, 200, 200, 429]
        assert attempt("198.51.100.4", PASSWORD) == 302
    finally:
        database(proxied).dispose()
