"""Fixtures for the foundation tests: a local SMTP server that keeps what it receives, clients
at other network addresses, the session cookie's own content, and running `governance`
commands in this process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import csrf_token
from tests.workers import free_port

LINK = re.compile(r"https?://\S+/(reset|unlock)/([A-Za-z0-9_-]+)")


@dataclass
class Inbox:
    """What the local SMTP server received: (recipient, subject, body) per message."""

    messages: list[tuple[str, str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        mail = message_from_bytes(envelope.content)
        body = mail.get_payload(decode=True).decode()
        for recipient in envelope.rcpt_tos:
            self.messages.append((recipient, str(mail["Subject"]), body))
        return "250 OK"

    def to(self, address: str) -> list[tuple[str, str]]:
        return [(subject, body) for to, subject, body in self.messages if to == address]

    def link(self, address: str, kind: str) -> str:
        """The path of the newest e-mailed link of this kind (reset or unlock) to `address`."""
        for _subject, body in reversed(self.to(address)):
            for found in LINK.finditer(body):
                if found.group(1) == kind:
                    return f"/{kind}/{found.group(2)}"
        raise AssertionError(f"no {kind} link was e-mailed to {address}: {self.messages}")


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
def inbox(smtp: tuple[Inbox, int]) -> Inbox:
    return smtp[0]


def mail_settings(smtp: tuple[Inbox, int]) -> dict[str, Any]:
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp[1],
        "MAIL_SENDER": "governance@test.example",
        "BASE_URL": "https://gov.test.example",
    }


def login_from(
    client: FlaskClient, address: str, email: str, password: str, user_agent: str = "pytest"
) -> Any:
    """Log in as if from another machine."""
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(client)},
        environ_base={"REMOTE_ADDR": address},
        headers={"User-Agent": user_agent},
    )


def cookie_content(app: Flask, client: FlaskClient) -> dict[str, Any]:
    """What the signed session cookie says (Flask signs it; it does not encrypt it)."""
    cookie = client.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    assert cookie is not None, "no session cookie"
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    content: dict[str, Any] = serializer.loads(cookie.value)
    return content
