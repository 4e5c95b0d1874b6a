"""Shared pieces of the watch tests: the demo AWS account on the session's moto server, and a
watch's run ended through the real lifecycle with planted results."""

from __future__ import annotations

from typing import Any

from analysis.analyzers.result import AnalysisResult
from investigations.models import QueryRun
from investigations.runs import lifecycle


def planted_results(
    *, rejected: int = 10, external_bytes: int = 1000, findings: list[dict[str, Any]] | None = None
) -> list[AnalysisResult]:
    """traffic-summary and external-summary rows the baselines read, and detections."""
    traffic = AnalysisResult(
        name="traffic-summary",
        title="Traffic summary",
        columns=["protocol", "action", "flows", "packets", "bytes"],
        rows=[
            {"protocol": "TCP", "action": "ACCEPT", "flows": 500, "packets": 900, "bytes": 9000},
            {"protocol": "TCP", "action": "REJECT", "flows": rejected, "packets": 1, "bytes": 40},
        ],
        total_groups=2,
        truncated=False,
    )
    external = AnalysisResult(
        name="external-summary",
        title="External summary",
        columns=["direction", "action", "flows", "packets", "bytes"],
        rows=[
            {"direction": "outbound", "action": "ACCEPT", "flows": 3, "packets": 9, "bytes": 1},
            {
                "direction": "outbound",
                "action": "REJECT",
                "flows": 1,
                "packets": 1,
                "bytes": external_bytes - 1,
            },
            {"direction": "inbound", "action": "ACCEPT", "flows": 7, "packets": 7, "bytes": 10**9},
        ],
        total_groups=3,
        truncated=False,
    )
    detections = AnalysisResult(
        name="detections",
        title="Detections",
        columns=["title"],
        rows=[],
        total_groups=0,
        truncated=False,
        findings=list(findings or []),
    )
    return [traffic, external, detections]


def finding(peer: str, severity: float = 5) -> dict[str, Any]:
    return {
        "type": "UnauthorizedAccess:EC2/SSHBruteForce",
        "identity": f"ssh-brute-force|{peer}|10.0.1.10",
        "severity": severity,
        "title": f"SSH brute force from {peer}",
        "evidence": {"peer": peer},
    }


def succeed(run: QueryRun, *, skipdata: int = 0, **planted: Any) -> QueryRun:
    claimed = QueryRun.claim(run.pk)
    assert claimed is not None
    records = {"total": 600, "ok": 600 - skipdata, "skipdata": skipdata}
    assert lifecycle.succeed(
        claimed, results=planted_results(**planted), records=records, data_read={}
    )
    claimed.refresh_from_db()
    return claimed
