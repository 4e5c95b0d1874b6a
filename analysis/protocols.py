"""IANA protocol numbers as the lowercase names analyzers show (tcp, udp, icmp, ipv6-icmp)."""

from __future__ import annotations

PROTOCOL_NAMES: dict[int, str] = {
    1: "icmp",
    2: "igmp",
    6: "tcp",
    17: "udp",
    41: "ipv6",
    47: "gre",
    50: "esp",
    51: "ah",
    58: "ipv6-icmp",
    132: "sctp",
}
PROTOCOL_NUMBERS: dict[str, int] = {name: number for number, name in PROTOCOL_NAMES.items()}

TCP = 6
UDP = 17


def protocol_name(number: int | None) -> str | None:
    """`tcp` for 6, the number as text for protocols without a common name, None for NULL."""
    if number is None:
        return None
    return PROTOCOL_NAMES.get(int(number), str(int(number)))
