"""The detection catalogue: every detection as one definition (see base.Detection), by id."""

from __future__ import annotations

from analysis.detections.access import (
    INTERNET_DATABASE_ACCESS_DETECTION,
    RDP_BRUTE_FORCE_DETECTION,
    SSH_BRUTE_FORCE_DETECTION,
)
from analysis.detections.base import Case, Context, Detection
from analysis.detections.command import (
    BEACONING_DETECTION,
    CRYPTO_MINING_DETECTION,
    LONG_CONNECTION_DETECTION,
    REJECTED_SPIKE_DETECTION,
)
from analysis.detections.exfiltration import (
    DNS_OUTSIDE_RESOLVER_DETECTION,
    UNUSUAL_OUTBOUND_VOLUME_DETECTION,
)
from analysis.detections.intel import THREAT_INTEL_DETECTION
from analysis.detections.lateral import INTERNAL_FAN_OUT_DETECTION, NEW_INTERNAL_ADMIN_DETECTION
from analysis.detections.recon import (
    BACKGROUND_SCANNING_DETECTION,
    INTERNAL_SWEEP_DETECTION,
    PORT_PROBE_DETECTION,
    PORT_SCAN_DETECTION,
)

DETECTIONS: tuple[Detection, ...] = (
    SSH_BRUTE_FORCE_DETECTION,
    RDP_BRUTE_FORCE_DETECTION,
    PORT_SCAN_DETECTION,
    PORT_PROBE_DETECTION,
    UNUSUAL_OUTBOUND_VOLUME_DETECTION,
    INTERNAL_FAN_OUT_DETECTION,
    INTERNAL_SWEEP_DETECTION,
    NEW_INTERNAL_ADMIN_DETECTION,
    BEACONING_DETECTION,
    LONG_CONNECTION_DETECTION,
    THREAT_INTEL_DETECTION,
    CRYPTO_MINING_DETECTION,
    DNS_OUTSIDE_RESOLVER_DETECTION,
    REJECTED_SPIKE_DETECTION,
    INTERNET_DATABASE_ACCESS_DETECTION,
    BACKGROUND_SCANNING_DETECTION,
)
_BY_ID = {detection.id: detection for detection in DETECTIONS}


def all_detections() -> tuple[Detection, ...]:
    return DETECTIONS


def get_detection(detection_id: str) -> Detection:
    try:
        return _BY_ID[detection_id]
    except KeyError:
        raise KeyError(f"unknown detection {detection_id!r}; known: {', '.join(_BY_ID)}") from None


def catalogue() -> list[dict[str, object]]:
    """Every detection's metadata, for the CLI, the page and the API."""
    return [detection.describe() for detection in DETECTIONS]


__all__ = ["Case", "Context", "Detection", "all_detections", "catalogue", "get_detection"]
