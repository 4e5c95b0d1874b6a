"""Outgoing HTTP to hosts users choose (webhooks): the host is resolved once, every address it
resolves to must be public (or in WEBHOOK_ALLOWED_NETWORKS), the connection goes to the checked
address with the name in the Host header and TLS SNI, and redirects are never followed.

Failures are reported coarsely ("connection failed", "timeout", "HTTP 500") so the delivery log
cannot be used to map an internal network.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# RFC 6052 well-known NAT64 prefix and RFC 8215 local-use prefix: the last 32 bits are an IPv4
# address the translator connects to, so that address is the one to judge.
NAT64_PREFIXES = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT


class TargetRefused(ValueError):
    """The URL may not be used: bad scheme, no host, or an address that is not allowed.
    `coarse` is what a delivery log may show."""

    def __init__(self, message: str, coarse: str = "address not allowed") -> None:
        super().__init__(message)
        self.coarse = coarse


class HostNotFound(TargetRefused):
    """The name does not resolve (now): at delivery time a retry may help."""


class DeliveryError(Exception):
    """A request could not be completed; the message is coarse on purpose."""


@dataclass(frozen=True)
class Target:
    """A URL checked for use: where to connect (addresses) and what to call the host."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def redacted(url: str) -> str:
    """Scheme and host (and a non-default port) only: paths and queries can carry secrets."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def allowed_networks() -> list[IPNetwork]:
    return [
        ipaddress.ip_network(cidr, strict=False)
        for cidr in getattr(settings, "WEBHOOK_ALLOWED_NETWORKS", [])
    ]


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: IPv4-mapped (::ffff:a.b.c.d), 6to4,
    NAT64 and the deprecated IPv4-compatible form (::a.b.c.d)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in prefix for prefix in NAT64_PREFIXES):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip))
    return None


def is_public(ip: IPAddress) -> bool:
    """True for an address on the public internet: not loopback, link-local, private, shared
    (100.64/10), multicast, reserved, unspecified or documentation, in any IPv6 disguise."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_loopback or ip.is_unspecified:
            return False
        inner = embedded_ipv4(ip)
        if inner is not None:
            return is_public(inner)
        if ip.is_site_local:
            return False
    elif ip in SHARED_ADDRESS_SPACE:
        return False
    return bool(
        ip.is_global
        and not (
            ip.is_multicast
            or ip.is_reserved
            or ip.is_link_local
            or ip.is_private
            or ip.is_loopback
            or ip.is_unspecified
        )
    )


def address_allowed(ip: IPAddress, networks: Iterable[IPNetwork] | None = None) -> bool:
    """Public addresses, and those in the admin's WEBHOOK_ALLOWED_NETWORKS."""
    nets = list(allowed_networks() if networks is None else networks)
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and (inner := embedded_ipv4(ip)) is not None:
        candidates.append(inner)
    if any(c.version == net.version and c in net for c in candidates for net in nets):
        return True
    return is_public(ip)


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (an IP literal is itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))


def check_url(url: str) -> Target:
    """Parse and resolve `url`; refuse it unless every address it resolves to is allowed."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise TargetRefused(
            "The URL must start with https:// (or http:// in development).", coarse="https required"
        )
    if scheme == "http" and not settings.DEBUG:
        raise TargetRefused("The URL must use https://.", coarse="https required")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise TargetRefused("The URL has no host.", coarse="invalid URL")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise TargetRefused("The URL has an invalid port.", coarse="invalid URL") from exc
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise HostNotFound(f"The host {host} does not resolve.", "host not found") from exc
    if not addresses:
        raise HostNotFound(f"The host {host} does not resolve.", "host not found")
    networks = allowed_networks()
    for address in addresses:
        if not address_allowed(ipaddress.ip_address(address), networks):
            raise TargetRefused(
                f"The host {host} is an internal address; webhooks only go to public hosts "
                "(an admin can allow internal networks with WEBHOOK_ALLOWED_NETWORKS)."
            )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=scheme, host=host, port=port, path=path, addresses=tuple(addresses))


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address, never to whatever the name resolves to now."""

    def __init__(self, address: str, port: int, timeout: float) -> None:
        super().__init__(address, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = open_connection(self.address, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the checked address; the certificate is verified against the URL's host name."""

    def __init__(self, address: str, hostname: str, port: int, timeout: float) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(address, port, timeout=timeout, context=self.tls)
        self.address = address
        self.hostname = hostname

    def connect(self) -> None:
        sock = open_connection(self.address, self.port, self.timeout)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.hostname)


def open_connection(address: str, port: int, timeout: float | None) -> socket.socket:
    """The one place a socket to a user-chosen host is opened (tests guard it)."""
    return socket.create_connection((address, port), timeout=timeout)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> int:
    """POST `body` to `url` once, without following redirects; return the status code.
    Raises TargetRefused before any connection, or DeliveryError with a coarse reason."""
    target = check_url(url)
    last_error = DeliveryError("connection failed")
    for address in target.addresses:
        connection: http.client.HTTPConnection
        if target.scheme == "https":
            connection = _PinnedHTTPSConnection(address, target.host, target.port, timeout)
        else:
            connection = _PinnedHTTPConnection(address, target.port, timeout)
        try:
            connection.connect()
        except TimeoutError:
            last_error = DeliveryError("timeout")
            connection.close()
            continue
        except OSError:
            last_error = DeliveryError("connection failed")
            connection.close()
            continue
        # Connected: the request is sent once, whatever happens next.
        try:
            connection.request(
                "POST", target.path, body=body, headers={**headers, "Host": target.host_header}
            )
            return int(connection.getresponse().status)
        except TimeoutError as exc:
            raise DeliveryError("timeout") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise DeliveryError("connection failed") from exc
        finally:
            connection.close()
    raise last_error
