"""Detections of someone getting in: SSH/RDP brute force (one source or a distributed
campaign) and internet sessions on database or admin ports."""

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
)
from analysis.findings import (
    INTERNET_DATABASE_ACCESS,
    RDP_BRUTE_FORCE,
    SSH_BRUTE_FORCE,
    Finding,
)

# Database and remote-admin ports an internet session should not reach. SSH is left out:
# bastions exist to take it from the internet (brute force covers abuse of it).
EXPOSED_PORTS = {
    23: "telnet", 135: "msrpc", 139: "netbios-ssn", 445: "smb", 1433: "mssql", 1521: "oracle",
    3306: "mysql", 3389: "rdp", 5432: "postgresql", 5900: "vnc", 5984: "couchdb",
    5985: "winrm", 5986: "winrm", 6379: "redis", 9200: "elasticsearch", 11211: "memcached",
    27017: "mongodb",
}  # fmt: skip


BRUTE_FORCE_PORTS = (22, 3389)  # SSH, RDP: one query gathers both detections' attempts


def _attempts(ctx: Context) -> str:
    """Short connection attempts to SSH and RDP, one row each, with their port and campaign
    window; and the peak of each (source, port) that can reach `bruteforce_min_attempts`:
    the most attempts it made inside any `bruteforce_window_seconds` (sliding).

    Cheap first: any such window lies inside two consecutive tumbling buckets of its length,
    so a source reaching the least has a bucket holding half of it, and only those sources'
    attempts go through the window function (every other source's peak is below the least,
    and it has no `rate` row)."""
    window = ctx.num("bruteforce_window_seconds")
    least = ctx.whole("bruteforce_min_attempts")
    ports = ", ".join(str(port) for port in BRUTE_FORCE_PORTS)
    return (
        f"a AS (SELECT dstport AS port, src_ip, dst_ip, start, "
        f"{ctx.bucket(ctx.num('campaign_window_seconds'))} AS cb, start_ts, end_ts, bytes, "
        "CASE WHEN action = 'ACCEPT' THEN 1 ELSE 0 END AS acc, "
        "CASE WHEN action = 'REJECT' THEN 1 ELSE 0 END AS rej, "
        f"CASE WHEN {ctx.touches_target if ctx.params.has_target else 'TRUE'} THEN 1 ELSE 0 END "
        f"AS hit FROM {ctx.flows} WHERE protocol = 6 AND dstport IN ({ports}) "
        f"AND packets <= {ctx.whole('bruteforce_max_packets')} AND {ctx.initiated()} "
        "AND src_ip IS NOT NULL AND dst_ip IS NOT NULL AND src_ip <> dst_ip), "
        + ctx.busy_groups("busy", "a", ["port", "src_ip"], window, least)
        + "rate AS (SELECT port, src_ip, MAX(n) AS peak FROM (SELECT a.port, a.src_ip, COUNT(*) "
        f"{ctx.sliding(window, 'a.port, a.src_ip')} AS n FROM a JOIN busy "
        "ON a.port = busy.port AND a.src_ip = busy.src_ip) AS per GROUP BY port, src_ip), "
    )


def _brute_force_sql(ctx: Context) -> list[str]:
    """One query for SSH and RDP brute force alike (the same text, so a run sends it once:
    see Context.fetch): the attempts are gathered and their windows counted once. Its rows:
    per port, the single sources with their listed targets (kind 0), then the campaigns
    with their listed sources (kind 1, of the sources below the single-source least)."""
    least = ctx.whole("bruteforce_min_attempts")
    figures = (
        "COUNT(*) AS flows, SUM(a.acc) AS accepted, SUM(a.rej) AS rejected, "
        "SUM(a.bytes) AS bytes, MIN(a.start_ts) AS first_seen, MAX(a.end_ts) AS last_seen, "
        "MAX(a.hit) AS touched"
    )
    return [
        f"WITH {_attempts(ctx)}"
        f"g AS (SELECT a.port, a.src_ip, r.peak, COUNT(DISTINCT a.dst_ip) AS targets, {figures} "
        "FROM a JOIN rate AS r ON a.port = r.port AND a.src_ip = r.src_ip "
        f"WHERE r.peak >= {least} GROUP BY a.port, a.src_ip, r.peak HAVING COUNT(*) >= "
        f"{ctx.num('bruteforce_min_per_target')} * COUNT(DISTINCT a.dst_ip)), "
        "ps AS (SELECT a.port, a.dst_ip, a.cb, a.src_ip FROM a LEFT JOIN rate AS r "
        f"ON a.port = r.port AND a.src_ip = r.src_ip WHERE r.peak IS NULL OR r.peak < {least} "
        "GROUP BY a.port, a.dst_ip, a.cb, a.src_ip "
        f"HAVING COUNT(*) >= {ctx.whole('campaign_min_attempts_per_source')}), "
        "pc AS (SELECT port, dst_ip, cb FROM ps GROUP BY port, dst_ip, cb "
        f"HAVING COUNT(*) >= {ctx.whole('campaign_min_sources')}), "
        "m AS (SELECT DISTINCT ps.port, ps.dst_ip, ps.src_ip FROM ps JOIN pc "
        "ON ps.port = pc.port AND ps.dst_ip = pc.dst_ip AND ps.cb = pc.cb), "
        "c AS (SELECT a.* FROM a JOIN m ON a.port = m.port AND a.dst_ip = m.dst_ip "
        "AND a.src_ip = m.src_ip), "
        f"cg AS (SELECT c.port, c.dst_ip, COUNT(DISTINCT c.src_ip) AS actors, "
        f"{figures.replace('a.', 'c.')} FROM c AS c GROUP BY c.port, c.dst_ip), "
        "tops AS (SELECT g.port, g.src_ip, b.dst_ip AS listed, ROW_NUMBER() OVER (PARTITION BY "
        "g.port, g.src_ip ORDER BY COUNT(*) DESC, b.dst_ip) AS rn FROM a AS b JOIN g ON "
        "b.port = g.port AND b.src_ip = g.src_ip GROUP BY g.port, g.src_ip, b.dst_ip), "
        "ctops AS (SELECT g.port, g.dst_ip, b.src_ip AS listed, ROW_NUMBER() OVER (PARTITION BY "
        "g.port, g.dst_ip ORDER BY COUNT(*) DESC, b.src_ip) AS rn FROM c AS b JOIN cg AS g ON "
        "b.port = g.port AND b.dst_ip = g.dst_ip GROUP BY g.port, g.dst_ip, b.src_ip) "
        "SELECT g.port, 0 AS kind, g.src_ip AS ip, g.peak, g.targets AS n, g.flows, g.accepted, "
        "g.rejected, g.bytes, g.first_seen, g.last_seen, g.touched, t.listed, t.rn FROM g "
        "LEFT JOIN tops AS t ON t.port = g.port AND t.src_ip = g.src_ip "
        f"AND t.rn <= {MAX_LISTED} "
        "UNION ALL SELECT g.port, 1 AS kind, g.dst_ip AS ip, NULL AS peak, g.actors AS n, "
        "g.flows, g.accepted, g.rejected, g.bytes, g.first_seen, g.last_seen, g.touched, "
        "t.listed, t.rn FROM cg AS g LEFT JOIN ctops AS t ON t.port = g.port "
        f"AND t.dst_ip = g.dst_ip AND t.rn <= {MAX_LISTED} ORDER BY port, kind, ip, rn"
    ]


def _brute_force_findings(kind: str, service: str, port: int) -> Any:
    def findings(ctx: Context, results: list[list[tuple[Any, ...]]]) -> list[tuple[Finding, bool]]:
        [combined] = results
        mine = [row[1:] for row in combined if row[0] == port]  # the port's rows, then kind
        single = [row[1:-1] for row in mine if not row[0]]
        campaign = [row[1:2] + row[3:-1] for row in mine if row[0]]  # no peak
        out = []
        for (src, peak, count, flows, acc, rej, size, first, last, touched), targets in grouped(
            single
        ).items():
            peer = ip(src)
            reached = int(acc) > 0
            out.append((Finding(
                type=kind, severity=7 if reached else 4,
                title=f"{service} brute force from {peer} against {count} address(es)",
                explanation=(
                    f"{flows} short {service} connections from {peer} ({acc} accepted, {rej} "
                    f"rejected), up to {peak} in one window: password guessing"
                    + ("; the service answered." if reached else "; all refused.")
                ),
                evidence=evidence(peer=peer, targets=targets, target_count=count, ports=[port],
                                  flows=flows, accepted=acc, rejected=rej, size=size or 0,
                                  peak_per_window=int(peak)),
                first_seen=first, last_seen=last,
            ), bool(touched)))  # fmt: skip
        for (dst, actors, flows, acc, rej, size, first, last, touched), sources in grouped(
            campaign
        ).items():
            target = ip(dst)
            reached = int(acc) > 0
            out.append((Finding(
                type=kind, severity=7 if reached else 4,
                title=f"Distributed {service} brute force against {target} from {actors} sources",
                explanation=(
                    f"{actors} sources made {flows} short {service} connections to {target} "
                    f"({acc} accepted, {rej} rejected), each too few to stand out alone: a "
                    "password-guessing campaign."
                ),
                evidence=evidence(peer=sources[0] if sources else None, actors=sources,
                                  actor_count=actors, targets=[target], target_count=1,
                                  ports=[port], flows=flows, accepted=acc, rejected=rej,
                                  size=size or 0, campaign=True),
                first_seen=first, last_seen=last,
            ), bool(touched)))  # fmt: skip
        return out

    return findings


def _line(src: str, dst: str, sport: int, dport: int, packets: int, start: int,
          action: str = "ACCEPT") -> str:  # fmt: skip
    return (f"2 1 eni-1 {src} {dst} {sport} {dport} 6 {packets} {packets * 60} {start} "
            f"{start + 2} {action} OK")  # fmt: skip


_BOUNDARY = 1_700_000_400  # a multiple of 600 s: where a tumbling 10-minute window ends
_SSH_CASES = (
    Case("one source guessing passwords", tuple(
        _line("203.0.113.5", "10.0.0.5", 40000 + n, 22, 12, 1_700_000_000 + n * 5)
        for n in range(40)), ((SSH_BRUTE_FORCE, "203.0.113.5"),)),
    Case("a campaign of 12 sources, 4 tries each", tuple(
        _line(f"198.51.100.{s}", "10.0.0.6", 40000 + n, 22, 12, 1_700_000_000 + s * 60 + n)
        for s in range(1, 13) for n in range(4)), ((SSH_BRUTE_FORCE, "198.51.100.1"),)),
    Case("a burst across a 10-minute boundary, 15 tries on each side", tuple(
        _line("203.0.113.7", "10.0.0.5", 40000 + n, 22, 12, _BOUNDARY - 290 + n * 20)
        for n in range(30)), ((SSH_BRUTE_FORCE, "203.0.113.7"),)),
    Case("a bastion's logins all working day, at most 15 in any 10 minutes", tuple(
        _line("198.51.100.11", "10.0.0.5", 40000 + n, 22, 30, _BOUNDARY + n * 40)
        for n in range(720))),
    Case("71 admin logins over a day are not brute force", tuple(
        _line("198.51.100.10", "10.0.0.5", 40000 + n, 22, 30, 1_700_000_000 + n * 1200)
        for n in range(71))),
    Case("an admin's long sessions are sessions", tuple(
        _line("198.51.100.10", "10.0.0.5", 40000 + n, 22, 900, 1_700_000_000 + n * 10)
        for n in range(40))),
    Case("replies from port 22 are not attempts", tuple(
        _line("10.0.0.5", "203.0.113.9", 22, 40000 + n, 12, 1_700_000_000 + n)
        for n in range(40))),
)  # fmt: skip
_RDP_CASES = (
    Case("one source guessing RDP passwords", tuple(
        _line("45.155.205.99", "10.0.0.7", 40000 + n, 3389, 14, 1_700_000_000 + n * 3)
        for n in range(30)), ((RDP_BRUTE_FORCE, "45.155.205.99"),)),
    Case("a few RDP logins are not brute force", tuple(
        _line("198.51.100.10", "10.0.0.7", 40000 + n, 3389, 20, 1_700_000_000 + n * 3000)
        for n in range(30))),
)  # fmt: skip

_BRUTE_PARAMETERS = (
    "bruteforce_min_attempts", "bruteforce_min_per_target", "bruteforce_max_packets",
    "bruteforce_window_seconds", "campaign_min_sources", "campaign_min_attempts_per_source",
    "campaign_window_seconds",
)  # fmt: skip

SSH_BRUTE_FORCE_DETECTION = Detection(
    id="ssh-brute-force",
    type=SSH_BRUTE_FORCE,
    title="SSH brute force",
    description=(
        "Many short connection attempts to SSH (port 22) from one source inside any window "
        "of the configured length (sliding: a burst across a clock boundary counts whole), "
        "several per address it tried; or a campaign: many sources, each with a few "
        "attempts on the same host inside one window, reported once with its actors. Replies "
        "from port 22 and sessions with many packets are not attempts."
    ),
    tactics=("TA0006",),
    techniques=("T1110.001", "T1110.003"),
    severity=4,
    severity_rises="4 when every attempt was refused; 7 when the service accepted them.",
    parameters=_BRUTE_PARAMETERS,
    sql=_brute_force_sql,
    findings=_brute_force_findings(SSH_BRUTE_FORCE, "SSH", 22),
    cases=_SSH_CASES,
)

RDP_BRUTE_FORCE_DETECTION = Detection(
    id="rdp-brute-force",
    type=RDP_BRUTE_FORCE,
    title="RDP brute force",
    description=(
        "Many short connection attempts to RDP (port 3389) from one source inside any window "
        "of the configured length, or a campaign of many sources with a few attempts each "
        "on one host, as for SSH brute force."
    ),
    tactics=("TA0006",),
    techniques=("T1110.001", "T1110.003"),
    severity=4,
    severity_rises="4 when every attempt was refused; 7 when the service accepted them.",
    parameters=_BRUTE_PARAMETERS,
    sql=_brute_force_sql,
    findings=_brute_force_findings(RDP_BRUTE_FORCE, "RDP", 3389),
    cases=_RDP_CASES,
)


def _exposed_sql(ctx: Context) -> list[str]:
    ports = ", ".join(str(port) for port in sorted(EXPOSED_PORTS))
    base = (
        f"a AS (SELECT src_ip, dst_ip, dstport, packets, bytes, start_ts, end_ts, "
        f"CASE WHEN {ctx.touches_target if ctx.params.has_target else 'TRUE'} THEN 1 ELSE 0 "
        f"END AS hit FROM {ctx.flows} WHERE {ctx.external('src_ip')} AND {ctx.internal('dst_ip')} "
        f"AND dstport IN ({ports}) AND action = 'ACCEPT' AND {ctx.initiated()} "
        f"AND packets > {ctx.whole('probe_max_packets')}), "
        "g AS (SELECT dst_ip, dstport, COUNT(DISTINCT src_ip) AS actors, COUNT(*) AS flows, "
        "SUM(bytes) AS bytes, MAX(packets) AS most_packets, MIN(start_ts) AS first_seen, "
        "MAX(end_ts) AS last_seen, MAX(hit) AS touched FROM a GROUP BY dst_ip, dstport), "
    )
    return ["WITH " + base + listed_sql("a", "g", ["dst_ip", "dstport"], "src_ip")]


def _exposed_findings(
    ctx: Context, results: list[list[tuple[Any, ...]]]
) -> list[tuple[Finding, bool]]:
    out = []
    for (dst, port, actors, flows, size, _most, first, last, touched), sources in grouped(
        results[0]
    ).items():
        target, service = ip(dst), EXPOSED_PORTS.get(int(port), "")
        heavy = int(size or 0) >= ctx.num("exposed_high_bytes")
        out.append((Finding(
            type=INTERNET_DATABASE_ACCESS, severity=8 if heavy else 6,
            title=f"Internet sessions to {service or port} on {target} from {actors} source(s)",
            explanation=(
                f"{actors} internet address(es) held {flows} accepted sessions with port "
                f"{port} ({service}) of {target}, {int(size or 0):,} bytes sent to it: a "
                "database or admin port is reachable from the internet and in use."
            ),
            evidence=evidence(peer=sources[0] if sources else None, actors=sources,
                              actor_count=actors, targets=[target], target_count=1,
                              ports=[int(port)], flows=flows, accepted=flows, rejected=0,
                              size=size or 0),
            first_seen=first, last_seen=last,
        ), bool(touched)))  # fmt: skip
    return out


INTERNET_DATABASE_ACCESS_DETECTION = Detection(
    id="internet-database-access",
    type=INTERNET_DATABASE_ACCESS,
    title="Accepted internet traffic to a database or admin port",
    description=(
        "Internet addresses holding accepted sessions (more packets than a probe) with a "
        "database or remote-admin port (PostgreSQL, MySQL, Redis, RDP, SMB, VNC, WinRM ...; "
        "not SSH, which bastions take) of an internal host. One finding per host and port, "
        "listing the sources."
    ),
    tactics=("TA0001",),
    techniques=("T1190", "T1133"),
    severity=6,
    severity_rises="6; 8 when the sessions sent at least exposed_high_bytes to the host.",
    parameters=("probe_max_packets", "exposed_high_bytes"),
    sql=_exposed_sql,
    findings=_exposed_findings,
    cases=(
        Case(
            "an outsider using PostgreSQL",
            tuple(
                _line("23.94.5.5", "10.0.0.8", 40000 + n, 5432, 200, 1_700_000_000 + n * 300)
                for n in range(3)
            ),
            ((INTERNET_DATABASE_ACCESS, "23.94.5.5"),),
        ),
        Case(
            "PostgreSQL replies to an internal client are not access",
            tuple(
                _line("10.0.0.8", "10.0.0.9", 5432, 40000 + n, 200, 1_700_000_000 + n)
                for n in range(3)
            ),
        ),
        Case(
            "HTTPS from the internet is not a database port",
            tuple(
                _line("23.94.5.5", "10.0.0.8", 40000 + n, 443, 200, 1_700_000_000 + n)
                for n in range(3)
            ),
        ),
    ),
)
