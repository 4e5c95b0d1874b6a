"""Finding: one suspicious pattern a detection found, GuardDuty-style, as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

SSH_BRUTE_FORCE = "UnauthorizedAccess:EC2/SSHBruteForce"
RDP_BRUTE_FORCE = "UnauthorizedAccess:EC2/RDPBruteForce"
PORT_SCAN = "Recon:EC2/Portscan"
PORT_PROBE_UNPROTECTED = "Recon:EC2/PortProbeUnprotectedPort"
UNUSUAL_OUTBOUND_VOLUME = "Exfiltration:EC2/UnusualOutboundVolume"
INTERNAL_FAN_OUT = "LateralMovement:EC2/InternalFanOut"
NEW_INTERNAL_ADMIN = "LateralMovement:EC2/NewInternalAdminConnection"
INTERNAL_SWEEP = "Recon:EC2/InternalSweep"
BACKGROUND_SCANNING = "Recon:EC2/InternetBackgroundScanning"
INTERNET_DATABASE_ACCESS = "Policy:EC2/InternetAccessToDatabasePort"
BEACONING = "Backdoor:EC2/C&CActivity.Beacon"
LONG_CONNECTION = "Behavior:EC2/LongConnection"
THREAT_INTEL_MATCH = "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom"
CRYPTO_MINING = "CryptoCurrency:EC2/BitcoinTool.B"
DNS_OUTSIDE_RESOLVER = "Trojan:EC2/DNSDataExfiltration.Resolver"
REJECTED_SPIKE = "Behavior:EC2/RejectedTrafficSpike"
# Raised by a watch (its history, not one run's flows): a host's first peer in a country or
# AS organisation.
NEW_PEER_COUNTRY = "Behavior:EC2/NewPeerCountry"
NEW_PEER_AS_ORG = "Behavior:EC2/NewPeerASOrganisation"

FINDING_TYPES = (
    SSH_BRUTE_FORCE,
    RDP_BRUTE_FORCE,
    PORT_SCAN,
    PORT_PROBE_UNPROTECTED,
    UNUSUAL_OUTBOUND_VOLUME,
    INTERNAL_FAN_OUT,
    NEW_INTERNAL_ADMIN,
    INTERNAL_SWEEP,
    BACKGROUND_SCANNING,
    INTERNET_DATABASE_ACCESS,
    BEACONING,
    LONG_CONNECTION,
    THREAT_INTEL_MATCH,
    CRYPTO_MINING,
    DNS_OUTSIDE_RESOLVER,
    REJECTED_SPIKE,
    NEW_PEER_COUNTRY,
    NEW_PEER_AS_ORG,
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


IDENTITY_SEPARATOR = "|"


def finding_identity(kind: str, evidence: dict[str, Any]) -> str:
    """A finding's identity in its investigation: what found it, who did it, to what.

    `kind` is the detection id (or the finding type when there is none). The actor is
    "campaign" for a campaign (its sources change from run to run) else the peer; the target is
    the one address hit when exactly one was, else "" (a scanner hitting varying hosts stays one
    finding). A later run that finds the same identity adds a sighting, not a new finding.
    """
    actor = "campaign" if evidence.get("campaign") else str(evidence.get("peer") or "")
    targets = evidence.get("targets") or []
    count = evidence.get("target_count", len(targets))
    single = isinstance(targets, list) and len(targets) == 1 and count in (1, None)
    target = str(targets[0]) if single or (evidence.get("campaign") and targets) else ""
    return IDENTITY_SEPARATOR.join((kind, actor, target))


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
    detection_id: str = ""
    # MITRE ATT&CK (tactic id, technique id) pairs.
    attack: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.severity <= 10:
            raise ValueError(f"severity must be between 1 and 10, got {self.severity}")

    def stamped(self, detection_id: str, attack: tuple[tuple[str, str], ...]) -> Finding:
        """This finding as the named detection's, with its ATT&CK ids."""
        return replace(self, detection_id=detection_id, attack=attack)

    @property
    def attack_ids(self) -> list[dict[str, str]]:
        return [{"tactic": tactic, "technique": technique} for tactic, technique in self.attack]

    @property
    def severity_label(self) -> str:
        return severity_label(self.severity)

    @property
    def peer(self) -> str | None:
        peer = self.evidence.get("peer")
        return None if peer is None else str(peer)

    @property
    def identity(self) -> str:
        """Stable across runs: detection (or type), actor ("campaign" for one) and target."""
        return finding_identity(self.detection_id or self.type, self.evidence)

    def to_dict(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "type": self.type,
            "severity": self.severity,
            "severity_label": self.severity_label,
            "title": self.title,
            "explanation": self.explanation,
            # The detection and ATT&CK ids also ride in the evidence, which stored findings keep.
            "evidence": {
                **self.evidence,
                **({"detection_id": self.detection_id} if self.detection_id else {}),
                **({"attack": self.attack_ids} if self.attack else {}),
            },
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "detection_id": self.detection_id,
            "attack": self.attack_ids,
        }
