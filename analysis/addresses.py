"""One 128-bit integer space for IPv4 and IPv6 addresses, in Python and in SQL.

An IPv6 address is its 128-bit value. An IPv4 address a.b.c.d is stored as the IPv4-mapped
IPv6 address ::ffff:a.b.c.d, i.e. 0xFFFF_0000_0000 + the 32-bit value, so both families share
one ordered space, a CIDR of either family is one contiguous [lo, hi] range, and IPv4 values
stay below 2**63 (they fit a BIGINT). The loader computes the same values in SQL (UHUGEINT).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

IPV4_MAPPED_BASE = 0xFFFF << 32
_IPV4_MAPPED_TOP = IPV4_MAPPED_BASE + 0xFFFF_FFFF
_BIGINT_MAX = 2**63 - 1
HEX_DIGITS = 32

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip(value: str) -> IPAddress:
    """Parse an IPv4 or IPv6 address, raising ValueError with a readable message."""
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        raise ValueError(f"not an IP address: {value!r}") from None


def is_ip(value: Any) -> bool:
    """Whether `value` is text naming one IPv4 or IPv6 address (nothing else is)."""
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def parse_cidr(value: str) -> IPNetwork:
    """Parse a CIDR such as 10.0.0.0/16 (host bits must be zero; a bare address is a /32, /128)."""
    try:
        return ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as error:
        raise ValueError(f"not a CIDR block: {value!r} ({error})") from None


def ip_to_int(value: str | IPAddress) -> int:
    address = parse_ip(value) if isinstance(value, str) else value
    if isinstance(address, ipaddress.IPv4Address):
        return IPV4_MAPPED_BASE + int(address)
    return int(address)


def int_to_ip(value: int) -> str:
    """Render an integer of the shared space back as text (IPv4-mapped values as dotted IPv4)."""
    if not 0 <= value < 2**128:
        raise ValueError(f"not a 128-bit address value: {value}")
    if IPV4_MAPPED_BASE <= value <= _IPV4_MAPPED_TOP:
        return str(ipaddress.IPv4Address(value - IPV4_MAPPED_BASE))
    return str(ipaddress.IPv6Address(value))


def address_value(value: int | str) -> int:
    """An address column's value as the integer of the shared space: the local engine gives
    an integer, Athena the same number as 32 hex digits (see hex_address)."""
    if isinstance(value, str):
        if len(value) != HEX_DIGITS:
            raise ValueError(f"not a {HEX_DIGITS}-digit hex address: {value!r}")
        return int(value, 16)
    return int(value)


def hex_address(value: int) -> str:
    """The 32 lowercase hex digits of an address integer (Athena's form of address columns)."""
    if not 0 <= value < 2**128:
        raise ValueError(f"not a 128-bit address value: {value}")
    return f"{value:0{HEX_DIGITS}x}"


def cidr_bounds(value: str | IPNetwork) -> tuple[int, int]:
    """Lowest and highest integer of a CIDR block, inclusive."""
    network = parse_cidr(value) if isinstance(value, str) else value
    return ip_to_int(network.network_address), ip_to_int(network.broadcast_address)


def sql_int(value: int) -> str:
    """An integer literal DuckDB reads exactly, even above the BIGINT range."""
    if 0 <= value <= _BIGINT_MAX:
        return str(value)
    # Large unquoted literals would become DOUBLE or DECIMAL and lose precision.
    return f"CAST('{value}' AS UHUGEINT)"


# Athena/Trino has no 128-bit integer: there an address column is the value as 32 lowercase
# hex digits, whose text order is the numeric order, and analysis.athena.render rewrites the
# integer literals these two functions emit into such strings. The integer form is what the
# local DuckDB engine runs.
def sql_in_cidrs(column: str, cidrs: Iterable[str]) -> str:
    """SQL condition: the integer address `column` lies in one of `cidrs` (FALSE if none)."""
    ranges = [cidr_bounds(cidr) for cidr in cidrs]
    if not ranges:
        return "FALSE"
    terms = [f"{column} BETWEEN {sql_int(lo)} AND {sql_int(hi)}" for lo, hi in ranges]
    return "(" + " OR ".join(terms) + ")"


def sql_in_ips(column: str, ips: Iterable[str]) -> str:
    """SQL condition: the integer address `column` equals one of `ips` (FALSE if none)."""
    values = sorted({ip_to_int(ip) for ip in ips})
    if not values:
        return "FALSE"
    return f"{column} IN (" + ", ".join(sql_int(value) for value in values) + ")"
