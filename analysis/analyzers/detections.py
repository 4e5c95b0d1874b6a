"""detections: GuardDuty-style findings (brute force, scans, probes, exfiltration, fan-out)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

import duckdb

from analysis.addresses import address_value, int_to_ip, sql_int
from analysis.analyzers.base import Analyzer, FetchRows, duckdb_rows, flow_columns, register
from analysis.analyzers.params import DEFAULT_ADMIN_PORTS, AnalysisParams
from analysis.analyzers.result import AnalysisResult
from analysis.analyzers.scope import at_target, is_external, is_internal, scope_summary
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
# Follow-up queries take their candidates in IN lists of at most this many addresses, so the
# number of queries (each a scan, billed in Athena) does not grow with the number of findings.
CANDIDATES_PER_QUERY = 1000
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
    return int_to_ip(address_value(value))


def _chunks(values: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(values), CANDIDATES_PER_QUERY):
        yield values[start : start + CANDIDATES_PER_QUERY]


def _in(column: str, values: Iterable[int]) -> str:
    return f"{column} IN ({', '.join(sql_int(value) for value in sorted(set(values)))})"


def _not_a_reply() -> str:
    # A server's answers go from its well-known port to the client's ephemeral port; they
    # are not connection attempts (a web server would otherwise "scan" its clients' ports).
    return "NOT (srcport < 1024 AND dstport >= 1024)"


class Detector:
    """One finding type: a query over `flows` and the thresholds that turn rows into findings.

    Thresholds and baselines are judged over every record (a scanner is a scanner whether or
    not the run's target is among the hosts it tried), but a run with a target keeps only the
    findings that involve it: some record behind the finding has the target on either side.
    """

    def __init__(self, fetch: FetchRows, params: AnalysisParams, columns: Collection[str]) -> None:
        self.fetch = fetch
        self.params = params
        self.t = params.thresholds
        self.touches_target = (
            f"(({at_target('src', params, columns)}) OR ({at_target('dst', params, columns)}))"
        )
        # Candidates (one per would-be finding's peer) left out for not involving the target:
        # said in the summary, so that narrowing to a target never hides findings silently.
        self.left_out = 0

    def involving_target(self, rows: list[Any], condition: str, key: str = "src_ip") -> list[Any]:
        """The candidate rows (candidate address first) with a record matching `condition`
        that touches the target; all of them when the run has no target."""
        if not self.params.has_target or not rows:
            return rows
        involved = self.per_candidate(
            (address_value(row[0]) for row in rows),
            lambda candidate_in: (
                f"SELECT DISTINCT {key} FROM flows WHERE {condition} AND {candidate_in} "
                f"AND {self.touches_target}"
            ),
            key,
        )
        kept = [row for row in rows if address_value(row[0]) in involved]
        self.left_out += len({address_value(row[0]) for row in rows}) - len(
            {address_value(row[0]) for row in kept}
        )
        return kept

    def per_candidate(
        self, candidates: Iterable[int], sql: Callable[[str], str], key: str = "src_ip"
    ) -> dict[int, list[tuple[Any, ...]]]:
        """Rows of `sql(key IN (...))` by candidate address (the rows' first column), in
        one query per CANDIDATES_PER_QUERY candidates."""
        found: dict[int, list[tuple[Any, ...]]] = {}
        for chunk in _chunks(sorted(set(candidates))):
            for row in self.fetch(sql(_in(key, chunk))):
                found.setdefault(address_value(row[0]), []).append(tuple(row[1:]))
        return found

    def targets_of(
        self,
        condition: str,
        candidates: Iterable[int],
        key: str = "src_ip",
        column: str = "dst_ip",
    ) -> dict[int, tuple[list[str], int]]:
        """Per candidate `key` address: the most frequent addresses of `column` among the
        records matching `condition`, and how many distinct ones there are."""

        def sql(candidate_in: str) -> str:
            return (
                f"SELECT candidate, addr, flows, total FROM (SELECT {key} AS candidate, "
                f"{column} AS addr, COUNT(*) AS flows, "
                f"COUNT(*) OVER (PARTITION BY {key}) AS total, "
                f"ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY COUNT(*) DESC, {column} ASC) "
                f"AS rn FROM flows WHERE {condition} AND {candidate_in} "
                f"AND {column} IS NOT NULL GROUP BY {key}, {column}) AS ranked "
                f"WHERE rn <= {MAX_EVIDENCE_TARGETS} ORDER BY candidate, rn"
            )

        return {
            candidate: ([_ip(row[0]) for row in rows], int(rows[0][2]))
            for candidate, rows in self.per_candidate(candidates, sql, key).items()
        }

    def brute_force(self) -> list[Finding]:
        """Many short TCP flows from one source to SSH or RDP."""
        findings = []
        for port, (kind, service) in BRUTE_FORCE_PORTS.items():
            base = (
                f"protocol = {TCP} AND dstport = {port} "
                f"AND packets <= {int(self.t['bruteforce_max_packets'])}"
            )
            rows = self.fetch(
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
            )
            rows = self.involving_target(rows, base)
            if not rows:
                continue
            targets_by = self.targets_of(base, [address_value(row[0]) for row in rows])
            for src, flows, accepted, rejected, size, first, last in rows:
                peer = _ip(src)
                targets, count = targets_by.get(address_value(src), ([], 0))
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
        rows = self.fetch(
            "SELECT src_ip, COUNT(DISTINCT dstport) AS ports, COUNT(*), "
            "SUM(CASE WHEN action = 'ACCEPT' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN action = 'REJECT' THEN 1 ELSE 0 END), "
            "COALESCE(SUM(bytes), 0), MIN(start_ts), MAX(end_ts) "
            f"FROM flows WHERE {base} AND src_ip IS NOT NULL GROUP BY src_ip "
            f"HAVING COUNT(DISTINCT dstport) >= {int(self.t['portscan_min_ports'])} "
            "ORDER BY ports DESC, src_ip ASC"
        )
        rows = self.involving_target(rows, base)
        if not rows:
            return []
        sources = [address_value(row[0]) for row in rows]
        targets_by = self.targets_of(base, sources)
        open_by = self.per_candidate(
            sources,
            lambda candidates: (
                "SELECT src_ip, dstport FROM (SELECT src_ip, dstport, ROW_NUMBER() OVER "
                "(PARTITION BY src_ip ORDER BY dstport) AS rn FROM (SELECT DISTINCT src_ip, "
                f"dstport FROM flows WHERE {base} AND {candidates} AND action = 'ACCEPT') "
                "AS accepted) AS ranked WHERE rn <= 50 ORDER BY src_ip, dstport"
            ),
        )
        findings = []
        for src, ports, flows, accepted, rejected, size, first, last in rows:
            peer = _ip(src)
            targets, count = targets_by.get(address_value(src), ([], 0))
            open_ports = [int(row[0]) for row in open_by.get(address_value(src), [])]
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
        rows = self.fetch(
            "SELECT src_ip, dstport, COUNT(*), COALESCE(SUM(bytes), 0), MIN(start_ts), "
            f"MAX(end_ts) FROM flows WHERE {probe} GROUP BY src_ip, dstport "
            "ORDER BY src_ip, dstport"
        )
        by_source: dict[int, list[tuple[Any, ...]]] = {}
        for row in self.involving_target(rows, probe):
            by_source.setdefault(address_value(row[0]), []).append(row)
        if not by_source:
            return []
        refused_by = self.per_candidate(
            by_source,
            lambda candidates: (
                f"SELECT DISTINCT src_ip, dstport FROM flows WHERE {external} AND {candidates} "
                f"AND dstport IN ({port_list}) AND action = 'REJECT' ORDER BY src_ip, dstport"
            ),
        )
        # A source's open ports are every port it probed, so `probe` alone selects its flows.
        targets_by = self.targets_of(probe, by_source)
        findings = []
        for src, probes in by_source.items():
            peer = _ip(src)
            open_ports = [int(row[1]) for row in probes]
            refused = [
                int(row[0]) for row in refused_by.get(src, []) if int(row[0]) not in open_ports
            ]
            open_list = ", ".join(f"{port} ({ports.get(port) or 'unknown'})" for port in open_ports)
            targets, count = targets_by.get(src, ([], 0))
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
        count, median = self._count_and_median(f"SELECT bytes AS x FROM {peers} AS peers")
        if count < max(int(self.t["exfil_min_peers"]), 1):
            return []
        _, mad = self._count_and_median(
            f"SELECT ABS(CAST(bytes AS DOUBLE) - CAST({median!r} AS DOUBLE)) AS x "
            f"FROM {peers} AS peers"
        )
        floor = max(self.t["exfil_min_bytes"], self.t["exfil_min_ratio"] * median)
        rows = self.fetch(
            f"SELECT peer, bytes FROM {peers} AS peers WHERE bytes >= {int(floor)} "
            "ORDER BY bytes DESC, peer ASC"
        )
        spread = MAD_SCALE * mad
        candidates = []
        for value, size in rows:
            zscore = (int(size) - median) / spread if spread > 0 else float("inf")
            if zscore >= self.t["exfil_min_zscore"]:
                candidates.append((address_value(value), int(size), zscore))
        candidates = self.involving_target(candidates, outbound, key="dst_ip")
        if not candidates:
            return []
        receivers = [value for value, _, _ in candidates]
        details = self.per_candidate(
            receivers,
            lambda chosen: (
                "SELECT dst_ip, COUNT(*), MIN(start_ts), MAX(end_ts) FROM flows "
                f"WHERE {outbound} AND {chosen} GROUP BY dst_ip"
            ),
            key="dst_ip",
        )
        sources_by = self.targets_of(outbound, receivers, key="dst_ip", column="src_ip")
        ports_by = self.per_candidate(
            receivers,
            lambda chosen: (
                "SELECT dst_ip, dstport FROM (SELECT dst_ip, dstport, ROW_NUMBER() OVER "
                "(PARTITION BY dst_ip ORDER BY n DESC, dstport ASC NULLS LAST) AS rn FROM "
                f"(SELECT dst_ip, dstport, COUNT(*) AS n FROM flows WHERE {outbound} "
                f"AND {chosen} GROUP BY dst_ip, dstport) AS counted) AS ranked "
                "WHERE rn <= 10 ORDER BY dst_ip, rn"
            ),
            key="dst_ip",
        )
        findings = []
        for value, size, zscore in candidates:
            peer = _ip(value)
            [detail] = details[value]
            sources, source_count = sources_by.get(value, ([], 0))
            port_rows = ports_by.get(value, [])
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

    def _count_and_median(self, values_sql: str) -> tuple[int, float]:
        """Row count and median of column x of a relation, in one query (window functions
        Trino also has)."""
        rows = self.fetch(
            "SELECT MAX(n), AVG(CASE WHEN 2 * rn IN (n, n + 1, n + 2) THEN x END) FROM "
            "(SELECT x, ROW_NUMBER() OVER (ORDER BY x) AS rn, "
            f"COUNT(*) OVER () AS n FROM ({values_sql}) AS v) AS ranked"
        )
        if not rows or rows[0][0] is None:
            return 0, 0.0
        count, median = rows[0]
        return int(count), float(median) if median is not None else 0.0

    def internal_fan_out(self) -> list[Finding]:
        """An internal source trying admin ports on many internal hosts."""
        ports = ", ".join(str(port) for port in DEFAULT_ADMIN_PORTS)
        base = (
            f"{is_internal('src_ip', self.params)} AND {is_internal('dst_ip', self.params)} "
            f"AND dstport IN ({ports}) AND protocol = {TCP} AND src_ip <> dst_ip"
        )
        rows = self.fetch(
            "SELECT src_ip, COUNT(DISTINCT dst_ip) AS hosts, COUNT(*), "
            "SUM(CASE WHEN action = 'ACCEPT' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN action = 'REJECT' THEN 1 ELSE 0 END), "
            "COALESCE(SUM(bytes), 0), MIN(start_ts), MAX(end_ts) "
            f"FROM flows WHERE {base} GROUP BY src_ip "
            f"HAVING COUNT(DISTINCT dst_ip) >= {int(self.t['fanout_min_hosts'])} "
            "ORDER BY hosts DESC, src_ip ASC"
        )
        rows = self.involving_target(rows, base)
        if not rows:
            return []
        sources = [address_value(row[0]) for row in rows]
        targets_by = self.targets_of(base, sources)
        used_by = self.per_candidate(
            sources,
            lambda candidates: (
                f"SELECT DISTINCT src_ip, dstport FROM flows WHERE {base} AND {candidates} "
                "ORDER BY src_ip, dstport"
            ),
        )
        findings = []
        for src, hosts, flows, accepted, rejected, size, first, last in rows:
            peer = _ip(src)
            targets, count = targets_by.get(address_value(src), ([], 0))
            used = [int(row[0]) for row in used_by.get(address_value(src), [])]
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
    """Every finding over the local `flows` table, most severe first."""
    return Detector(duckdb_rows(connection), params, flow_columns(connection)).all()


@register
class DetectionsAnalyzer(Analyzer):
    name = "detections"
    title = "Detections"
    description = (
        "GuardDuty-style findings: SSH and RDP brute force, port scans, probes of "
        "unprotected sensitive ports, unusual outbound volume, internal fan-out on admin "
        "ports. Thresholds are judged over all records; with a target, only the findings "
        "whose records involve it are kept. Thresholds are parameters."
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
    local_only = ""

    def analyze(
        self, connection: duckdb.DuckDBPyConnection, params: AnalysisParams
    ) -> AnalysisResult:
        return self.analyze_rows(duckdb_rows(connection), params, flow_columns(connection))

    def analyze_rows(
        self, fetch: FetchRows, params: AnalysisParams, columns: Collection[str]
    ) -> AnalysisResult:
        # One main query per finding type, then one query per kind of evidence over all its
        # candidates (IN lists): a bounded number of scans, whatever the data.
        detector = Detector(fetch, params, columns)
        findings = detector.all()
        rows = [_row(finding) for finding in findings]
        target_note = {"not_involving_target": detector.left_out} if params.has_target else {}
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
                **target_note,
                **scope_summary(params),
            },
            findings=[finding.to_dict() for finding in findings],
        )
