"""detections: GuardDuty-style findings from the detection catalogue (analysis.detections)."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from typing import Any

from analysis.analyzers.base import Analyzer, FetchRows, register
from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.result import AnalysisResult
from analysis.analyzers.scope import scope_summary
from analysis.findings import HIGH_SEVERITY, Finding

ROW_COLUMNS = [
    "type",
    "severity",
    "severity_label",
    "title",
    "peer",
    "targets",
    "flows",
    "bytes",
    "first_seen",
    "last_seen",
    "detection_id",
    "attack",
]


def _inside(addresses: list[str], cidr: str) -> bool:
    network = ipaddress.ip_network(cidr)
    return any(ipaddress.ip_address(address) in network for address in addresses if address)


def suppressed_by(finding: Finding, rules: list[dict[str, str]]) -> str | None:
    """The reason of the first rule matching the finding: its detection (or every one), an
    actor inside the rule's actor range, a target inside its target range."""
    evidence = finding.evidence
    actors = [str(a) for a in evidence.get("actors") or []] + [finding.peer or ""]
    targets = [str(t) for t in evidence.get("targets") or []]
    for rule in rules:
        if rule["detection"] not in ("*", finding.detection_id):
            continue
        if rule["actor"] and not _inside(actors, rule["actor"]):
            continue
        if rule["target"] and not _inside(targets, rule["target"]):
            continue
        return rule["reason"]
    return None


def _row(finding: Finding) -> dict[str, Any]:
    data = finding.to_dict()
    evidence = finding.evidence
    targets = list(evidence.get("targets") or [])
    more = int(evidence.get("target_count") or len(targets)) - len(targets)
    return {
        "type": finding.type,
        "severity": finding.severity,
        "severity_label": finding.severity_label,
        "title": finding.title,
        "peer": finding.peer,
        "targets": ", ".join(targets) + (f" and {more} more" if more > 0 else ""),
        "flows": evidence.get("flows"),
        "bytes": evidence.get("bytes"),
        "first_seen": data["first_seen"],
        "last_seen": data["last_seen"],
        "detection_id": finding.detection_id,
        "attack": ", ".join(dict.fromkeys(technique for _, technique in finding.attack)),
    }


def _recurring(finding: Finding) -> dict[str, Any]:
    """A candidate left out as recurring (a destination its hosts reach day after day, or
    reached in earlier runs), as the summary names it."""
    evidence = finding.evidence
    return {
        "title": finding.title,
        "detection_id": finding.detection_id,
        "peer": finding.peer,
        "hosts": list(evidence.get("targets") or []),
        "bytes": evidence.get("bytes"),
        "days": evidence.get("recurring_days"),
        "seen_in_earlier_runs": bool(evidence.get("seen_in_earlier_runs")),
    }


@register
class DetectionsAnalyzer(Analyzer):
    name = "detections"
    title = "Detections"
    description = (
        "GuardDuty-style findings from the detection catalogue: SSH and RDP brute force "
        "(single sources and campaigns), port scans, probes of unprotected ports, internal "
        "sweeps and fan-out, lateral movement to new hosts, unusual outbound volume, "
        "beaconing, long connections, threat-intel matches, crypto-mining, DNS to outside "
        "resolvers, spikes in rejected traffic, internet access to database ports, and one "
        "summary of internet background noise. Thresholds are parameters; with a target, "
        "only findings whose records involve it are kept."
    )
    required_fields = (
        "srcaddr",
        "dstaddr",
        "srcport",
        "dstport",
        "protocol",
        "action",
        "packets",
        "bytes",
        "start",
        "end",
    )
    optional_fields = ("tcp-flags", "pkt-dst-aws-service")
    order = 95
    local_only = ""

    def local_only_for(self, params: AnalysisParams) -> str | None:
        if len(params.indicators) > 1000:
            return (
                f"its indicator list has {len(params.indicators):,} entries, more than the "
                "1,000 a query can carry inline"
            )
        return None

    def analyze_rows(
        self, fetch: FetchRows, params: AnalysisParams, columns: Collection[str]
    ) -> AnalysisResult:
        # A fixed few set-based queries per detection, whatever the data: no query per
        # candidate, no loop over records. (Imported here: the catalogue imports analyzers.)
        from analysis.detections import all_detections
        from analysis.detections.base import AwsServiceRanges, Context

        ctx = Context(fetch, params, columns)
        aws = AwsServiceRanges(params.cidr_tables)
        found: list[Finding] = []
        suppressed: dict[str, list[str]] = {}
        aws_services: list[dict[str, str]] = []
        recurring: list[dict[str, Any]] = []
        pairs: dict[tuple[str, str], None] = {}
        left_out = 0
        for detection in all_detections():
            for finding, touched in detection.run(ctx):
                if not touched and params.has_target:
                    left_out += 1
                    continue
                service = aws.service_of(finding.peer) if detection.spares_aws_services else None
                if service is not None:  # an AWS service: said in the summary, not a finding
                    aws_services.append({"title": finding.title, "service": service})
                    continue
                if detection.id == "unusual-outbound-volume" and finding.peer:
                    for host in finding.evidence.get("targets") or []:
                        pairs[(str(host), finding.peer)] = None
                if finding.evidence.get("recurring"):  # expected: said in the summary
                    recurring.append(_recurring(finding))
                    continue
                reason = suppressed_by(finding, params.suppressions)
                if reason is None:
                    found.append(finding)
                else:  # counted and named apart, never silently gone
                    suppressed.setdefault(reason, []).append(finding.title)
        findings = sorted(found, key=lambda f: (-f.severity, f.type, f.peer or "", f.title))
        rows = [_row(finding) for finding in findings]
        target_note = {"not_involving_target": left_out} if params.has_target else {}
        return AnalysisResult(
            name=self.name,
            title=self.title,
            columns=list(ROW_COLUMNS),
            rows=rows,
            total_groups=len(rows),
            truncated=False,
            summary={
                "findings": len(findings),
                "high": sum(1 for f in findings if f.severity >= HIGH_SEVERITY),
                "by_type": {
                    kind: sum(1 for f in findings if f.type == kind)
                    for kind in dict.fromkeys(f.type for f in findings)
                },
                "thresholds": dict(params.thresholds),
                **(
                    {
                        "suppressed": [
                            {"reason": reason, "count": len(titles), "findings": titles}
                            for reason, titles in suppressed.items()
                        ]
                    }
                    if params.suppressions
                    else {}
                ),
                **({"aws_services_left_out": aws_services} if aws else {}),
                **({"recurring_left_out": recurring} if recurring else {}),
                # The (host, peer) pairs with outbound volume enough to be judged, flagged or
                # recurring: a later run over a later window takes them as recurring.
                **({"outbound_pairs": [list(pair) for pair in pairs]} if pairs else {}),
                **target_note,
                **scope_summary(params),
            },
            findings=[finding.to_dict() for finding in findings],
        )
