"""Command-and-control and abuse of our hosts: beaconing, long connections, crypto-mining,
and a host whose rejected traffic spikes against its own baseline."""

from __future__ import annotations

from typing import Any

from analysis.detections.base import (
    Case,
    Context,
    Detection,
    evidence,
    grouped,
    ip,
    listed_sql,
)
from analysis.findings import (
    BEACONING,
    CRYPTO_MINING,
    LONG_CONNECTION,
    REJECTED_SPIKE,
    Finding,
)

MIDDLE_SECONDS = 50
# Stratum (mining pool) ports.
MINING_PORTS = (3333, 3334, 4444, 5555, 7777, 8888, 9999, 14433, 14444, 45560, 45700)


def _hit(ctx: Context) -> str:
    return f"CASE WHEN {ctx.touches_target if ctx.params.has_target else 'TRUE'} THEN 1 ELSE 0 END"


def _line(src: str, dst: str, sport: int, dport: int, size: int, start: int, end: int,
          proto: int = 6, action: str = "ACCEPT") -> str:  # fmt: skip
    return (f"2 1 eni-1 {src} {dst} {sport} {dport} {proto} {max(size // 100, 1)} {size} "
            f"{start} {end} {action} OK")  # fmt: skip


def _outbound(ctx: Context) -> str:
    return (
        f"{ctx.internal('src_ip')} AND {ctx.external('dst_ip')} AND action = 'ACCEPT' "
        f"AND {ctx.initiated()} AND {ctx.not_aws_service('dst')}"
    )


def _beacon_sql(ctx: Context) -> list[str]:
    # A connection is one source port: flow logs split a long one into a record per
    # aggregation window, which must not look like a beacon every window.
    return [
        f"WITH c AS (SELECT src_ip, dst_ip, dstport, srcport, MIN(start) AS t, "
        f"SUM(bytes) AS bytes, MIN(start_ts) AS first_seen, MAX(end_ts) AS last_seen, "
        f"MAX({_hit(ctx)}) AS hit FROM {ctx.flows} WHERE {_outbound(ctx)} "
        "GROUP BY src_ip, dst_ip, dstport, srcport), "
        "d AS (SELECT src_ip, dst_ip, dstport, bytes, first_seen, last_seen, hit, "
        "t - LAG(t) OVER (PARTITION BY src_ip, dst_ip, dstport ORDER BY t) AS gap FROM c) "
        "SELECT src_ip, dst_ip, dstport, COUNT(*) AS conns, AVG(gap) AS mean_gap, "
        "STDDEV_SAMP(gap) AS sd_gap, AVG(bytes) AS mean_bytes, STDDEV_SAMP(bytes) AS sd_bytes, "
        "SUM(bytes) AS bytes, MIN(first_seen), MAX(last_seen), MAX(hit) FROM d "
        "GROUP BY src_ip, dst_ip, dstport "
        f"HAVING COUNT(*) >= {ctx.whole('beacon_min_connections')} "
        f"AND AVG(gap) >= {ctx.num('beacon_min_interval_seconds')} "
        f"AND STDDEV_SAMP(gap) <= {ctx.num('beacon_max_interval_cv')} * AVG(gap) "
        f"AND STDDEV_SAMP(bytes) <= {ctx.num('beacon_max_size_cv')} * AVG(bytes) "
        "ORDER BY src_ip, dst_ip, dstport"
    ]  # fmt: skip


def _beacon_findings(
    ctx: Context, results: list[list[tuple[Any, ...]]]
) -> list[tuple[Finding, bool]]:
    out = []
    for src, dst, port, conns, gap, sd_gap, mean, sd_bytes, size, first, last, hit in results[0]:
        host, peer = ip(src), ip(dst)
        regularity = 1 - float(sd_gap or 0) / float(gap) if gap else 0.0
        steadiness = 1 - float(sd_bytes or 0) / float(mean) if mean else 0.0
        score = round(max(0.0, regularity) * max(0.0, steadiness), 2)
        out.append((Finding(
            type=BEACONING, severity=8 if score >= 0.9 else 6,
            title=f"{host} beacons to {peer}:{port} every {float(gap):,.0f} s",
            explanation=(
                f"{host} opened {conns} connections to {peer}:{port} at regular intervals "
                f"({float(gap):,.0f} s, deviation {float(sd_gap or 0):,.1f} s) with steady sizes "
                f"({float(mean):,.0f} bytes, deviation {float(sd_bytes or 0):,.0f}): "
                "command-and-control check-ins."
            ),
            evidence=evidence(peer=peer, actors=[peer, host], targets=[host], target_count=1,
                              ports=[int(port)], flows=conns, accepted=conns, rejected=0,
                              size=size or 0, interval_seconds=round(float(gap), 1),
                              score=score),
            first_seen=first, last_seen=last,
        ), bool(hit)))  # fmt: skip
    return out


BEACONING_DETECTION = Detection(
    spares_aws_services=True,
    id="beaconing",
    type=BEACONING,
    title="Beaconing",
    description=(
        "One internal host opening connections to one outside address and port at regular "
        "intervals with small, steady sizes (scored on interval regularity and size "
        "stability, as RITA does). Connections are told apart by source port, so a long "
        "connection split into a record per aggregation window is not a beacon."
    ),
    tactics=("TA0011",),
    techniques=("T1071",),
    severity=6,
    severity_rises="6; 8 when the regularity-times-steadiness score is 0.9 or more.",
    parameters=(
        "beacon_min_connections",
        "beacon_min_interval_seconds",
        "beacon_max_interval_cv",
        "beacon_max_size_cv",
    ),
    sql=_beacon_sql,
    findings=_beacon_findings,
    cases=(
        Case(
            "a check-in every minute",
            tuple(
                _line(
                    "10.0.2.13",
                    "91.219.236.18",
                    40000 + n,
                    443,
                    420 + n % 5,
                    1_700_000_000 + n * 60,
                    1_700_000_001 + n * 60,
                )
                for n in range(40)
            ),
            ((BEACONING, "91.219.236.18"),),
        ),
        Case(
            "git fetches every 5 minutes, sizes varying",
            tuple(
                _line(
                    "10.0.4.40",
                    "140.82.112.4",
                    40000 + n,
                    22,
                    3000 + (n * 7919) % 900_000,
                    1_700_000_000 + n * 300,
                    1_700_000_010 + n * 300,
                )
                for n in range(40)
            ),
        ),
        Case(
            "one long connection, a record per window",
            tuple(
                _line(
                    "10.0.2.14",
                    "45.77.1.1",
                    40000,
                    8443,
                    5000,
                    1_700_000_000 + n * 600,
                    1_700_000_600 + n * 600,
                )
                for n in range(40)
            ),
        ),
    ),
)


def _long_sql(ctx: Context) -> list[str]:
    middle = f'"end" - start >= {MIDDLE_SECONDS}'
    return [
        f"SELECT src_ip, dst_ip, srcport, dstport, MIN(start) AS opened, MAX(\"end\") AS closed, "
        "COUNT(*) AS windows, SUM(bytes), "
        f"MIN(start_ts), MAX(end_ts), MAX({_hit(ctx)}), "
        f"CASE WHEN {ctx.internal('src_ip')} THEN 1 ELSE 0 END "
        # A connection open across windows fills its middle windows: records of at least
        # most of a minute (the shortest aggregation interval) are its middle. Few records
        # are: tested first.
        f"FROM {ctx.flows_as('flows', where=middle)} "
        f"WHERE (({ctx.internal('src_ip')} AND {ctx.external('dst_ip')}) OR "
        f"({ctx.external('src_ip')} AND {ctx.internal('dst_ip')})) AND action = 'ACCEPT' "
        f"AND {ctx.initiated()} AND {ctx.not_aws_service('dst')} "
        "GROUP BY src_ip, dst_ip, srcport, dstport, protocol "
        f"HAVING MAX(\"end\") - MIN(start) >= {ctx.num('longconn_min_hours')} * 3600 "
        # Consecutive windows: a source port reused hours apart is two connections.
        f"AND SUM(\"end\" - start) * 2 >= MAX(\"end\") - MIN(start) "
        "ORDER BY src_ip, dst_ip, srcport, dstport"
    ]  # fmt: skip


def _long_findings(
    ctx: Context, results: list[list[tuple[Any, ...]]]
) -> list[tuple[Finding, bool]]:
    out = []
    for row in results[0]:
        src, dst, sport, port, opened, closed, windows, size, first, last, hit, outbound = row
        client, server = ip(src), ip(dst)
        hours = (int(closed) - int(opened)) / 3600
        out.append((Finding(
            type=LONG_CONNECTION, severity=5,
            title=f"{client} held a connection to {server}:{port} for {hours:.1f} hours",
            explanation=(
                f"One connection ({client}:{sport} to {server}:{port}) stayed open "
                f"{hours:.1f} hours in {windows} records (one per aggregation window), "
                f"{int(size or 0):,} bytes: a tunnel, remote shell or C2 channel kept alive."
            ),
            evidence=evidence(peer=server if outbound else client, actors=[server, client],
                              targets=[client], target_count=1, ports=[int(port)],
                              flows=windows, accepted=windows, rejected=0, size=size or 0,
                              hours=round(hours, 1)),
            first_seen=first, last_seen=last,
        ), bool(hit)))  # fmt: skip
    return out


LONG_CONNECTION_DETECTION = Detection(
    spares_aws_services=True,
    id="long-connection",
    type=LONG_CONNECTION,
    title="Long connection",
    description=(
        "The same connection (5-tuple) between an internal host and an outside address "
        "across consecutive aggregation windows for hours. AWS service endpoints are left "
        "out."
    ),
    tactics=("TA0011",),
    techniques=("T1071", "T1571"),
    severity=5,
    severity_rises="Always 5 (medium).",
    parameters=("longconn_min_hours",),
    sql=_long_sql,
    findings=_long_findings,
    cases=(
        Case(
            "eight hours on one connection",
            tuple(
                _line(
                    "10.0.2.14",
                    "45.77.1.1",
                    40000,
                    8443,
                    5000,
                    1_700_000_000 + n * 600,
                    1_700_000_600 + n * 600,
                )
                for n in range(48)
            ),
            ((LONG_CONNECTION, "45.77.1.1"),),
        ),
        Case(
            "a one-hour admin session",
            tuple(
                _line(
                    "198.51.100.10",
                    "10.0.1.5",
                    40000,
                    22,
                    5000,
                    1_700_000_000 + n * 600,
                    1_700_000_600 + n * 600,
                )
                for n in range(6)
            ),
        ),
    ),
)


def _mining_sql(ctx: Context) -> list[str]:
    ports = ", ".join(map(str, MINING_PORTS))
    return [
        f"WITH m AS (SELECT src_ip, dst_ip, dstport, start, \"end\", bytes, start_ts, end_ts, "
        f"{_hit(ctx)} AS hit FROM {ctx.flows} WHERE {_outbound(ctx)} AND dstport IN ({ports}) "
        "AND protocol = 6), "
        "g AS (SELECT src_ip, COUNT(DISTINCT dst_ip) AS pools, MIN(dstport) AS port, "
        "MAX(\"end\") - MIN(start) AS seconds, COUNT(*) AS flows, SUM(bytes) AS bytes, "
        "MIN(start_ts) AS first_seen, MAX(end_ts) AS last_seen, MAX(hit) AS touched FROM m "
        "GROUP BY src_ip "
        f"HAVING MAX(\"end\") - MIN(start) >= {ctx.num('mining_min_minutes')} * 60), "
        + listed_sql("m", "g", ["src_ip"], "dst_ip")
    ]  # fmt: skip


def _mining_findings(
    ctx: Context, results: list[list[tuple[Any, ...]]]
) -> list[tuple[Finding, bool]]:
    out = []
    for key, pools in grouped(results[0]).items():
        src, count, port, seconds, flows, size, first, last, touched = key
        host = ip(src)
        out.append((Finding(
            type=CRYPTO_MINING, severity=8,
            title=f"{host} talks to mining pool port {port} at {pools[0] if pools else '?'}",
            explanation=(
                f"{host} kept connections to stratum port(s) of {count} outside address(es) "
                f"for {int(seconds) / 60:,.0f} minutes ({flows} flows): crypto-mining."
            ),
            evidence=evidence(peer=pools[0] if pools else host, actors=[*pools, host],
                              targets=[host], target_count=1, ports=[int(port)], flows=flows,
                              accepted=flows, rejected=0, size=size or 0),
            first_seen=first, last_seen=last,
        ), bool(touched)))  # fmt: skip
    return out


CRYPTO_MINING_DETECTION = Detection(
    id="crypto-mining",
    type=CRYPTO_MINING,
    title="Crypto-mining",
    description=(
        "An internal host keeping connections to stratum (mining pool) ports of outside "
        f"addresses ({', '.join(map(str, MINING_PORTS))}) for a while, not a single touch."
    ),
    tactics=("TA0040",),
    techniques=("T1496",),
    severity=8,
    severity_rises="Always 8 (high).",
    parameters=("mining_min_minutes",),
    sql=_mining_sql,
    findings=_mining_findings,
    cases=(
        Case(
            "an hour on stratum port 3333",
            tuple(
                _line(
                    "10.0.2.18",
                    "141.94.1.2",
                    40000,
                    3333,
                    5000,
                    1_700_000_000 + n * 600,
                    1_700_000_600 + n * 600,
                )
                for n in range(6)
            ),
            ((CRYPTO_MINING, "141.94.1.2"),),
        ),
        Case(
            "one refused touch of port 4444",
            (
                _line(
                    "10.0.2.18",
                    "141.94.1.2",
                    40000,
                    4444,
                    60,
                    1_700_000_000,
                    1_700_000_001,
                    action="REJECT",
                ),
            ),
        ),
    ),
)


def _spike_sql(ctx: Context) -> list[str]:
    step = max(int(ctx.num("reject_window_seconds")), 1)
    return [
        f"WITH r AS (SELECT src_ip, start - start % {step} AS b, COUNT(*) AS n, "
        "COUNT(DISTINCT dstport) AS ports, COUNT(DISTINCT dst_ip) AS hosts, "
        f"MIN(start_ts) AS first_seen, MAX(end_ts) AS last_seen, MAX({_hit(ctx)}) AS hit "
        f"FROM {ctx.flows} WHERE {ctx.internal('src_ip')} AND action = 'REJECT' "
        "GROUP BY src_ip, b), "
        f"span AS (SELECT (MAX(start) - MIN(start)) / {step} + 1 AS windows FROM flows), "
        "s AS (SELECT src_ip, MAX(n) AS peak, SUM(n) AS total FROM r GROUP BY src_ip) "
        "SELECT r.src_ip, r.n, s.total, r.ports, r.hosts, span.windows, r.first_seen, "
        "r.last_seen, r.hit FROM r JOIN s ON r.src_ip = s.src_ip AND r.n = s.peak "
        f"CROSS JOIN span WHERE r.n >= {ctx.whole('reject_spike_min')} "
        f"AND r.ports < {ctx.whole('portscan_min_ports')} "
        f"AND r.n >= {ctx.num('reject_spike_ratio')} * (s.total - r.n) / "
        "GREATEST(span.windows - 1, 1) ORDER BY r.src_ip, r.first_seen"
    ]  # fmt: skip


def _spike_findings(
    ctx: Context, results: list[list[tuple[Any, ...]]]
) -> list[tuple[Finding, bool]]:
    out, seen = [], set()
    for src, peak, total, ports, hosts, windows, first, last, hit in results[0]:
        host = ip(src)
        if host in seen:  # two windows with the same peak: the first one
            continue
        seen.add(host)
        baseline = (int(total) - int(peak)) / max(int(windows) - 1, 1)
        out.append((Finding(
            type=REJECTED_SPIKE, severity=5,
            title=f"Rejected traffic from {host} spiked to {peak} flows in one window",
            explanation=(
                f"{host} had {peak} rejected flows to {hosts} address(es) on {ports} port(s) in "
                f"one window, against a baseline of {baseline:,.1f} a window: something on it "
                "started trying what it is not allowed to (malware, a misconfiguration)."
            ),
            evidence=evidence(peer=host, targets=[], target_count=hosts, ports=[], flows=peak,
                              accepted=0, rejected=peak, size=None,
                              baseline_per_window=round(baseline, 1)),
            first_seen=first, last_seen=last,
        ), bool(hit)))  # fmt: skip
    return out


_QUIET = tuple(
    _line("10.0.2.21", "10.0.3.30", 40000 + n, 5432, 500, 1_700_000_000 + n * 600,
          1_700_000_010 + n * 600, action="REJECT") for n in range(12)
)  # fmt: skip
REJECTED_SPIKE_DETECTION = Detection(
    id="rejected-spike",
    type=REJECTED_SPIKE,
    title="Spike in rejected traffic",
    description=(
        "An internal host whose rejected flows in one time window jump far above its own "
        "baseline over the run (a few ports: many ports is a port scan)."
    ),
    tactics=("TA0007",),
    techniques=("T1046",),
    severity=5,
    severity_rises="Always 5 (medium).",
    parameters=("reject_spike_min", "reject_spike_ratio", "reject_window_seconds"),
    sql=_spike_sql,
    findings=_spike_findings,
    cases=(
        Case(
            "400 rejected SMTP attempts in ten minutes",
            (
                *_QUIET,
                *(
                    _line(
                        "10.0.2.21",
                        f"100.{n % 100}.9.{n % 200 + 1}",
                        40000 + n,
                        25,
                        60,
                        1_700_003_000 + n,
                        1_700_003_001 + n,
                        action="REJECT",
                    )
                    for n in range(400)
                ),
            ),
            ((REJECTED_SPIKE, "10.0.2.21"),),
        ),
        Case("a steady trickle of rejects", _QUIET),
    ),
)
