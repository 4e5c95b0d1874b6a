"""Reconnaissance detections: port scans, probes of unprotected ports, internal sweeps, and
the internet's background noise summed up once."""

from __future__ import annotations

from typing import Any

from analysis.detections.base import (
    MAX_LISTED,
    Case,
    Context,
    Detection,
    evidence,
    grouped,
    ip,
    listed_sql,
    peak_window,
    with_ports,
)
from analysis.findings import (
    BACKGROUND_SCANNING,
    INTERNAL_SWEEP,
    PORT_PROBE_UNPROTECTED,
    PORT_SCAN,
    Finding,
)


def _hit(ctx: Context) -> str:
    return f"CASE WHEN {ctx.touches_target if ctx.params.has_target else 'TRUE'} THEN 1 ELSE 0 END"


def _line(src: str, dst: str, sport: int, dport: int, packets: int, start: int,
          action: str = "REJECT", proto: int = 6) -> str:  # fmt: skip
    return (f"2 1 eni-1 {src} {dst} {sport} {dport} {proto} {packets} {packets * 60} {start} "
            f"{start + 2} {action} OK")  # fmt: skip


_BOUNDARY = 1_700_000_400  # a multiple of 600 s: where a tumbling 10-minute window ends


def _scan_sql(ctx: Context) -> list[str]:
    least = ctx.whole("portscan_min_ports")
    window = ctx.num("portscan_window_seconds")
    attempts = (
        f"{ctx.initiated()} AND protocol IN (6, 17) AND src_ip IS NOT NULL "
        "AND dst_ip IS NOT NULL AND src_ip <> dst_ip"
    )
    base = (
        # Only sources with a bucket of attempts enough to reach the least can: counted over
        # two columns of every attempt, so that only those sources' records are kept whole.
        ctx.busy_groups(
            "busy",
            f"(SELECT src_ip, start FROM {ctx.flows} WHERE {attempts}) AS r",
            ["src_ip"],
            window,
            least,
        )
        + f"a AS (SELECT src_ip, dst_ip, dstport, action, bytes, start, start_ts, end_ts, "
        f"{_hit(ctx)} AS hit FROM {ctx.flows} WHERE {attempts} "
        "AND src_ip IN (SELECT src_ip FROM busy)), "
        # The most distinct ports inside any window (sliding), for sources with enough.
        + ctx.sliding_distinct("s", "a", ["src_ip"], "dstport", window, least)
        + "g AS (SELECT a.src_ip, s.peak, COUNT(DISTINCT a.dstport) AS ports, "
        "COUNT(DISTINCT a.dst_ip) AS targets, COUNT(*) AS flows, "
        "SUM(CASE WHEN a.action = 'ACCEPT' THEN 1 ELSE 0 END) AS accepted, "
        "SUM(CASE WHEN a.action = 'REJECT' THEN 1 ELSE 0 END) AS rejected, "
        "SUM(a.bytes) AS bytes, MIN(a.start_ts) AS first_seen, MAX(a.end_ts) AS last_seen, "
        f"MIN(CASE WHEN {ctx.in_peak('a', 's', window)} THEN a.start_ts END) AS peak_first, "
        f"MAX(CASE WHEN {ctx.in_peak('a', 's', window)} THEN a.end_ts END) AS peak_last, "
        f"MAX(a.hit) AS touched, CASE WHEN {ctx.internal('a.src_ip')} THEN 1 ELSE 0 END "
        "AS inside FROM a JOIN s ON a.src_ip = s.src_ip GROUP BY a.src_ip, s.peak, s.peak_at), "
    )
    # One query, so the windows are counted once: the scanners with their listed targets
    # (kind 0), then the ports each had accepted (kind 1, at most 50 a scanner).
    nulls = ", ".join(["NULL"] * 13)
    return [
        f"WITH {base}o AS (SELECT src_ip, dstport, ROW_NUMBER() OVER (PARTITION BY src_ip "
        "ORDER BY dstport) AS rn FROM (SELECT DISTINCT a.src_ip, a.dstport FROM a JOIN g ON "
        "a.src_ip = g.src_ip WHERE a.action = 'ACCEPT') AS d), "
        "tops AS (SELECT g.src_ip, b.dst_ip AS listed, ROW_NUMBER() OVER (PARTITION BY "
        "g.src_ip ORDER BY COUNT(*) DESC, b.dst_ip) AS rn FROM a AS b JOIN g ON "
        "b.src_ip = g.src_ip GROUP BY g.src_ip, b.dst_ip) "
        f"SELECT 0 AS kind, g.*, t.listed, NULL AS open_port, t.rn FROM g LEFT JOIN tops AS t "
        f"ON t.src_ip = g.src_ip AND t.rn <= {MAX_LISTED} "
        f"UNION ALL SELECT 1 AS kind, o.src_ip, {nulls}, NULL, o.dstport, o.rn FROM o "
        "WHERE o.rn <= 50 ORDER BY kind, src_ip, rn"
    ]


def _scan_findings(
    ctx: Context, results: list[list[tuple[Any, ...]]]
) -> list[tuple[Finding, bool]]:
    [combined] = results
    rows, opened = with_ports(combined)
    window = ctx.whole("portscan_window_seconds")
    out = []
    for key, targets in grouped(rows).items():
        src, peak, ports, count, flows, acc, rej, size, first, last, *peak_seen = key
        peak_first, peak_last, touched, inside = peak_seen
        peer = ip(src)
        found = opened.get(peer, [])
        severity = 6 if inside else (5 if found else 3)
        out.append((Finding(
            type=PORT_SCAN, severity=severity,
            title=f"Port scan from {peer}: {ports} ports on {count} address(es)",
            explanation=(
                f"{peer} tried {ports} distinct destination ports in {flows} connection attempts "
                f"(up to {peak} inside one {window}-second window, sliding; {rej} rejected); "
                f"accepted on {len(found)} port(s)."
                + (" The scanner is an internal host." if inside else "")
            ),
            evidence=evidence(peer=peer, targets=targets, target_count=count, ports=found,
                              flows=flows, accepted=acc, rejected=rej, size=size or 0,
                              distinct_ports=int(ports), peak_ports_per_window=int(peak),
                              peak_window=peak_window(peak_first, peak_last)),
            first_seen=first, last_seen=last,
        ), bool(touched)))  # fmt: skip
    return out


PORT_SCAN_DETECTION = Detection(
    id="port-scan",
    type=PORT_SCAN,
    title="Port scan",
    description=(
        "One source trying many distinct destination ports inside any window of the "
        "configured length (sliding: a scan across a clock boundary counts whole). Only the "
        "opening side of a conversation counts (tcp-flags SYN without ACK when the logs have "
        "them; otherwise not a lower port answering an ephemeral one), so a database or cache "
        "answering its clients' ephemeral ports is not scanning them."
    ),
    tactics=("TA0043", "TA0007"),
    techniques=("T1595", "T1046"),
    severity=3,
    severity_rises="3 from outside with every port refused; 5 when a port answered; 6 when "
    "the scanner is an internal host.",
    parameters=("portscan_min_ports", "portscan_window_seconds"),
    sql=_scan_sql,
    findings=_scan_findings,
    cases=(
        Case(
            "a SYN scan of 40 ports",
            tuple(
                _line("198.51.100.23", "10.0.0.5", 50000, port, 1, 1_700_000_000 + port)
                for port in range(1, 41)
            ),
            ((PORT_SCAN, "198.51.100.23"),),
        ),
        Case(
            "a database answering its clients' ephemeral ports",
            tuple(
                _line("10.0.0.30", "10.0.0.20", port, 40000 + n, 20, 1_700_000_000 + n, "ACCEPT")
                for n in range(60)
                for port in (5432, 6379, 8080)
            ),
        ),
        Case(
            "a scan across a 10-minute boundary, 15 ports on each side",
            tuple(
                _line("198.51.100.24", "10.0.0.5", 50000, port, 1, _BOUNDARY - 290 + port * 20)
                for port in range(30)
            ),
            ((PORT_SCAN, "198.51.100.24"),),
        ),
        Case(
            "the same 10 ports tried again and again are 10 ports",
            tuple(
                _line("198.51.100.25", "10.0.0.5", 50000, port, 1, 1_700_000_000 + n * 10 + port)
                for n in range(20)
                for port in range(10)
            ),
        ),
        Case(
            "40 ports over a day are not a scan in a window",
            tuple(
                _line("198.51.100.23", "10.0.0.5", 50000, port, 1, 1_700_000_000 + port * 1800)
                for port in range(1, 41)
            ),
        ),
    ),
)


def _probe_sql(ctx: Context) -> list[str]:
    ports = ", ".join(str(port) for port in sorted(ctx.params.sensitive_ports))
    inbound = f"{ctx.external('src_ip')} AND {ctx.internal('dst_ip')} AND dstport IN ({ports})"
    external = (
        f"{ctx.external('f.src_ip')} AND {ctx.internal('f.dst_ip')} AND f.dstport IN ({ports})"
    )
    return [
        f"WITH p AS (SELECT src_ip, dst_ip, dstport, bytes, start_ts, end_ts, {_hit(ctx)} AS hit "
        f"FROM {ctx.flows} WHERE {inbound} AND action = 'ACCEPT' AND {ctx.initiated()} "
        f"AND packets <= {ctx.whole('probe_max_packets')}), "
        # Refused elsewhere: the source was refused on another sensitive port.
        f"r AS (SELECT DISTINCT f.src_ip, f.dstport FROM {ctx.flows_as('f')} JOIN (SELECT DISTINCT "
        f"src_ip FROM p) AS q ON f.src_ip = q.src_ip WHERE {external} "
        "AND f.action = 'REJECT'), "
        "rp AS (SELECT DISTINCT p.src_ip, p.dstport FROM p JOIN r ON p.src_ip = r.src_ip "
        "AND p.dstport <> r.dstport), "
        "g AS (SELECT p.dst_ip, p.dstport, COUNT(DISTINCT p.src_ip) AS actors, COUNT(*) AS flows, "
        "SUM(p.bytes) AS bytes, MIN(p.start_ts) AS first_seen, MAX(p.end_ts) AS last_seen, "
        "MAX(p.hit) AS touched, MAX(CASE WHEN rp.src_ip IS NULL THEN 0 ELSE 1 END) AS refused "
        "FROM p LEFT JOIN rp ON p.src_ip = rp.src_ip AND p.dstport = rp.dstport "
        "GROUP BY p.dst_ip, p.dstport), "
        + listed_sql("p", "g", ["dst_ip", "dstport"], "src_ip")
    ]  # fmt: skip


def _probe_findings(
    ctx: Context, results: list[list[tuple[Any, ...]]]
) -> list[tuple[Finding, bool]]:
    out = []
    for key, sources in grouped(results[0]).items():
        dst, port, actors, flows, size, first, last, touched, refused = key
        target = ip(dst)
        service = ctx.params.sensitive_ports.get(int(port)) or "unknown"
        peer = sources[0] if sources else None
        who = peer if int(actors) == 1 else f"{actors} sources"
        out.append((Finding(
            type=PORT_PROBE_UNPROTECTED, severity=7 if refused else 5,
            title=f"Unprotected port {port} ({service}) of {target} probed by {who}",
            explanation=(
                f"{who} reached sensitive port {port} ({service}) of {target} with {flows} small "
                "accepted flows"
                + (", after being refused on other sensitive ports." if refused else ".")
            ),
            evidence=evidence(peer=peer, actors=sources, actor_count=actors, targets=[target],
                              target_count=1, ports=[int(port)], flows=flows, accepted=flows,
                              rejected=None, size=size or 0, refused_elsewhere=bool(refused)),
            first_seen=first, last_seen=last,
        ), bool(touched)))  # fmt: skip
    return out


PORT_PROBE_DETECTION = Detection(
    id="port-probe",
    type=PORT_PROBE_UNPROTECTED,
    title="Probe of an unprotected port",
    description=(
        "Small accepted connections from the internet to a sensitive port (SSH, RDP, SMB, "
        "databases ...) of an internal host: someone found an open door. One finding per host "
        "and port, listing the sources that probed it."
    ),
    tactics=("TA0043",),
    techniques=("T1595",),
    severity=5,
    severity_rises="5; 7 when a source was refused on other sensitive ports before getting in.",
    parameters=("probe_max_packets",),
    sql=_probe_sql,
    findings=_probe_findings,
    cases=(
        Case(
            "a MySQL port found open after refusals",
            (
                _line("80.82.77.139", "10.0.0.40", 50000, 1433, 1, 1_700_000_000),
                _line("80.82.77.139", "10.0.0.40", 50001, 3306, 3, 1_700_000_060, "ACCEPT"),
            ),
            ((PORT_PROBE_UNPROTECTED, "80.82.77.139"),),
        ),
        Case(
            "an internal client of MySQL is not a probe",
            (_line("10.0.0.20", "10.0.0.40", 50001, 3306, 3, 1_700_000_060, "ACCEPT"),),
        ),
    ),
)


def _sweep_sql(ctx: Context) -> list[str]:
    window = ctx.num("sweep_window_seconds")
    least = ctx.whole("sweep_min_hosts")
    routine = ctx.whole("sweep_max_windows") * max(int(window), 1)
    return [
        f"WITH a AS (SELECT src_ip, dst_ip, dstport, action, bytes, start, start_ts, end_ts, "
        f"{_hit(ctx)} AS hit FROM {ctx.flows} "
        f"WHERE {ctx.internal('src_ip')} AND {ctx.internal('dst_ip')} AND {ctx.initiated()} "
        "AND protocol IN (6, 17) AND src_ip <> dst_ip), "
        # The most hosts one source tried on one port inside any window (sliding) ...
        + ctx.sliding_distinct("w", "a", ["src_ip", "dstport"], "dst_ip", window, least)
        # ... unless it keeps sweeping that port for longer than sweep_max_windows windows
        # (monitoring, inventory) ...
        + f"rec AS (SELECT src_ip, dstport, peak, peak_at FROM w WHERE busy <= {routine}), "
        # ... or tries more ports than sweep_max_ports in that window (a port scan).
        "pp AS (SELECT rec.src_ip, rec.dstport FROM rec JOIN a ON a.src_ip = rec.src_ip "
        f"AND {ctx.in_peak('a', 'rec', window)} GROUP BY rec.src_ip, rec.dstport "
        f"HAVING COUNT(DISTINCT a.dstport) <= {ctx.whole('sweep_max_ports')}), "
        "hits AS (SELECT rec.* FROM rec JOIN pp ON rec.src_ip = pp.src_ip "
        "AND rec.dstport = pp.dstport), "
        "s AS (SELECT a.*, hits.peak FROM a JOIN hits ON a.src_ip = hits.src_ip "
        f"AND a.dstport = hits.dstport AND {ctx.in_peak('a', 'hits', window)}), "
        "g AS (SELECT src_ip, COUNT(DISTINCT dst_ip) AS hosts, MIN(dstport) AS low, "
        "MAX(dstport) AS high, COUNT(*) AS flows, "
        "SUM(CASE WHEN action = 'ACCEPT' THEN 1 ELSE 0 END) AS accepted, "
        "SUM(CASE WHEN action = 'REJECT' THEN 1 ELSE 0 END) AS rejected, SUM(bytes) AS bytes, "
        "MIN(start_ts) AS first_seen, MAX(end_ts) AS last_seen, MAX(hit) AS touched, "
        "MAX(peak) AS peak FROM s GROUP BY src_ip), "
        + listed_sql("s", "g", ["src_ip"], "dst_ip")
    ]  # fmt: skip


def _sweep_findings(
    ctx: Context, results: list[list[tuple[Any, ...]]]
) -> list[tuple[Finding, bool]]:
    window = ctx.whole("sweep_window_seconds")
    out = []
    for key, targets in grouped(results[0]).items():
        src, hosts, low, high, flows, acc, rej, size, first, last, touched, peak = key
        peer = ip(src)
        ports = sorted({int(low), int(high)})
        out.append((Finding(
            type=INTERNAL_SWEEP, severity=7 if int(acc) > 0 else 6,
            title=f"{peer} swept port {'/'.join(map(str, ports))} of {hosts} internal hosts",
            explanation=(
                f"Internal host {peer} tried port {'/'.join(map(str, ports))} on {hosts} internal "
                f"addresses within {window} seconds (up to {peak} on one port; {acc} accepted, "
                f"{rej} rejected), something it does not do routinely: discovery before "
                "lateral movement."
            ),
            evidence=evidence(peer=peer, targets=targets, target_count=hosts, ports=ports,
                              flows=flows, accepted=acc, rejected=rej, size=size or 0,
                              peak_hosts_per_window=int(peak),
                              peak_window=peak_window(first, last)),
            first_seen=first, last_seen=last,
        ), bool(touched)))  # fmt: skip
    return out


INTERNAL_SWEEP_DETECTION = Detection(
    id="internal-sweep",
    type=INTERNAL_SWEEP,
    title="Internal sweep",
    description=(
        "One internal source trying one port (or a few) on many internal hosts inside any "
        "window of the configured length (sliding). A source that keeps sweeping the same "
        "port for longer than a few windows (monitoring, inventory, health checks) is doing "
        "its job and is left out; one trying many ports in that window is a port scan."
    ),
    tactics=("TA0007",),
    techniques=("T1046",),
    severity=6,
    severity_rises="6; 7 when some of the hosts accepted.",
    parameters=("sweep_min_hosts", "sweep_window_seconds", "sweep_max_ports", "sweep_max_windows"),
    sql=_sweep_sql,
    findings=_sweep_findings,
    cases=(
        Case(
            "one host trying Redis on 40 hosts in a minute",
            tuple(
                _line("10.0.2.15", f"10.0.7.{n}", 50000 + n, 6379, 1, 1_700_000_000 + n)
                for n in range(1, 41)
            ),
            ((INTERNAL_SWEEP, "10.0.2.15"),),
        ),
        Case(
            "a sweep across a 10-minute boundary, about 20 hosts on each side",
            tuple(
                _line("10.0.2.17", f"10.0.7.{n}", 50000 + n, 6379, 1, _BOUNDARY - 195 + n * 10)
                for n in range(1, 41)
            ),
            ((INTERNAL_SWEEP, "10.0.2.17"),),
        ),
        Case(
            "monitoring polling 40 hosts every 10 minutes",
            tuple(
                _line(
                    "10.0.4.10",
                    f"10.0.6.{n}",
                    50000 + n,
                    9100,
                    8,
                    1_700_000_000 + t * 600 + n,
                    "ACCEPT",
                )
                for t in range(12)
                for n in range(1, 41)
            ),
        ),
    ),
)


def _noise_sql(ctx: Context) -> list[str]:
    sources = (
        f"s AS (SELECT src_ip, COUNT(*) AS n, MIN(start_ts) AS first_seen, "
        f"MAX(end_ts) AS last_seen, MAX({_hit(ctx)}) AS touched FROM {ctx.flows} "
        f"WHERE {ctx.external('src_ip')} AND {ctx.internal('dst_ip')} AND {ctx.initiated()} "
        "GROUP BY src_ip HAVING SUM(CASE WHEN action = 'REJECT' THEN 1 ELSE 0 END) > 0 "
        f"AND COUNT(*) <= {ctx.whole('noise_max_attempts')})"
    )
    # One pass over the records: the totals ride along on the busiest sources' rows.
    return [
        f"WITH {sources}, r AS (SELECT src_ip, ROW_NUMBER() OVER (ORDER BY n DESC, src_ip) "
        "AS rn, COUNT(*) OVER () AS sources, SUM(n) OVER () AS flows, MIN(first_seen) OVER () "
        "AS first_seen, MAX(last_seen) OVER () AS last_seen, MAX(touched) OVER () AS touched "
        "FROM s) SELECT sources, flows, first_seen, last_seen, touched, src_ip FROM r "
        f"WHERE rn <= {MAX_LISTED} ORDER BY rn"
    ]


def _noise_findings(
    ctx: Context, results: list[list[tuple[Any, ...]]]
) -> list[tuple[Finding, bool]]:
    [top] = results
    if not top:
        return []
    count, flows, first, last, touched = top[0][:5]
    if int(count) < ctx.whole("noise_min_sources"):
        return []
    actors = [ip(row[5]) for row in top]
    return [(Finding(
        type=BACKGROUND_SCANNING, severity=2,
        title=f"Internet background noise: {count} sources, {flows} refused attempts",
        explanation=(
            f"{count} internet addresses made at most {ctx.whole('noise_max_attempts')} "
            f"attempts each ({flows} in all) and were refused: the internet's usual scanning, "
            "summed up in one finding instead of one per source."
        ),
        evidence=evidence(peer=None, actors=actors, actor_count=count, targets=[],
                          target_count=0, ports=[], flows=flows, accepted=0, rejected=None,
                          size=None),
        first_seen=first, last_seen=last,
    ), bool(touched))]  # fmt: skip


BACKGROUND_SCANNING_DETECTION = Detection(
    id="background-noise",
    type=BACKGROUND_SCANNING,
    title="Internet background noise",
    description=(
        "Internet addresses that made few attempts each and were refused: the scanning every "
        "public address receives. One low-severity summary with the count and the busiest "
        "sources, never one finding per source (sources doing more show up as scans, probes "
        "or brute force)."
    ),
    tactics=("TA0043",),
    techniques=("T1595.001",),
    severity=2,
    severity_rises="Always 2 (low).",
    parameters=("noise_max_attempts", "noise_min_sources"),
    sql=_noise_sql,
    findings=_noise_findings,
    cases=(
        Case(
            "60 sources, one refused packet each",
            tuple(
                _line(f"198.51.{n}.7", "10.0.0.5", 50000, 23, 1, 1_700_000_000 + n)
                for n in range(60)
            ),
            ((BACKGROUND_SCANNING, "None"),),
            {"thresholds": {"noise_min_sources": 50}},
        ),
        Case(
            "a few refused packets are not worth a summary",
            tuple(
                _line(f"198.51.{n}.7", "10.0.0.5", 50000, 23, 1, 1_700_000_000 + n)
                for n in range(10)
            ),
        ),
    ),
)
