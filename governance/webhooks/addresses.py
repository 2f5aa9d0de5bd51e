"""Where webhooks may be sent: HTTPS at a public address, and nowhere else.

An endpoint URL is chosen by an administrator, but a message is sent by the server from inside
the network: a URL naming a loopback, private, link-local (cloud metadata at 169.254.169.254),
multicast or reserved address would let whoever registers endpoints reach internal services.
So every address a host name resolves to must be global, and the scheme must be HTTPS; hosts
named in WEBHOOK_ALLOWED_HOSTS (a test's local receiver, an internal consumer an operator
vouches for) are exempt from both. The check runs when an endpoint is registered and again
before every attempt (DNS may change), and redirects are never followed (a public endpoint
could otherwise redirect to an internal one).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit


class AddressRefused(ValueError):
    """The URL is not one webhooks may be sent to; the message says why, for a person."""


def allowed_hosts(raw: str) -> frozenset[str]:
    return frozenset(host.strip().lower() for host in raw.split(",") if host.strip())


def check_url(url: str, allowed: Iterable[str]) -> None:
    """Raise AddressRefused unless `url` may receive webhooks."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in {"https", "http"} or not host:
        raise AddressRefused("Give an https:// address with a host name.")
    if parts.username or parts.password:
        raise AddressRefused("Put no user name or password in the address.")
    if host in set(allowed):
        return
    if parts.scheme != "https":
        raise AddressRefused("Webhooks are sent over HTTPS only: give an https:// address.")
    try:
        port = parts.port or 443
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as error:
        raise AddressRefused(f"The host {host} cannot be resolved.") from error
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
        if not address.is_global or address.is_multicast:
            raise AddressRefused(
                f"The host {host} resolves to an internal address ({address}); webhooks are "
                "sent only to public addresses."
            )
