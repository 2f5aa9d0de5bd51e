"""Where webhooks may be sent: HTTPS at a public address, and nowhere else.

An endpoint URL is chosen by an administrator, but a message is sent by the server from inside
the network: a URL naming a loopback, private, link-local (cloud metadata at 169.254.169.254),
multicast or reserved address would let whoever registers endpoints reach internal services.
So every address a host name resolves to must be global, and the scheme must be HTTPS; hosts
named in WEBHOOK_ALLOWED_HOSTS (a test's local receiver, an internal consumer an operator
vouches for) are exempt from both. The check runs when an endpoint is registered and again
before every attempt (DNS may change), and redirects are never followed (a public endpoint
could otherwise redirect to an internal one).

`resolve` answers with the address it checked, and the sender connects to exactly that address
(delivery.py), sending the URL's host name as Host and as the TLS server name (the certificate
is verified for the name): a name that resolves to a public address when checked and to an
internal one a moment later (DNS rebinding) is never looked up a second time.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit


class AddressRefused(ValueError):
    """The URL is not one webhooks may be sent to; the message says why, for a person."""


def allowed_hosts(raw: str) -> frozenset[str]:
    return frozenset(host.strip().lower() for host in raw.split(",") if host.strip())


@dataclass(frozen=True)
class Target:
    """Where one attempt connects: the checked address, and the name it is sent as."""

    scheme: str
    host: str
    port: int
    address: str
    # The path and query, sent as they are in the URL.
    path: str

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return name if self.port == default else f"{name}:{self.port}"


def check_url(url: str, allowed: Iterable[str]) -> None:
    """Raise AddressRefused unless `url` may receive webhooks."""
    resolve(url, allowed)


def resolve(url: str, allowed: Iterable[str]) -> Target:
    """Resolve the URL's host once and return the address to connect to; raise AddressRefused
    unless the URL may receive webhooks (every address it resolves to is checked)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in {"https", "http"} or not host:
        raise AddressRefused("Give an https:// address with a host name.")
    if parts.username or parts.password:
        raise AddressRefused("Put no user name or password in the address.")
    exempt = host in set(allowed)
    if parts.scheme != "https" and not exempt:
        raise AddressRefused("Webhooks are sent over HTTPS only: give an https:// address.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as error:
        raise AddressRefused(f"The host {host} cannot be resolved.") from error
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
        if not exempt and (not address.is_global or address.is_multicast):
            raise AddressRefused(
                f"The host {host} resolves to an internal address ({address}); webhooks are "
                "sent only to public addresses."
            )
        addresses.append(address)
    if not addresses:
        raise AddressRefused(f"The host {host} cannot be resolved.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, str(addresses[0]), path)
