"""SQL conditions shared by analyzers: which records touch the target, and what is internal."""

from __future__ import annotations

from collections.abc import Collection

import duckdb

from analysis.addresses import sql_in_cidrs, sql_in_ips
from analysis.analyzers.params import AnalysisParams
from analysis.lineparse import sql_string

# Used as "internal" when a run names no VPC ranges: private and unique-local space.
PRIVATE_CIDRS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")

Columns = Collection[str]


def internal_cidrs(params: AnalysisParams) -> list[str]:
    """The run's internal ranges, or the private ranges when it gives none."""
    return params.internal_cidrs or list(PRIVATE_CIDRS)


def assumed_internal(params: AnalysisParams) -> bool:
    """True when the run gave no internal ranges and PRIVATE_CIDRS stands in for them."""
    return not params.internal_cidrs


def is_internal(column: str, params: AnalysisParams) -> str:
    """SQL: the integer address `column` is inside an internal range."""
    return sql_in_cidrs(column, internal_cidrs(params))


def is_external(column: str, params: AnalysisParams) -> str:
    """SQL: the integer address `column` is known and outside every internal range."""
    return f"({column} IS NOT NULL AND NOT {is_internal(column, params)})"


def is_external_packet(side: str, params: AnalysisParams, columns: Columns) -> str:
    """SQL: the record's `side` ("src" or "dst") is external, judged on the address the packet
    carried: pkt-srcaddr/pkt-dstaddr when the logs have it (a NAT gateway's interface, or an
    EKS node's for its pods, logs its own address as srcaddr/dstaddr and the far end only
    there), else srcaddr/dstaddr. Written without COALESCE so that Athena can run it."""
    logged = is_external(f"{side}_ip", params)
    packet = f"pkt_{side}_ip"
    if packet not in columns:
        return logged
    return (
        f"(({packet} IS NOT NULL AND {is_external(packet, params)}) "
        f"OR ({packet} IS NULL AND {logged}))"
    )


def packet_address(side: str, columns: Columns) -> str:
    """SQL: the address the packet carried on `side` ("src" or "dst"): pkt-srcaddr/pkt-dstaddr
    where the logs have it, else (and where it is missing) srcaddr/dstaddr. A CASE, not
    COALESCE, so that Athena can run it."""
    logged, packet = f"{side}_ip", f"pkt_{side}_ip"
    if packet not in columns:
        return logged
    return f"CASE WHEN {packet} IS NULL THEN {logged} ELSE {packet} END"


def _address_match(column: str, params: AnalysisParams) -> list[str]:
    terms = []
    if params.target_ips:
        terms.append(sql_in_ips(column, params.target_ips))
    if params.target_cidrs:
        terms.append(sql_in_cidrs(column, params.target_cidrs))
    return terms


def at_target(side: str, params: AnalysisParams, columns: Columns, *, default: str = "TRUE") -> str:
    """SQL: the record's `side` ("src" or "dst") is the target.

    An address matches through srcaddr/dstaddr or, when the logs carry them (and the loader
    gives them as pkt_src_ip/pkt_dst_ip integers), pkt-srcaddr/pkt-dstaddr. A record captured
    on a target interface matches too; with flow-direction in the logs only in its direction
    (ingress is "to", egress is "from"). Without any target the condition is `default`.
    """
    if not params.has_target:
        return default
    terms = _address_match(f"{side}_ip", params)
    if f"pkt_{side}_ip" in columns:
        terms += _address_match(f"pkt_{side}_ip", params)
    if f"logged_{side}_ip" in columns:  # a relation whose {side}_ip is the packet's address
        terms += _address_match(f"logged_{side}_ip", params)
    if params.target_interfaces:
        interfaces = ", ".join(sql_string(name) for name in params.target_interfaces)
        term = f"interface_id IN ({interfaces})"
        if "flow_direction" in columns:
            direction = "ingress" if side == "dst" else "egress"
            term = f"({term} AND COALESCE(flow_direction, '{direction}') = '{direction}')"
        terms.append(term)
    return "(" + " OR ".join(terms) + ")"


def to_target(params: AnalysisParams, columns: Columns) -> str:
    """SQL: records whose destination is the target (every record without a target)."""
    return at_target("dst", params, columns)


def from_target(params: AnalysisParams, columns: Columns) -> str:
    """SQL: records whose source is the target (every record without a target)."""
    return at_target("src", params, columns)


def to_target_or_internal(params: AnalysisParams, columns: Columns) -> str:
    """Like to_target, but without a target the destination must be internal.

    For analyses that show both directions side by side, so a record is not counted twice.
    """
    return at_target("dst", params, columns, default=is_internal("dst_ip", params))


def from_target_or_internal(params: AnalysisParams, columns: Columns) -> str:
    return at_target("src", params, columns, default=is_internal("src_ip", params))


def scope_summary(params: AnalysisParams) -> dict[str, object]:
    """What a result's summary says about target and internal ranges."""
    return {
        "target": {
            "ips": list(params.target_ips),
            "cidrs": list(params.target_cidrs),
            "interfaces": list(params.target_interfaces),
        }
        if params.has_target
        else None,
        "internal_cidrs": internal_cidrs(params),
        "internal_assumed": assumed_internal(params),
    }


def ensure_packet_addresses(connection: duckdb.DuckDBPyConnection, columns: Columns) -> set[str]:
    """Give `flows` integer pkt_src_ip/pkt_dst_ip columns when it has pkt-srcaddr/pkt-dstaddr.

    The loader derives them as it loads; a table loaded before it did (an older cache entry)
    gets them here, with the loader's own address macro, for rows that lack them
    (idempotent, and a no-op once the loader fills them). Returns the columns now present.
    """
    present = set(columns)
    for side in ("src", "dst"):
        text, number = f"pkt_{side}addr", f"pkt_{side}_ip"
        if text not in present:
            continue
        try:
            if number not in present:
                connection.execute(f"ALTER TABLE flows ADD COLUMN {number} UHUGEINT")
                present.add(number)
            connection.execute(
                f"UPDATE flows SET {number} = flowlog_ip_int({text}) "
                f"WHERE {number} IS NULL AND {text} IS NOT NULL"
            )
        except duckdb.CatalogException:
            # A bare connection without the loader's macros: match on srcaddr/dstaddr only.
            present.discard(number)
    return present
