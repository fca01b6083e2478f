"""Where a webhook may go. A user types the URL and the worker POSTs to it from inside the
portal's network, so unless an administrator allows it (``WEBHOOKS_ALLOW_LOCAL_NETWORK``,
as GitLab's "Allow requests to the local network from webhooks"), a host that is, or
resolves to, an address that is not public is refused: loopback, private, link-local (the
clouds' instance metadata at 169.254.169.254), shared (100.64/10), unique-local,
unspecified, multicast, reserved — also when written as IPv6 around an IPv4 address.

One check for saving and for sending: ``addresses_checked`` resolves the host once and checks
every address it got; the sender then connects to those addresses, not to the name again,
so a name cannot pass the check with a public address and be re-pointed (DNS rebinding) at
a private one for the connection."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

ALLOW_ENV = "ATRIUM_WEBHOOKS_ALLOW_LOCAL_NETWORK"
SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: neither private nor public
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # IPv4 reached through a NAT64 gateway

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The URL's host is on the portal's own network; the message says which address and why."""


class Unresolvable(Exception):
    """The URL's host has no address (now)."""


def addresses_checked(url: str) -> tuple[str, ...]:
    """The addresses the URL's host resolves to, in the resolver's order: where to connect.
    Raises ``Unresolvable``, or ``Refused`` when one of them is not public and the local
    network is not allowed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        raise Unresolvable(f"{host} does not resolve to an address.") from None
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in found))
    if not settings.WEBHOOKS_ALLOW_LOCAL_NETWORK:
        for address in addresses:
            if kind := local_kind(ipaddress.ip_address(address)):
                where = f"{host} is {kind}" if _is_address(host) else f"{host} resolves to {address}, {kind}"
                raise Refused(
                    f"Webhooks may not be sent to the portal's own network ({where}). "
                    f"An administrator can allow it with {ALLOW_ENV}."
                )
    return addresses


def local_kind(address: IPAddress) -> str:
    """What kind of non-public address this is ("a loopback address"), or "" when it is public."""
    address = _embedded(address)
    for test, kind in (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_unspecified, "the unspecified address"),
        (address.is_multicast, "a multicast address"),  # is_global says True for global multicast
        (address in SHARED, "a shared (carrier-grade NAT) address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a public address"),
    ):
        if test:
            return kind
    return ""


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _embedded(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (::ffff:127.0.0.1, 6to4, NAT64), which is where
    the packets end up; the address itself otherwise."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped or address.sixtofour:
            return address.ipv4_mapped or address.sixtofour
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address
