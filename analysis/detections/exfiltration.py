"""Exfiltration: unusual outbound volume to one peer, and DNS to resolvers outside the VPC."""

from __future__ import annotations

from typing import Any

from analysis.addresses import ip_to_int, sql_int
from analysis.detections.base import (
    Case,
    Context,
    Detection,
    evidence,
    grouped,
    ip,
    listed_sql,
)
from analysis.findings import DNS_OUTSIDE_RESOLVER, UNUSUAL_OUTBOUND_VOLUME, Finding

MAD_SCALE = 1.4826  # makes the median absolute deviation comparable to a standard deviation


def _hit(ctx: Context) -> str:
    return f"CASE WHEN {ctx.touches_target if ctx.params.has_target else 'TRUE'} THEN 1 ELSE 0 END"


def _outbound(ctx: Context) -> str:
    """Accepted data our hosts sent to outside peers on connections they opened, to
    addresses that are not AWS services (a backup to S3 is not exfiltration)."""
    return (
        f"{ctx.internal('src_ip')} AND {ctx.external('dst_ip')} AND action = 'ACCEPT' "
        f"AND {ctx.initiated()} AND {ctx.not_aws_service('dst')}"
    )


def _peers(ctx: Context) -> str:
    return (
        f"peers AS (SELECT dst_ip, SUM(bytes) AS bytes FROM {ctx.flows} WHERE {_outbound(ctx)} "
        "GROUP BY dst_ip)"
    )


def _median(values: str) -> str:
    """Row count and median of column x (window functions Trino also has)."""
    return (
        "SELECT MAX(n), AVG(CASE WHEN 2 * rn IN (n, n + 1, n + 2) THEN x END) FROM "
        "(SELECT x, ROW_NUMBER() OVER (ORDER BY x) AS rn, "
        f"COUNT(*) OVER () AS n FROM ({values}) AS v) AS ranked"
    )


def _volume_sql(ctx: Context) -> list[str]:
    # Two passes: the median peer, then the median deviation from it and the candidates
    # above both, with their evidence; the median goes into the second as a literal.
    return [f"WITH {_peers(ctx)} " + _median("SELECT bytes AS x FROM peers")]


def _volume_findings(
    ctx: Context, results: list[list[tuple[Any, ...]]]
) -> list[tuple[Finding, bool]]:
    rows = results[0]
    if not rows or rows[0][0] is None:
        return []
    count, median = int(rows[0][0]), float(rows[0][1] or 0.0)
    if count < max(ctx.whole("exfil_min_peers"), 1):
        return []
    mad_rows = ctx.fetch(
        f"WITH {_peers(ctx)} "
        + _median(f"SELECT ABS(CAST(bytes AS DOUBLE) - CAST({median!r} AS DOUBLE)) AS x FROM peers")
    )
    mad = float(mad_rows[0][1] or 0.0) if mad_rows and mad_rows[0][0] is not None else 0.0
    spread = MAD_SCALE * mad
    floor = max(ctx.num("exfil_min_bytes"), ctx.num("exfil_min_ratio") * median)
    if spread > 0:
        floor = max(floor, median + ctx.num("exfil_min_zscore") * spread)
    candidates = ctx.fetch(candidates_sql(ctx, floor))
    out = []
    for key, sources in grouped(candidates).items():
        dst, recurring, size, flows, count_sources, low, high, first, last, touched, *seen = key
        days, earlier = int(seen[0]), bool(seen[1])
        peer, size = ip(dst), int(size)
        zscore = (size - median) / spread if spread > 0 else None
        ratio = size / median if median > 0 else None
        figures: dict[str, Any] = {
            "median_peer_bytes": median,
            "ratio_to_median": None if ratio is None else round(ratio, 1),
            "robust_zscore": None if zscore is None else round(zscore, 1),
            "external_peers": count,
        }
        ports = sorted({int(low), int(high)})
        if recurring:
            # Expected: said in the run's summary (recurring_left_out), not a finding.
            out.append((Finding(
                type=UNUSUAL_OUTBOUND_VOLUME, severity=2,
                title=f"{size:,} bytes sent to {peer}, a recurring destination",
                explanation=(
                    f"{peer} received {size:,} bytes from {count_sources} internal address(es) "
                    + ("that reached it in earlier runs of the investigation"
                       if earlier else f"that reached it on {days} days of the window")
                    + ", no day far above its own others: recurring, expected traffic."
                ),
                evidence=evidence(peer=peer, targets=sources, target_count=count_sources,
                                  ports=ports, flows=flows, accepted=flows, rejected=0,
                                  size=size, recurring=True, recurring_days=days,
                                  seen_in_earlier_runs=earlier,
                                  **figures),
                first_seen=first, last_seen=last,
            ), bool(touched)))  # fmt: skip
            continue
        out.append((Finding(
            type=UNUSUAL_OUTBOUND_VOLUME, severity=8,
            title=f"{size:,} bytes sent to {peer}",
            explanation=(
                f"{peer} received {size:,} bytes from {count_sources} internal address(es) on "
                "connections they opened, "
                + (f"{ratio:,.0f} times the median external peer" if ratio else "")
                + f" ({median:,.0f} bytes over {count} peers; AWS services and recurring "
                "destinations left out)."
            ),
            evidence=evidence(peer=peer, targets=sources, target_count=count_sources,
                              ports=ports, flows=flows, accepted=flows, rejected=0, size=size,
                              **figures),
            first_seen=first, last_seen=last,
        ), bool(touched)))  # fmt: skip
    return out


def candidates_sql(ctx: Context, floor: float) -> str:
    """The peers receiving at least `floor` bytes, apart for (host, peer) pairs that are new
    or rare (recurring 0) and pairs that recur (recurring 1, with the most days one of them
    was seen on): a pair recurs when the host reached the peer on at least
    `exfil_recurring_days` distinct days (UTC) of the window, or in an earlier run (the
    run's `recurring_pairs`), and its busiest day is at most `exfil_recurring_max_ratio`
    times the average of its other days (a jump above the host's own history is unusual)."""
    day = 86_400
    least = max(ctx.whole("exfil_recurring_days"), 2)
    jump = ctx.num("exfil_recurring_max_ratio")
    earlier = ""
    if ctx.params.recurring_pairs:
        earlier = (
            "UNION ALL SELECT e.src_ip, e.dst_ip, e.days, 1 AS earlier FROM pr AS e "
            f"JOIN {pair_values(ctx.params.recurring_pairs)} AS k ON e.src_ip = k.src_ip "
            "AND e.dst_ip = k.dst_ip "
        )
    return (
        f"WITH o AS (SELECT src_ip, dst_ip, dstport, bytes, start, start_ts, end_ts, "
        f"{_hit(ctx)} AS hit FROM {ctx.flows} WHERE {_outbound(ctx)}), "
        # Big peers first: only their pairs need a history.
        f"big AS (SELECT dst_ip FROM o GROUP BY dst_ip HAVING SUM(bytes) >= {int(floor)}), "
        "pd AS (SELECT o.src_ip, o.dst_ip, o.start - o.start % "
        f"{day} AS day, SUM(o.bytes) AS bytes FROM o JOIN big ON o.dst_ip = big.dst_ip "
        f"GROUP BY o.src_ip, o.dst_ip, o.start - o.start % {day}), "
        "pr AS (SELECT src_ip, dst_ip, COUNT(*) AS days, SUM(bytes) AS bytes, "
        "MAX(bytes) AS peak FROM pd GROUP BY src_ip, dst_ip), "
        "rp AS (SELECT src_ip, dst_ip, MAX(days) AS days, MAX(earlier) AS earlier FROM "
        "(SELECT src_ip, dst_ip, days, 0 AS earlier FROM pr "
        f"WHERE days >= {least} AND peak * (days - 1) <= {jump} * (bytes - peak) "
        f"{earlier}) AS r GROUP BY src_ip, dst_ip), "
        "ob AS (SELECT o.*, CASE WHEN rp.src_ip IS NULL THEN 0 ELSE 1 END AS recurring, "
        "COALESCE(rp.days, 0) AS days, COALESCE(rp.earlier, 0) AS earlier FROM o "
        "JOIN big ON o.dst_ip = big.dst_ip "
        "LEFT JOIN rp ON o.src_ip = rp.src_ip AND o.dst_ip = rp.dst_ip), "
        "g AS (SELECT dst_ip, recurring, SUM(bytes) AS bytes, COUNT(*) AS flows, "
        "COUNT(DISTINCT src_ip) AS sources, MIN(dstport) AS low, MAX(dstport) AS high, "
        "MIN(start_ts) AS first_seen, MAX(end_ts) AS last_seen, MAX(hit) AS touched, "
        "MAX(days) AS days, MAX(earlier) AS earlier FROM ob GROUP BY dst_ip, recurring "
        f"HAVING SUM(bytes) >= {int(floor)}), "
        + listed_sql("ob", "g", ["dst_ip", "recurring"], "src_ip", order="SUM(b.bytes) DESC")
    )


def pair_values(pairs: list[tuple[str, str]]) -> str:
    """(host, peer) address pairs as an inline VALUES relation (src_ip, dst_ip)."""
    rows = ", ".join(
        f"({sql_int(ip_to_int(host))}, {sql_int(ip_to_int(peer))})" for host, peer in pairs
    )
    return f"(SELECT * FROM (VALUES {rows}) AS pairs(src_ip, dst_ip))"


def _line(src: str, dst: str, sport: int, dport: int, size: int, start: int,
          proto: int = 6) -> str:  # fmt: skip
    return (f"2 1 eni-1 {src} {dst} {sport} {dport} {proto} {max(size // 1400, 1)} {size} "
            f"{start} {start + 60} ACCEPT OK")  # fmt: skip


_NIGHT = 1_700_006_400  # 00:00 UTC, 2023-11-15
_PEERS = tuple(
    _line("10.0.2.20", f"52.94.{n}.1", 40000 + n, 443, 50_000 + n * 1000, 1_700_000_000 + n)
    for n in range(10)
)
_VOLUME_PARAMETERS = (
    "exfil_min_bytes", "exfil_min_ratio", "exfil_min_zscore", "exfil_min_peers",
    "exfil_recurring_days", "exfil_recurring_max_ratio",
)  # fmt: skip
UNUSUAL_OUTBOUND_VOLUME_DETECTION = Detection(
    spares_aws_services=True,
    id="unusual-outbound-volume",
    type=UNUSUAL_OUTBOUND_VOLUME,
    title="Unusual outbound volume",
    description=(
        "One outside peer receiving far more bytes from our hosts, on connections they "
        "opened, than the typical outside peer (median and median absolute deviation over "
        "all peers). Replies to inbound sessions and traffic to AWS services "
        "(pkt-dst-aws-service) are left out: a backup to S3 is not exfiltration. So are "
        "recurring destinations: a peer the same host reached on several days of the window "
        "(or in earlier runs of the investigation) with no day far above its others, such as "
        "a nightly transfer to a partner; the run's summary names them."
    ),
    tactics=("TA0010",),
    techniques=("T1030", "T1048"),
    severity=8,
    severity_rises="Always 8 (high).",
    parameters=_VOLUME_PARAMETERS,
    sql=_volume_sql,
    findings=_volume_findings,
    cases=(
        Case(
            "6 GB to one new peer",
            (
                *_PEERS,
                *(
                    _line(
                        "10.0.2.12", "185.220.101.7", 41000 + n, 443, 500_000_000, 1_700_000_000 + n
                    )
                    for n in range(12)
                ),
            ),
            ((UNUSUAL_OUTBOUND_VOLUME, "185.220.101.7"),),
        ),
        Case(
            "a nightly 1.2 GB transfer to a partner, every day of a week",
            (
                *_PEERS,
                *(
                    _line(
                        "10.0.2.30",
                        "93.184.216.34",
                        41000 + n,
                        443,
                        300_000_000,
                        _NIGHT + day * 86_400 + n * 240,
                    )
                    for day in range(7)
                    for n in range(4)
                ),
            ),
        ),
        Case(
            "the usual partner getting 60 times its usual day",
            (
                *_PEERS,
                *(
                    _line(
                        "10.0.2.30",
                        "93.184.216.34",
                        41000 + n,
                        443,
                        25_000_000,
                        _NIGHT + day * 86_400 + n * 240,
                    )
                    for day in range(6)
                    for n in range(4)
                ),
                *(
                    _line(
                        "10.0.2.30",
                        "93.184.216.34",
                        42000 + n,
                        443,
                        500_000_000,
                        _NIGHT + 6 * 86_400 + n * 240,
                    )
                    for n in range(12)
                ),
            ),
            ((UNUSUAL_OUTBOUND_VOLUME, "93.184.216.34"),),
        ),
        Case(
            "an admin downloading from the bastion is a reply",
            (
                *_PEERS,
                *(
                    _line(
                        "10.0.1.5", "198.51.100.10", 22, 41000 + n, 500_000_000, 1_700_000_000 + n
                    )
                    for n in range(12)
                ),
            ),
        ),
    ),
)


def _dns_sql(ctx: Context) -> list[str]:
    return [
        f"WITH d AS (SELECT src_ip, dst_ip, bytes, start_ts, end_ts, {_hit(ctx)} AS hit "
        f"FROM {ctx.flows} WHERE {ctx.internal('src_ip')} AND {ctx.external('dst_ip')} "
        f"AND dstport = 53 AND protocol IN (6, 17) AND {ctx.initiated()} "
        f"AND {ctx.not_aws_service('dst')}), "
        "g AS (SELECT src_ip, COUNT(*) AS flows, COUNT(DISTINCT dst_ip) AS resolvers, "
        "SUM(bytes) AS bytes, MIN(start_ts) AS first_seen, MAX(end_ts) AS last_seen, "
        "MAX(hit) AS touched FROM d GROUP BY src_ip "
        f"HAVING COUNT(*) >= {ctx.whole('dns_min_queries')}), "
        + listed_sql("d", "g", ["src_ip"], "dst_ip")
    ]  # fmt: skip


def _dns_findings(ctx: Context, results: list[list[tuple[Any, ...]]]) -> list[tuple[Finding, bool]]:
    out = []
    for key, resolvers in grouped(results[0]).items():
        src, flows, count, size, first, last, touched = key
        peer = ip(src)
        heavy = int(flows) >= 10 * ctx.whole("dns_min_queries")
        out.append((Finding(
            type=DNS_OUTSIDE_RESOLVER, severity=7 if heavy else 5,
            title=f"{peer} sent {flows} DNS queries to {count} outside resolver(s)",
            explanation=(
                f"Internal host {peer} sent {flows} DNS flows ({int(size or 0):,} bytes) to "
                f"resolvers outside the VPC ({', '.join(resolvers[:3])}) instead of the VPC "
                "resolver: a policy bypass, or data tunnelled through DNS."
            ),
            evidence=evidence(peer=peer, targets=resolvers, target_count=count, ports=[53],
                              flows=flows, accepted=None, rejected=None, size=size or 0),
            first_seen=first, last_seen=last,
        ), bool(touched)))  # fmt: skip
    return out


DNS_OUTSIDE_RESOLVER_DETECTION = Detection(
    id="dns-outside-resolver",
    type=DNS_OUTSIDE_RESOLVER,
    title="DNS to outside resolvers",
    description=(
        "An internal host sending many DNS queries (UDP or TCP 53) to resolvers outside the "
        "VPC. The VPC's own resolver is not in flow logs, so any volume here bypasses it; a "
        "few lookups are left alone."
    ),
    tactics=("TA0011",),
    techniques=("T1071.004",),
    severity=5,
    severity_rises="5; 7 at ten times dns_min_queries.",
    parameters=("dns_min_queries",),
    sql=_dns_sql,
    findings=_dns_findings,
    cases=(
        Case(
            "600 queries to 8.8.8.8",
            tuple(
                _line("10.0.2.19", "8.8.8.8", 40000 + n, 53, 120, 1_700_000_000 + n, 17)
                for n in range(600)
            ),
            ((DNS_OUTSIDE_RESOLVER, "10.0.2.19"),),
        ),
        Case(
            "five lookups on a public resolver",
            tuple(
                _line("10.0.2.19", "1.1.1.1", 40000 + n, 53, 120, 1_700_000_000 + n, 17)
                for n in range(5)
            ),
        ),
    ),
)
