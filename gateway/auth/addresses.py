"""The client address the login throttle keys on: the TCP peer, or X-Forwarded-For behind a trusted proxy.

`X-Forwarded-For` is anyone's to write, so it counts only when the TCP peer is one of the configured
trusted proxies (`STITCHD_TRUSTED_PROXIES`); then the address is the right-most hop that is not itself
a trusted proxy (the left part of the header is whatever the client sent).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "unknown"
_MAX_HOPS = 32


class TrustedProxies:
    """The proxies whose X-Forwarded-For is believed (a plain class: Litestar inspects deps' fields)."""

    def __init__(self, networks: Sequence[IpNetwork] = ()) -> None:
        self.networks = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


def parse_networks(text: str) -> TrustedProxies:
    """Comma-separated addresses or CIDR blocks; ValueError names a bad entry."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"not an IP address or network: {part!r}") from None
    return TrustedProxies(networks)


def client_address(peer: str | None, forwarded_for: str | None, trusted: TrustedProxies) -> str:
    """The address to throttle: see the module docstring."""
    address = peer or UNKNOWN
    if not trusted or not forwarded_for or address not in trusted:
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",")][-_MAX_HOPS:]):
        if hop not in trusted:
            return hop if _is_ip(hop) else address
    return address


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
