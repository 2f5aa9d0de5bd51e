"""Fixtures for the foundation tests: a local SMTP server that keeps what it receives, clients
at other network addresses, the session cookie's own content, and running `governance`
commands in this process."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import csrf_token
from tests.mailqueue import smtp_server, work_mail

LINK = re.compile(r"https?://\S+/(reset|unlock)/([A-Za-z0-9_-]+)")


@dataclass
class Inbox:
    """What the local SMTP server received: (recipient, subject, body) per message, once the
    job queue's worker (`worker`, set by the fixture: tests/mailqueue.py) has sent what waits."""

    received: list[tuple[str, str, str]] = field(default_factory=list)
    worker: Callable[[], object] | None = None
    # Refuse this many messages (a failing server: 451, "try again later") before accepting.
    refuse: int = 0

    @property
    def messages(self) -> list[tuple[str, str, str]]:
        if self.worker is not None:
            self.worker()
        return self.received

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.refuse > 0:
            self.refuse -= 1
            return "451 4.3.0 Try again later"
        mail = message_from_bytes(envelope.content)
        body = mail.get_payload(decode=True).decode()
        for recipient in envelope.rcpt_tos:
            self.received.append((recipient, str(mail["Subject"]), body))
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
    with smtp_server(handler) as port:
        yield handler, port


@pytest.fixture
def inbox(smtp: tuple[Inbox, int], app: Flask) -> Inbox:
    smtp[0].worker = lambda: work_mail(app)
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
