"""detections: GuardDuty-style findings (brute force, scans, probes, exfiltration, fan-out)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb

from analysis.addresses import int_to_ip
from analysis.analyzers.base import Analyzer, register
from analysis.analyzers.params import DEFAULT_ADMIN_PORTS, AnalysisParams
from analysis.analyzers.result import AnalysisResult
from analysis.analyzers.scope import is_external, is_internal, scope_summary
from analysis.findings import (
    HIGH_SEVERITY,
    INTERNAL_FAN_OUT,
    PORT_PROBE_UNPROTECTED,
    PORT_SCAN,
    RDP_BRUTE_FORCE,
    SSH_BRUTE_FORCE,
    UNUSUAL_OUTBOUND_VOLUME,
    Finding,
)
from analysis.protocols import TCP

MAX_EVIDENCE_TARGETS = 20
MAD_SCALE = 1.4826  # makes the median absolute deviation comparable to a standard deviation
BRUTE_FORCE_PORTS = {22: (SSH_BRUTE_FORCE, "SSH"), 3389: (RDP_BRUTE_FORCE, "RDP")}
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
]


def _ip(value: Any) -> str:
    return int_to_ip(int(value))


def _targets_of(
    connection: duckdb.DuckDBPyConnection, condition: str, column: str = "dst_ip"
) -> tuple[list[str], int]:
    """The most frequent addresses of `column` among the records matching `condition`."""
    rows = connection.execute(
        f"SELECT {column}, COUNT(*) AS flows, COUNT(*) OVER () AS total FROM flows "
        f"WHERE {condition} AND {column} IS NOT NULL GROUP BY {column} "
        f"ORDER BY flows DESC, {column} ASC LIMIT {MAX_EVIDENCE_TARGETS}"
    ).fetchall()
    return [_ip(row[0]) for row in rows], int(rows[0][2]) if rows else 0


def _not_a_reply() -> str:
    # A server's answers go from its well-known port to the client's ephemeral port; they
    # are not connection attempts (a web server would otherwise "scan" its clients' ports).
    return "NOT (srcport < 1024 AND dstport >= 1024)"


class Detector:
    """One finding type: a query over `flows` and the thresholds that turn rows into findings."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, params: AnalysisParams) -> None:
        self.connection = connection
        self.params = params
        self.t = params.thresholds

    def brute_force(self) -> list[Finding]:
        """Many short TCP flows from one source to SSH or RDP."""
        findings = []
        for port, (kind, service) in BRUTE_FORCE_PORTS.items():
            base = (
                f"protocol = {TCP} AND dstport = {port} "
                f"AND packets <= {int(self.t['bruteforce_max_packets'])}"
            )
            rows = self.connection.execute(
                "SELECT src_ip, COUNT(*) AS flows, "
                "SUM(CASE WHEN action = 'ACCEPT' THEN 1 ELSE 0 END), "
                "SUM(CASE WHEN action = 'REJECT' THEN 1 ELSE 0 END), "
                "COALESCE(SUM(bytes), 0), MIN(start_ts), MAX(end_ts) "
                f"FROM flows WHERE {base} AND src_ip IS NOT NULL GROUP BY src_ip "
                f"HAVING COUNT(*) >= {int(self.t['bruteforce_min_attempts'])} "
                # One try on each of many hosts is a sweep (fan-out), not password guessing.
                f"AND COUNT(*) >= {float(self.t['bruteforce_min_per_target'])} "
                "* COUNT(DISTINCT dst_ip) "
                "ORDER BY flows DESC, src_ip ASC"
            ).fetchall()
            for src, flows, accepted, rejected, size, first, last in rows:
                peer = _ip(src)
                targets, count = _targets_of(self.connection, f"{base} AND src_ip = {int(src)}")
                reached = int(accepted) > 0
                findings.append(
                    Finding(
                        type=kind,
                        severity=7 if reached else 4,
                        title=f"{service} brute force from {peer} against {count} address(es)",
                        explanation=(
                            f"{flows} short {service} connections from {peer} "
                            f"({accepted} accepted, {rejected} rejected): password guessing"
                            + ("; the service was reachable." if reached else "; all refused.")
                        ),
                        evidence={
                            "peer": peer,
                            "targets": targets,
                            "target_count": count,
                            "ports": [port],
                            "flows": int(flows),
                            "accepted": int(accepted),
                            "rejected": int(rejected),
                            "bytes": int(size),
                        },
                        first_seen=first,
                        last_seen=last,
                    )
                )
        return findings

    def port_scan(self) -> list[Finding]:
        """One source trying many distinct destination ports."""
        base = f"{_not_a_reply()} AND dstport IS NOT NULL AND protocol IN (6, 17)"
        rows = self.connection.execute(
            "SELECT src_ip, COUNT(DISTINCT dstport) AS ports, COUNT(*), "
            "SUM(CASE WHEN action = 'ACCEPT' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN action = 'REJECT' THEN 1 ELSE 0 END), "
            "COALESCE(SUM(bytes), 0), MIN(start_ts), MAX(end_ts) "
            f"FROM flows WHERE {base} AND src_ip IS NOT NULL GROUP BY src_ip "
            f"HAVING COUNT(DISTINCT dstport) >= {int(self.t['portscan_min_ports'])} "
            "ORDER BY ports DESC, src_ip ASC"
        ).fetchall()
        findings = []
        for src, ports, flows, accepted, rejected, size, first, last in rows:
            peer = _ip(src)
            condition = f"{base} AND src_ip = {int(src)}"
            targets, count = _targets_of(self.connection, condition)
            open_ports = [
                int(row[0])
                for row in self.connection.execute(
                    f"SELECT DISTINCT dstport FROM flows WHERE {condition} "
                    f"AND action = 'ACCEPT' ORDER BY dstport LIMIT 50"
                ).fetchall()
            ]
            findings.append(
                Finding(
                    type=PORT_SCAN,
                    severity=5,
                    title=f"Port scan from {peer}: {ports} ports on {count} address(es)",
                    explanation=(
                        f"{peer} tried {ports} distinct destination ports in {flows} flows "
                        f"({rejected} rejected); accepted on {len(open_ports)} port(s)."
                    ),
                    evidence={
                        "peer": peer,
                        "targets": targets,
                        "target_count": count,
                        "ports": open_ports,
                        "distinct_ports": int(ports),
                        "flows": int(flows),
                        "accepted": int(accepted),
                        "rejected": int(rejected),
                        "bytes": int(size),
                    },
                    first_seen=first,
                    last_seen=last,
                )
            )
        return findings

    def port_probe(self) -> list[Finding]:
        """Small accepted flows from outside to sensitive ports: someone found an open door."""
        ports = self.params.sensitive_ports
        port_list = ", ".join(str(port) for port in sorted(ports))
        external = f"{is_external('src_ip', self.params)} AND {is_internal('dst_ip', self.params)}"
        probe = (
            f"{external} AND dstport IN ({port_list}) AND action = 'ACCEPT' "
            f"AND packets <= {int(self.t['probe_max_packets'])}"
        )
        rows = self.connection.execute(
            "SELECT src_ip, dstport, COUNT(*), COALESCE(SUM(bytes), 0), MIN(start_ts), "
            f"MAX(end_ts) FROM flows WHERE {probe} GROUP BY src_ip, dstport "
            "ORDER BY src_ip, dstport"
        ).fetchall()
        by_source: dict[int, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_source.setdefault(int(row[0]), []).append(row)
        findings = []
        for src, probes in by_source.items():
            peer = _ip(src)
            open_ports = [int(row[1]) for row in probes]
            refused = [
                int(row[0])
                for row in self.connection.execute(
                    f"SELECT DISTINCT dstport FROM flows WHERE {external} AND src_ip = {src} "
                    f"AND dstport IN ({port_list}) AND action = 'REJECT' ORDER BY dstport"
                ).fetchall()
                if int(row[0]) not in open_ports
            ]
            open_list = ", ".join(f"{port} ({ports.get(port) or 'unknown'})" for port in open_ports)
            targets, count = _targets_of(
                self.connection,
                f"{probe} AND src_ip = {src} AND dstport IN "
                f"({', '.join(str(port) for port in open_ports)})",
            )
            flows = sum(int(row[2]) for row in probes)
            findings.append(
                Finding(
                    type=PORT_PROBE_UNPROTECTED,
                    # Trying closed sensitive ports and getting in on another is deliberate.
                    severity=7 if refused else 5,
                    title=f"Unprotected port {open_list} probed by {peer}",
                    explanation=(
                        f"{peer} reached sensitive port(s) {open_list} with {flows} small "
                        "accepted flows"
                        + (
                            f" after being refused on {', '.join(map(str, refused))}."
                            if refused
                            else "."
                        )
                    ),
                    evidence={
                        "peer": peer,
                        "targets": targets,
                        "target_count": count,
                        "ports": open_ports,
                        "refused_ports": refused,
                        "flows": flows,
                        "accepted": flows,
                        "rejected": None,
                        "bytes": sum(int(row[3]) for row in probes),
                    },
                    first_seen=min(row[4] for row in probes),
                    last_seen=max(row[5] for row in probes),
                )
            )
        return findings

    def unusual_outbound_volume(self) -> list[Finding]:
        """One external peer receiving far more bytes from inside than the typical peer."""
        outbound = (
            f"{is_internal('src_ip', self.params)} AND {is_external('dst_ip', self.params)} "
            "AND action = 'ACCEPT'"
        )
        peers = (
            f"(SELECT dst_ip AS peer, SUM(bytes) AS bytes FROM flows WHERE {outbound} "
            "GROUP BY dst_ip)"
        )
        stats = self.connection.execute("SELECT COUNT(*) FROM " + peers + " AS peers").fetchone()
        count = int(stats[0]) if stats else 0
        if count < max(int(self.t["exfil_min_peers"]), 1):
            return []
        median = self._median(f"SELECT bytes AS x FROM {peers} AS peers")
        mad = self._median(f"SELECT ABS(bytes - {median}) AS x FROM {peers} AS peers")
        floor = max(self.t["exfil_min_bytes"], self.t["exfil_min_ratio"] * median)
        rows = self.connection.execute(
            f"SELECT peer, bytes FROM {peers} AS peers WHERE bytes >= {int(floor)} "
            "ORDER BY bytes DESC, peer ASC"
        ).fetchall()
        findings = []
        for value, size in rows:
            size = int(size)
            spread = MAD_SCALE * mad
            zscore = (size - median) / spread if spread > 0 else float("inf")
            if zscore < self.t["exfil_min_zscore"]:
                continue
            peer = _ip(value)
            detail = self.connection.execute(
                "SELECT COUNT(*), MIN(start_ts), MAX(end_ts) FROM flows "
                f"WHERE {outbound} AND dst_ip = {int(value)}"
            ).fetchone()
            assert detail is not None
            sources, source_count = _targets_of(
                self.connection, f"{outbound} AND dst_ip = {int(value)}", column="src_ip"
            )
            port_rows = self.connection.execute(
                f"SELECT dstport, COUNT(*) AS n FROM flows WHERE {outbound} "
                f"AND dst_ip = {int(value)} GROUP BY dstport ORDER BY n DESC, dstport LIMIT 10"
            ).fetchall()
            ratio = size / median if median > 0 else None
            findings.append(
                Finding(
                    type=UNUSUAL_OUTBOUND_VOLUME,
                    severity=8,
                    title=f"{size:,} bytes sent to {peer}",
                    explanation=(
                        f"{peer} received {size:,} bytes from {source_count} internal "
                        f"address(es), "
                        + (f"{ratio:,.0f} times the median external peer" if ratio else "")
                        + f" ({median:,.0f} bytes over {count} peers)."
                    ),
                    evidence={
                        "peer": peer,
                        "targets": sources,
                        "target_count": source_count,
                        "ports": [int(row[0]) for row in port_rows if row[0] is not None],
                        "flows": int(detail[0]),
                        "accepted": int(detail[0]),
                        "rejected": 0,
                        "bytes": size,
                        "median_peer_bytes": median,
                        "ratio_to_median": None if ratio is None else round(ratio, 1),
                        "robust_zscore": None if zscore == float("inf") else round(zscore, 1),
                        "external_peers": count,
                    },
                    first_seen=detail[1],
                    last_seen=detail[2],
                )
            )
        return findings

    def _median(self, values_sql: str) -> float:
        """Median of column x of a relation, with window functions Trino also has."""
        row = self.connection.execute(
            "SELECT AVG(x) FROM (SELECT x, ROW_NUMBER() OVER (ORDER BY x) AS rn, "
            f"COUNT(*) OVER () AS n FROM ({values_sql}) AS v) AS ranked "
            "WHERE 2 * rn IN (n, n + 1, n + 2)"
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else 0.0

    def internal_fan_out(self) -> list[Finding]:
        """An internal source trying admin ports on many internal hosts."""
        ports = ", ".join(str(port) for port in DEFAULT_ADMIN_PORTS)
        base = (
            f"{is_internal('src_ip', self.params)} AND {is_internal('dst_ip', self.params)} "
            f"AND dstport IN ({ports}) AND protocol = {TCP} AND src_ip <> dst_ip"
        )
        rows = self.connection.execute(
            "SELECT src_ip, COUNT(DISTINCT dst_ip) AS hosts, COUNT(*), "
            "SUM(CASE WHEN action = 'ACCEPT' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN action = 'REJECT' THEN 1 ELSE 0 END), "
            "COALESCE(SUM(bytes), 0), MIN(start_ts), MAX(end_ts) "
            f"FROM flows WHERE {base} GROUP BY src_ip "
            f"HAVING COUNT(DISTINCT dst_ip) >= {int(self.t['fanout_min_hosts'])} "
            "ORDER BY hosts DESC, src_ip ASC"
        ).fetchall()
        findings = []
        for src, hosts, flows, accepted, rejected, size, first, last in rows:
            peer = _ip(src)
            condition = f"{base} AND src_ip = {int(src)}"
            targets, count = _targets_of(self.connection, condition)
            used = [
                int(row[0])
                for row in self.connection.execute(
                    f"SELECT DISTINCT dstport FROM flows WHERE {condition} ORDER BY dstport"
                ).fetchall()
            ]
            findings.append(
                Finding(
                    type=INTERNAL_FAN_OUT,
                    severity=8 if int(accepted) > 0 else 6,
                    title=f"{peer} tried admin ports on {hosts} internal hosts",
                    explanation=(
                        f"Internal host {peer} opened {flows} connections to ports "
                        f"{', '.join(map(str, used))} of {hosts} internal addresses "
                        f"({accepted} accepted): lateral movement or internal scanning."
                    ),
                    evidence={
                        "peer": peer,
                        "targets": targets,
                        "target_count": count,
                        "ports": used,
                        "flows": int(flows),
                        "accepted": int(accepted),
                        "rejected": int(rejected),
                        "bytes": int(size),
                    },
                    first_seen=first,
                    last_seen=last,
                )
            )
        return findings

    def all(self) -> list[Finding]:
        detectors: list[Callable[[], list[Finding]]] = [
            self.brute_force,
            self.port_scan,
            self.port_probe,
            self.unusual_outbound_volume,
            self.internal_fan_out,
        ]
        findings = [finding for detector in detectors for finding in detector()]
        return sorted(findings, key=lambda f: (-f.severity, f.type, f.peer or ""))


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
    }


def detect(connection: duckdb.DuckDBPyConnection, params: AnalysisParams) -> list[Finding]:
    """Every finding over `flows`, most severe first."""
    return Detector(connection, params).all()


@register
class DetectionsAnalyzer(Analyzer):
    name = "detections"
    title = "Detections"
    description = (
        "GuardDuty-style findings over all records: SSH and RDP brute force, port scans, "
        "probes of unprotected sensitive ports, unusual outbound volume, internal fan-out on "
        "admin ports. Thresholds are parameters."
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
    order = 95
    local_only = (
        "it runs further queries for each candidate finding, so the number of scans depends "
        "on the data"
    )

    def analyze(
        self, connection: duckdb.DuckDBPyConnection, params: AnalysisParams
    ) -> AnalysisResult:
        findings = detect(connection, params)
        rows = [_row(finding) for finding in findings]
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
                **scope_summary(params),
            },
            findings=[finding.to_dict() for finding in findings],
        )
