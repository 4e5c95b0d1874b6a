"""The address a request came from: the one place that decides it, for audit events and lockout.

Behind reverse proxies the peer (REMOTE_ADDR) is the nearest proxy; X-Forwarded-For is believed
only as far as TRUSTED_PROXIES says: a count of proxies in front of the portal, or the CIDRs they
connect from. Unset, the peer is the client and forwarded headers are ignored.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings


def _trusted() -> int | list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    value = getattr(settings, "TRUSTED_PROXIES", 0)
    if isinstance(value, int):
        return value
    return [ipaddress.ip_network(cidr, strict=False) for cidr in value]


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def _in(ip: Any, networks: list[Any]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def from_trusted_proxy(request: Any) -> bool:
    """Whether the peer is a proxy whose forwarded headers may be believed."""
    trusted = _trusted()
    if isinstance(trusted, int):
        return trusted > 0
    peer = _ip(request.META.get("REMOTE_ADDR") or "")
    return peer is not None and _in(peer, trusted)


def client_address(request: Any) -> str | None:
    """The caller's address: the peer, or the address the trusted proxies saw."""
    peer = request.META.get("REMOTE_ADDR") or None
    if not from_trusted_proxy(request):
        return peer
    hops = [
        hop.strip()
        for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if hop.strip()
    ]
    trusted = _trusted()
    if isinstance(trusted, int):
        # Each of the N proxies appends the address it was connected from: the client is the
        # Nth entry from the right; anything further left was written by the client itself.
        candidate = hops[-trusted] if len(hops) >= trusted else None
    else:
        candidate = None
        for hop in reversed(hops):
            ip = _ip(hop)
            if ip is None:
                break
            candidate = hop
            if not _in(ip, trusted):
                break
    ip = _ip(candidate) if candidate else None
    return str(ip) if ip is not None else peer
