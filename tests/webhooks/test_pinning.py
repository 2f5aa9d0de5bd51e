"""DNS rebinding: a webhook goes to the address that was checked, resolved once; a host name
that resolves to an internal address is refused unless WEBHOOK_ALLOWED_HOSTS names it; the
request still carries the URL's own host name. No database: the sender alone."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
import urllib3.util.connection

from governance.webhooks import delivery
from governance.webhooks.addresses import AddressRefused, check_url, resolve
from tests.webhooks.receiver import running_receiver

REAL_GETADDRINFO = socket.getaddrinfo


def answers(table: dict[str, list[str]]) -> Callable[..., Any]:
    """getaddrinfo answering `table[host]` in turn (the last one from then on)."""
    calls: dict[str, int] = {}

    def fake(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in table:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        turn = calls.get(host, 0)
        calls[host] = turn + 1
        address = table[host][min(turn, len(table[host]) - 1)]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0)))]

    fake.calls = calls  # type: ignore[attr-defined]
    return fake


def outgoing(url: str) -> delivery.Outgoing:
    return delivery.Outgoing(1, url, b"{}", {"content-type": "application/json"}, 2)


@pytest.mark.parametrize("internal", ["10.0.0.5", "127.0.0.1", "169.254.169.254", "192.168.1.9"])
def test_a_name_that_resolves_to_an_internal_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, internal: str
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", answers({"hooks.partner.example": [internal]}))
    with pytest.raises(AddressRefused, match="internal address"):
        check_url("https://hooks.partner.example/in", ())
    connected: list[Any] = []
    monkeypatch.setattr(
        urllib3.util.connection, "create_connection", lambda *a, **k: connected.append(a)
    )
    answer = delivery.post(outgoing("https://hooks.partner.example/in"), frozenset())
    assert answer.status_code is None
    assert (answer.error or "").startswith("Refused: ")
    assert connected == []  # nothing was opened


def test_a_rebinding_name_is_reached_only_at_the_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Attacker's test: the name is public when checked and internal right after; the sender
    connects to the checked address and never asks DNS again."""
    fake = answers({"rebind.attacker.example": ["93.184.216.34", "127.0.0.1"]})
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    connected: list[Any] = []

    def refuse(address: Any, *args: Any, **kwargs: Any) -> Any:
        connected.append(address)
        raise ConnectionRefusedError("no network in this test")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", refuse)
    answer = delivery.post(outgoing("https://rebind.attacker.example/in"), frozenset())
    assert answer.status_code is None
    assert connected == [("93.184.216.34", 443)]
    assert fake.calls == {"rebind.attacker.example": 1}  # type: ignore[attr-defined]


def test_an_allowed_name_is_pinned_too_and_sent_with_its_own_host_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """WEBHOOK_ALLOWED_HOSTS permits an internal address for a named host (a test's
    receiver); the request goes to the address resolved once and says Host: the name."""
    with running_receiver() as receiver:
        receiver.secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        seen: list[str] = []
        original = receiver.handle

        def handle(headers: dict[str, str], body: bytes) -> int:
            seen.append(headers.get("host") or headers.get("Host") or "")
            return original(headers, body)

        receiver.handle = handle  # type: ignore[method-assign]
        fake = answers({"receiver.test": ["127.0.0.1", "10.9.9.9"]})
        monkeypatch.setattr(socket, "getaddrinfo", fake)
        url = f"http://receiver.test:{receiver.port}/hooks"
        with pytest.raises(AddressRefused):
            resolve(url, ())  # not allowed: plain HTTP and a loopback address
        fake.calls.clear()  # type: ignore[attr-defined]
        answer = delivery.post(outgoing(url), frozenset({"receiver.test"}))
        assert answer.status_code == 400  # reached (the unsigned body is refused by it)
        assert seen == [f"receiver.test:{receiver.port}"]
        assert fake.calls == {"receiver.test": 1}  # type: ignore[attr-defined]
