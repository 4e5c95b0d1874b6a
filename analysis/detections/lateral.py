"""Lateral movement: internal fan-out on admin ports, and a compromised host reaching hosts
it never reached before."""

from __future__ import annotations

from typing import Any

from analysis.analyzers.params import DEFAULT_ADMIN_PORTS
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
from analysis.detections.intel import indicator_values
from analysis.findings import INTERNAL_FAN_OUT, NEW_INTERNAL_ADMIN, Finding

ADMIN = ", ".join(str(port) for port in DEFAULT_ADMIN_PORTS)


def _hit(ctx: Context) -> str:
    return f"CASE WHEN {ctx.touches_target if ctx.params.has_target else 'TRUE'} THEN 1 ELSE 0 END"


def _line(src: str, dst: str, sport: int, dport: int, packets: int, start: int,
          action: str = "ACCEPT") -> str:  # fmt: skip
    return (f"2 1 eni-1 {src} {dst} {sport} {dport} 6 {packets} {packets * 60} {start} "
            f"{start + 2} {action} OK")  # fmt: skip


_HOUR = 1_700_002_800  # a multiple of 3600 s: where a tumbling one-hour window ends


def _fan_out_sql(ctx: Context) -> list[str]:
    window = ctx.num("fanout_window_seconds")
    in_peak = ctx.in_peak("a", "s", window)
    base = (
        f"a AS (SELECT src_ip, dst_ip, dstport, action, bytes, start, start_ts, end_ts, "
        f"{_hit(ctx)} AS hit FROM {ctx.flows} "
        f"WHERE {ctx.internal('src_ip')} AND {ctx.internal('dst_ip')} AND dstport IN ({ADMIN}) "
        f"AND protocol = 6 AND src_ip <> dst_ip AND {ctx.initiated()}), "
        # The most hosts one source tried inside any window (sliding).
        + ctx.sliding_distinct(
            "s", "a", ["src_ip"], "dst_ip", window, ctx.whole("fanout_min_hosts")
        )
        + "g AS (SELECT a.src_ip, s.peak, COUNT(DISTINCT a.dst_ip) AS hosts, COUNT(*) AS flows, "
        "SUM(CASE WHEN a.action = 'ACCEPT' THEN 1 ELSE 0 END) AS accepted, "
        "SUM(CASE WHEN a.action = 'REJECT' THEN 1 ELSE 0 END) AS rejected, "
        "SUM(a.bytes) AS bytes, MIN(a.start_ts) AS first_seen, MAX(a.end_ts) AS last_seen, "
        f"MIN(CASE WHEN {in_peak} THEN a.start_ts END) AS peak_first, "
        f"MAX(CASE WHEN {in_peak} THEN a.end_ts END) AS peak_last, "
        "MAX(a.hit) AS touched FROM a JOIN s ON a.src_ip = s.src_ip "
        "GROUP BY a.src_ip, s.peak, s.peak_at), "
    )
    # One query, so the windows are counted once: the sources with their listed targets
    # (kind 0), then the admin ports each tried (kind 1).
    nulls = ", ".join(["NULL"] * 11)
    return [
        f"WITH {base}o AS (SELECT DISTINCT a.src_ip, a.dstport FROM a JOIN g ON "
        "a.src_ip = g.src_ip), "
        "tops AS (SELECT g.src_ip, b.dst_ip AS listed, ROW_NUMBER() OVER (PARTITION BY "
        "g.src_ip ORDER BY COUNT(*) DESC, b.dst_ip) AS rn FROM a AS b JOIN g ON "
        "b.src_ip = g.src_ip GROUP BY g.src_ip, b.dst_ip) "
        "SELECT 0 AS kind, g.*, t.listed, NULL AS port, t.rn FROM g LEFT JOIN tops AS t "
        f"ON t.src_ip = g.src_ip AND t.rn <= {MAX_LISTED} "
        f"UNION ALL SELECT 1 AS kind, o.src_ip, {nulls}, NULL, o.dstport, o.dstport FROM o "
        "ORDER BY kind, src_ip, rn"
    ]


def _fan_out_findings(
    ctx: Context, results: list[list[tuple[Any, ...]]]
) -> list[tuple[Finding, bool]]:
    [combined] = results
    rows, used = with_ports(combined)
    window = ctx.whole("fanout_window_seconds")
    out = []
    for key, targets in grouped(rows).items():
        src, peak, hosts, flows, acc, rej, size, first, last, peak_first, peak_last, touched = key
        peer = ip(src)
        ports = used.get(peer, [])
        out.append((Finding(
            type=INTERNAL_FAN_OUT, severity=8 if int(acc) > 0 else 6,
            title=f"{peer} tried admin ports on {hosts} internal hosts",
            explanation=(
                f"Internal host {peer} opened {flows} connections to ports "
                f"{', '.join(map(str, ports))} of {hosts} internal addresses, up to {peak} hosts "
                f"inside one {window}-second window, sliding ({acc} accepted): lateral movement "
                "or internal scanning."
            ),
            evidence=evidence(peer=peer, targets=targets, target_count=hosts, ports=ports,
                              flows=flows, accepted=acc, rejected=rej, size=size or 0,
                              peak_hosts_per_window=int(peak),
                              peak_window=peak_window(peak_first, peak_last)),
            first_seen=first, last_seen=last,
        ), bool(touched)))  # fmt: skip
    return out


INTERNAL_FAN_OUT_DETECTION = Detection(
    id="internal-fan-out",
    type=INTERNAL_FAN_OUT,
    title="Internal fan-out on admin ports",
    description=(
        "An internal source opening connections to admin ports (SSH, RPC, NetBIOS, SMB, RDP, "
        "WinRM) of many internal hosts inside any window of the configured length (sliding: "
        "a fan-out across a clock boundary counts whole). A bastion reaching a few hosts per "
        "session over a day stays below it."
    ),
    tactics=("TA0008",),
    techniques=("T1021",),
    severity=6,
    severity_rises="6; 8 when some of the hosts accepted.",
    parameters=("fanout_min_hosts", "fanout_window_seconds"),
    sql=_fan_out_sql,
    findings=_fan_out_findings,
    cases=(
        Case(
            "one host trying SMB and RDP on 25 hosts",
            tuple(
                _line(
                    "10.0.2.16", f"10.0.6.{n}", 50000 + n, port, 2, 1_700_000_000 + n * 30, "REJECT"
                )
                for n in range(1, 26)
                for port in (445, 3389)
            ),
            ((INTERNAL_FAN_OUT, "10.0.2.16"),),
        ),
        Case(
            "SMB on 15 hosts either side of an hour's boundary",
            tuple(
                _line("10.0.2.18", f"10.0.6.{n}", 50000 + n, 445, 2, _HOUR - 870 + n * 60, "REJECT")
                for n in range(30)
            ),
            ((INTERNAL_FAN_OUT, "10.0.2.18"),),
        ),
        Case(
            "a bastion reaching 2 hosts an hour",
            tuple(
                _line("10.0.1.5", f"10.0.6.{n}", 50000 + n, 22, 500, 1_700_000_000 + n * 1800)
                for n in range(1, 41)
            ),
        ),
    ),
)


def _new_hosts_sql(ctx: Context) -> list[str]:
    brute = (
        f"SELECT dst_ip, src_ip, MIN(start) AS since FROM {ctx.flows} "
        f"WHERE {ctx.external('src_ip')} AND {ctx.internal('dst_ip')} AND protocol = 6 "
        f"AND dstport IN (22, 3389) AND action = 'ACCEPT' AND {ctx.initiated()} "
        f"AND packets <= {ctx.whole('bruteforce_max_packets')} GROUP BY dst_ip, src_ip "
        f"HAVING COUNT(*) >= {ctx.whole('bruteforce_min_attempts')}"
    )
    # Compromise: a brute force followed by a session from the same source.
    compromised = (
        f"bf AS ({brute}), "
        "sess AS (SELECT f.dst_ip AS src_ip, MIN(f.start) AS since "
        f"FROM {ctx.flows_as('f')} JOIN bf ON "
        "f.dst_ip = bf.dst_ip AND f.src_ip = bf.src_ip WHERE f.action = 'ACCEPT' "
        f"AND f.packets > {ctx.whole('bruteforce_max_packets')} AND f.start >= bf.since "
        "GROUP BY f.dst_ip)"
    )
    if ctx.params.indicators:
        compromised += (
            f", ind AS {indicator_values(ctx.params.indicators)}, "
            f"ti AS (SELECT f.src_ip, MIN(f.start) AS since FROM {ctx.flows_as('f')} JOIN ind ON "
            "f.dst_ip BETWEEN ind.lo_ip AND ind.hi_ip WHERE f.action = 'ACCEPT' "
            f"AND {ctx.internal('f.src_ip')} GROUP BY f.src_ip), "
            "c AS (SELECT src_ip, MIN(since) AS since FROM (SELECT src_ip, since FROM sess "
            "UNION ALL SELECT src_ip, since FROM ti) AS u GROUP BY src_ip)"
        )
    else:
        compromised += ", c AS (SELECT src_ip, since FROM sess)"
    return [
        f"WITH {compromised}, "
        # Only the compromised hosts' internal connections matter.
        "fl AS (SELECT src_ip, dst_ip, dstport, bytes, start, start_ts, end_ts, action, "
        f"{_hit(ctx)} AS hit FROM {ctx.flows} WHERE {ctx.internal('src_ip')} "
        f"AND {ctx.internal('dst_ip')} AND src_ip <> dst_ip AND {ctx.initiated()} "
        "AND src_ip IN (SELECT src_ip FROM c)), "
        "mv AS (SELECT f.src_ip, f.dst_ip, f.dstport, f.bytes, f.start_ts, f.end_ts, f.hit "
        f"FROM fl AS f JOIN c ON f.src_ip = c.src_ip WHERE f.dstport IN ({ADMIN}) "
        "AND f.action = 'ACCEPT' AND f.start >= c.since), "
        "seen AS (SELECT DISTINCT f.src_ip, f.dst_ip FROM fl AS f JOIN c ON "
        "f.src_ip = c.src_ip WHERE f.start < c.since), "
        "nw AS (SELECT mv.* FROM mv LEFT JOIN seen ON mv.src_ip = seen.src_ip "
        "AND mv.dst_ip = seen.dst_ip WHERE seen.src_ip IS NULL), "
        "g AS (SELECT src_ip, COUNT(DISTINCT dst_ip) AS hosts, MIN(dstport) AS low, "
        "MAX(dstport) AS high, COUNT(*) AS flows, SUM(bytes) AS bytes, "
        "MIN(start_ts) AS first_seen, MAX(end_ts) AS last_seen, MAX(hit) AS touched FROM nw "
        f"GROUP BY src_ip HAVING COUNT(DISTINCT dst_ip) >= {ctx.whole('lateral_min_new_hosts')}), "
        + listed_sql("nw", "g", ["src_ip"], "dst_ip")
    ]  # fmt: skip


def _new_hosts_findings(
    ctx: Context, results: list[list[tuple[Any, ...]]]
) -> list[tuple[Finding, bool]]:
    out = []
    for key, targets in grouped(results[0]).items():
        src, hosts, low, high, flows, size, first, last, touched = key
        peer = ip(src)
        ports = sorted({int(low), int(high)})
        out.append((Finding(
            type=NEW_INTERNAL_ADMIN, severity=8,
            title=f"{peer} reached {hosts} new internal hosts on admin ports after a compromise",
            explanation=(
                f"After {peer} was the target of a successful brute force or talked to a listed "
                f"address, it opened {flows} accepted connections to admin ports "
                f"{'/'.join(map(str, ports))} of {hosts} internal hosts it had not reached "
                "before: lateral movement."
            ),
            evidence=evidence(peer=peer, targets=targets, target_count=hosts, ports=ports,
                              flows=flows, accepted=flows, rejected=0, size=size or 0),
            first_seen=first, last_seen=last,
        ), bool(touched)))  # fmt: skip
    return out


_BEFORE = 1_700_000_000
NEW_INTERNAL_ADMIN_DETECTION = Detection(
    id="lateral-movement",
    type=NEW_INTERNAL_ADMIN,
    title="Lateral movement to new hosts",
    description=(
        "A host that was the target of a successful brute force (many short attempts, then a "
        "session from the same source) or that reached a threat-intel address, then opening "
        "admin-port connections to internal hosts it had not reached before in the window. "
        "The threshold is about new hosts, not many."
    ),
    tactics=("TA0008",),
    techniques=("T1021",),
    severity=8,
    severity_rises="Always 8 (high).",
    parameters=("lateral_min_new_hosts", "bruteforce_min_attempts", "bruteforce_max_packets"),
    sql=_new_hosts_sql,
    findings=_new_hosts_findings,
    cases=(
        Case(
            "brute forced, then SSH to three new hosts",
            (
                *(
                    _line("203.0.113.50", "10.0.5.60", 40000 + n, 22, 12, _BEFORE + n * 4)
                    for n in range(30)
                ),
                _line("203.0.113.50", "10.0.5.60", 41000, 22, 3000, _BEFORE + 200),
                *(
                    _line("10.0.5.60", f"10.0.6.{n}", 42000 + n, 22, 400, _BEFORE + 400 + n)
                    for n in range(3)
                ),
            ),
            ((NEW_INTERNAL_ADMIN, "10.0.5.60"),),
        ),
        Case(
            "hosts it reached before are not new",
            (
                *(
                    _line("10.0.5.60", f"10.0.6.{n}", 42000 + n, 22, 400, _BEFORE - 900 + n)
                    for n in range(3)
                ),
                *(
                    _line("203.0.113.50", "10.0.5.60", 40000 + n, 22, 12, _BEFORE + n * 4)
                    for n in range(30)
                ),
                _line("203.0.113.50", "10.0.5.60", 41000, 22, 3000, _BEFORE + 200),
                *(
                    _line("10.0.5.60", f"10.0.6.{n}", 43000 + n, 22, 400, _BEFORE + 400 + n)
                    for n in range(3)
                ),
            ),
        ),
    ),
)
