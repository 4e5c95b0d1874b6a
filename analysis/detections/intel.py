"""Threat-intel matches: traffic with addresses on an indicator list."""

from __future__ import annotations

from typing import Any

from analysis.addresses import cidr_bounds
from analysis.detections.base import (
    Case,
    Context,
    Detection,
    evidence,
    grouped,
    ip,
    listed_sql,
)
from analysis.findings import THREAT_INTEL_MATCH, Finding
from analysis.lineparse import sql_string

INDICATOR_COLUMNS = ("cidr", "label", "lo_ip", "hi_ip")


def indicator_values(indicators: list[tuple[str, str, float | None, str]]) -> str:
    """The indicator list as an inline VALUES relation (cidr, label, lo_ip, hi_ip)."""
    rows = []
    for cidr, label, _confidence, source in indicators:
        lo, hi = cidr_bounds(cidr)
        text = f"{label} ({source})" if source else label
        rows.append(
            f"({sql_string(cidr)}, {sql_string(text)}, CAST('{lo}' AS UHUGEINT), "
            f"CAST('{hi}' AS UHUGEINT))"
        )
    return f"(SELECT * FROM (VALUES {', '.join(rows)}) AS ref({', '.join(INDICATOR_COLUMNS)}))"


def _sql(ctx: Context) -> list[str]:
    hit = f"CASE WHEN {ctx.touches_target if ctx.params.has_target else 'TRUE'} THEN 1 ELSE 0 END"
    both = f"{ctx.internal('f.src_ip')} AND {ctx.internal('f.dst_ip')}"
    return [
        f"WITH ind AS {indicator_values(ctx.params.indicators)}, "
        "m AS (SELECT CASE WHEN f.src_ip BETWEEN ind.lo_ip AND ind.hi_ip THEN f.src_ip "
        "ELSE f.dst_ip END AS listed_ip, CASE WHEN f.src_ip BETWEEN ind.lo_ip AND ind.hi_ip "
        "THEN f.dst_ip ELSE f.src_ip END AS ours, ind.label, f.action, f.bytes, f.start_ts, "
        f"f.end_ts, {hit} AS hit, CASE WHEN f.action = 'ACCEPT' AND {ctx.initiated()} "
        "THEN 1 ELSE 0 END AS opened, "
        "CASE WHEN f.src_ip BETWEEN ind.lo_ip AND ind.hi_ip THEN 1 ELSE 0 END AS inbound "
        f"FROM {ctx.flows_as('f')} JOIN ind ON (f.src_ip BETWEEN ind.lo_ip AND ind.hi_ip "
        f"OR f.dst_ip BETWEEN ind.lo_ip AND ind.hi_ip) WHERE NOT ({both})), "
        "g AS (SELECT listed_ip, MIN(label) AS label, COUNT(DISTINCT ours) AS hosts, "
        "COUNT(*) AS flows, SUM(CASE WHEN action = 'ACCEPT' THEN 1 ELSE 0 END) AS accepted, "
        "SUM(CASE WHEN action = 'REJECT' THEN 1 ELSE 0 END) AS rejected, SUM(bytes) AS bytes, "
        "MAX(opened) AS opened, MIN(inbound) AS only_inbound, MIN(start_ts) AS first_seen, "
        "MAX(end_ts) AS last_seen, MAX(hit) AS touched FROM m GROUP BY listed_ip), "
        + listed_sql("m", "g", ["listed_ip"], "ours")
    ]


def _findings(ctx: Context, results: list[list[tuple[Any, ...]]]) -> list[tuple[Finding, bool]]:
    out = []
    for key, hosts in grouped(results[0]).items():
        listed, label, count, flows, acc, rej, size, opened, inbound, first, last, touched = key
        peer = ip(listed)
        contact = bool(opened)
        way = "from" if inbound else "to"
        out.append((Finding(
            type=THREAT_INTEL_MATCH, severity=8 if contact else 3,
            title=f"Traffic {way} listed address {peer} ({label})",
            explanation=(
                f"{peer} is on an indicator list ({label}); {flows} flows with {count} of our "
                f"addresses ({acc} accepted, {rej} rejected)"
                + ("; a connection was opened and accepted." if contact
                   else "; nothing it tried got in.")
            ),
            evidence=evidence(peer=peer, targets=hosts, target_count=count, ports=[],
                              flows=flows, accepted=acc, rejected=rej, size=size or 0,
                              indicator=label),
            first_seen=first, last_seen=last,
        ), bool(touched)))  # fmt: skip
    return out


_LISTED = {"indicators": [["194.165.16.0/24", "c2 list", None, "test"]]}
THREAT_INTEL_DETECTION = Detection(
    id="threat-intel",
    type=THREAT_INTEL_MATCH,
    title="Threat-intel match",
    description=(
        "Traffic between our addresses and an address on an indicator list (CSV, plain lists "
        "such as Tor exits, STIX 2.1 bundles, MISP exports). An internal host opening a "
        "connection to a listed address, or a listed address getting a connection accepted, "
        "is high; refused probes from a listed address are low. Runs only with a list."
    ),
    tactics=("TA0011",),
    techniques=("T1071",),
    severity=3,
    severity_rises="3 when nothing was accepted; 8 when a connection was opened and accepted.",
    parameters=(),
    sql=_sql,
    findings=_findings,
    needs=lambda params: None if params.indicators else "needs an indicator list",
    cases=(
        Case(
            "an internal host reaching a listed address",
            (
                "2 1 eni-1 10.0.2.17 194.165.16.11 44000 443 6 40 6000 1700000000 1700000030 "
                "ACCEPT OK",
            ),
            ((THREAT_INTEL_MATCH, "194.165.16.11"),),
            _LISTED,
        ),
        Case(
            "no traffic with listed addresses",
            (
                "2 1 eni-1 10.0.2.17 194.166.16.11 44000 443 6 40 6000 1700000000 1700000030 "
                "ACCEPT OK",
            ),
            (),
            _LISTED,
        ),
    ),
)
