"""Where webhooks may go, decided for any address (no database, no network: IP literals)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from governance.webhooks.addresses import AddressRefused, allowed_hosts, check_url

ipv4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
ipv6 = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)


def _literal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return f"[{address}]" if address.version == 6 else str(address)


@given(st.one_of(ipv4, ipv6, ipv4.map(lambda a: ipaddress.IPv6Address(f"::ffff:{a}"))))
def test_an_address_is_reachable_only_when_it_is_global(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    url = f"https://{_literal(address)}/hooks"
    seen = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    if (seen or address).is_global and not (seen or address).is_multicast:
        check_url(url, ())
    else:
        with pytest.raises(AddressRefused):
            check_url(url, ())


def test_a_loopback_address_written_as_ipv6_is_refused() -> None:
    with pytest.raises(AddressRefused):
        check_url("https://[::ffff:127.0.0.1]/hooks", ())


@given(st.one_of(ipv4, ipv6))
def test_plain_http_is_refused_unless_the_host_is_allowed(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    host = str(address)
    with pytest.raises(AddressRefused):
        check_url(f"http://{_literal(address)}/hooks", ())
    check_url(f"http://{_literal(address)}/hooks", allowed_hosts(f" other.example , {host} "))
