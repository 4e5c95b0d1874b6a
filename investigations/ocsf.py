"""OCSF 1.1.0 renderings: findings as Detection Finding (2004), flow aggregates as Network
Activity (4001), so SIEMs with OCSF mappings ingest them without custom parsing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from analysis.detections.base import TACTICS, TECHNIQUES

OCSF_VERSION = "1.1.0"
PRODUCT = {"name": "Flow Log Portal", "vendor_name": "Flow Log Portal", "version": "1"}

# OCSF severity_id: 1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical.
_SEVERITY = {
    "low": (2, "Low"),
    "medium": (3, "Medium"),
    "high": (4, "High"),
    "critical": (5, "Critical"),
}
# OCSF Detection Finding status_id: 1 New, 2 In Progress, 3 Suppressed, 4 Resolved.
_STATUS = {
    "open": (1, "New"),
    "acknowledged": (2, "In Progress"),
    "false_positive": (3, "Suppressed"),
    "resolved": (4, "Resolved"),
}
_PROTOCOL_NUMBERS = {"icmp": 1, "tcp": 6, "udp": 17, "ipv6-icmp": 58}


def _ms(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value else None


def _attacks(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    """OCSF attack objects from the ATT&CK ids a detection stamped on its finding."""
    attacks = []
    for item in evidence.get("attack") or []:
        if not isinstance(item, dict):
            continue
        tactic, technique = str(item.get("tactic", "")), str(item.get("technique", ""))
        attacks.append(
            {
                "tactic": {"uid": tactic, "name": TACTICS.get(tactic, "")},
                "technique": {"uid": technique, "name": TECHNIQUES.get(technique, "")},
                "version": "v15",
            }
        )
    return attacks


def detection_finding(finding: Any) -> dict[str, Any]:
    severity_id, severity = _SEVERITY[finding.severity_label]
    status_id, status = _STATUS.get(finding.status, (99, finding.status))
    evidence = finding.evidence or {}
    endpoint_ips = {
        "src_endpoint": evidence.get("peer") or evidence.get("source"),
        "dst_endpoint": evidence.get("target") or evidence.get("destination"),
    }
    evidences = {k: {"ip": v} for k, v in endpoint_ips.items() if isinstance(v, str)}
    return {
        "activity_id": 1,
        "activity_name": "Create",
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "time": _ms(finding.created_at) or _ms(timezone.now()),
        "message": finding.title,
        "finding_info": {
            # Stable across runs: the investigation and the finding's identity (its pk for a
            # finding made outside a run's detections, which has none).
            "uid": _finding_uid(finding),
            "title": finding.title,
            "desc": finding.explanation,
            "types": [finding.type],
            "attacks": _attacks(evidence),
            "first_seen_time": _ms(finding.first_seen),
            "last_seen_time": _ms(finding.last_seen),
            "src_url": finding.run.get_absolute_url() if finding.run_id else None,
        },
        "count": finding.sighting_count,
        "evidences": [evidences] if evidences else [],
        "metadata": {
            "version": OCSF_VERSION,
            "product": PRODUCT,
            "uid": str(finding.pk),
            "modified_time": _ms(finding.updated_at),
        },
        "unmapped": {
            "evidence": evidence,
            "severity_score": float(finding.severity),
            "investigation": finding.investigation_id,
            "run": finding.run_id,
            "last_run": finding.last_run_id or finding.run_id,
            "identity": finding.identity or None,
        },
    }


def _finding_uid(finding: Any) -> str:
    if finding.identity:
        return f"flowlog-portal-investigation-{finding.investigation_id}-finding-{finding.identity}"
    return f"flowlog-portal-finding-{finding.pk}"


def network_activity(row: dict[str, Any], *, run: Any, analysis: str) -> dict[str, Any]:
    """One aggregated flow row as Network Activity: Traffic (activity 6)."""
    action = str(row.get("action", "")).upper()
    event: dict[str, Any] = {
        "activity_id": 6,
        "activity_name": "Traffic",
        "category_uid": 4,
        "category_name": "Network Activity",
        "class_uid": 4001,
        "class_name": "Network Activity",
        "type_uid": 400106,
        "type_name": "Network Activity: Traffic",
        "severity_id": 1,
        "time": _ms(run.finished_at) or _ms(timezone.now()),
        "action_id": 1 if action == "ACCEPT" else 2 if action == "REJECT" else 0,
        "action": action.title() or None,
        "metadata": {
            "version": OCSF_VERSION,
            "product": PRODUCT,
            "uid": f"run-{run.pk}-{analysis}",
        },
        "traffic": {"packets": row.get("packets"), "bytes": row.get("bytes")},
        "count": row.get("flows"),
        "unmapped": row,
    }
    src = {k: v for k, v in (("ip", row.get("srcaddr")), ("port", row.get("srcport"))) if v}
    dst = {k: v for k, v in (("ip", row.get("dstaddr")), ("port", row.get("dstport"))) if v}
    if src:
        event["src_endpoint"] = src
    if dst:
        event["dst_endpoint"] = dst
    protocol = row.get("protocol")
    if protocol is not None:
        number = _PROTOCOL_NUMBERS.get(str(protocol))
        event["connection_info"] = {
            "protocol_name": str(protocol),
            "protocol_num": number if number is not None else _int_or_none(protocol),
        }
    if row.get("first_seen"):
        event["start_time_dt"] = row["first_seen"]
    if row.get("last_seen"):
        event["end_time_dt"] = row["last_seen"]
    return event


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
