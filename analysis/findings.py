"""Finding: one suspicious pattern a detection found, GuardDuty-style, as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SSH_BRUTE_FORCE = "UnauthorizedAccess:EC2/SSHBruteForce"
RDP_BRUTE_FORCE = "UnauthorizedAccess:EC2/RDPBruteForce"
PORT_SCAN = "Recon:EC2/Portscan"
PORT_PROBE_UNPROTECTED = "Recon:EC2/PortProbeUnprotectedPort"
UNUSUAL_OUTBOUND_VOLUME = "Exfiltration:EC2/UnusualOutboundVolume"
INTERNAL_FAN_OUT = "LateralMovement:EC2/InternalFanOut"

FINDING_TYPES = (
    SSH_BRUTE_FORCE,
    RDP_BRUTE_FORCE,
    PORT_SCAN,
    PORT_PROBE_UNPROTECTED,
    UNUSUAL_OUTBOUND_VOLUME,
    INTERNAL_FAN_OUT,
)

HIGH_SEVERITY = 7


def severity_label(severity: int) -> str:
    """GuardDuty's bands: 1-3 Low, 4-6 Medium, 7-8 High, 9-10 Critical."""
    if severity >= 9:
        return "Critical"
    if severity >= HIGH_SEVERITY:
        return "High"
    if severity >= 4:
        return "Medium"
    return "Low"


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat()


@dataclass(frozen=True)
class Finding:
    """What was seen, how bad (1-10), why in one line, and the evidence behind it.

    `evidence` holds plain JSON values: `peer` (the address behind the activity), `targets`
    (our addresses involved, at most a sample; `target_count` says how many), `ports`,
    `flows`, `accepted`, `rejected`, `bytes`, plus figures specific to the type.
    """

    type: str
    severity: int
    title: str
    explanation: str
    evidence: dict[str, Any] = field(default_factory=dict)
    first_seen: datetime | None = None
    last_seen: datetime | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.severity <= 10:
            raise ValueError(f"severity must be between 1 and 10, got {self.severity}")

    @property
    def severity_label(self) -> str:
        return severity_label(self.severity)

    @property
    def peer(self) -> str | None:
        peer = self.evidence.get("peer")
        return None if peer is None else str(peer)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "severity": self.severity,
            "severity_label": self.severity_label,
            "title": self.title,
            "explanation": self.explanation,
            "evidence": dict(self.evidence),
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
        }
