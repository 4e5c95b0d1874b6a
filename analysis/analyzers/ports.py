"""port-specific, sensitive-ports, top-destinations: traffic selected by port."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from analysis.analyzers.base import register
from analysis.analyzers.grouped import (
    ACTION,
    DSTADDR,
    DSTPORT,
    FIRST_SEEN,
    LAST_SEEN,
    SRCADDR,
    SRCPORT,
    GroupedAnalyzer,
    OutputColumn,
    address_text,
    plain_int,
)
from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.scope import (
    from_target,
    is_external_packet,
    is_internal,
    packet_address,
    scope_summary,
    to_target,
    to_target_or_internal,
)
from analysis.lineparse import sql_string

PORT_FIELDS = (
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "action",
    "packets",
    "bytes",
    "start",
    "end",
)
TARGET_FIELDS = ("pkt-srcaddr", "pkt-dstaddr", "interface-id", "flow-direction")


class PortAnalyzer(GroupedAnalyzer):
    """An analysis of the run's `port`: it does not apply without one."""

    needs = "a port"

    def missing_input(self, params: AnalysisParams) -> str | None:
        return "needs a port" if params.port is None else None


@register
class PortSpecificAnalyzer(PortAnalyzer):
    name = "port-specific"
    title = "Port"
    description = (
        "Every flow with the chosen port as source or destination port (to or from the "
        "targets when given), by addresses, ports and action."
    )
    required_fields = PORT_FIELDS
    optional_fields = TARGET_FIELDS
    keys = (SRCADDR, DSTADDR, SRCPORT, DSTPORT, ACTION)
    extras = (FIRST_SEEN, LAST_SEEN)
    order = 40

    def condition(self, params: AnalysisParams, columns: Collection[str] = frozenset()) -> str:
        port = int(params.port or 0)
        terms = [f"(srcport = {port} OR dstport = {port})"]
        if params.has_target:
            terms.append(f"({to_target(params, columns)} OR {from_target(params, columns)})")
        return " AND ".join(terms)


@register
class TopDestinationsAnalyzer(PortAnalyzer):
    name = "top-destinations"
    title = "Top destinations"
    description = (
        "Destination addresses of the chosen port, ranked by packets, with the number of "
        "distinct sources."
    )
    required_fields = PORT_FIELDS
    keys = (DSTADDR,)
    extras = (
        OutputColumn("sources", "COUNT(DISTINCT src_ip)", plain_int),
        FIRST_SEEN,
        LAST_SEEN,
    )
    rank = "packets"
    order = 42

    def condition(self, params: AnalysisParams, columns: Collection[str] = frozenset()) -> str:
        return f"dstport = {int(params.port or 0)}"


def _packet_columns(columns: Collection[str]) -> bool:
    return "pkt_src_ip" in columns or "pkt_dst_ip" in columns


def _service_sql(ports: dict[int, str]) -> str:
    cases = " ".join(
        f"WHEN {port} THEN {sql_string(name)}" for port, name in sorted(ports.items()) if name
    )
    return f"CASE port {cases} ELSE '' END" if cases else "''"


@register
class SensitivePortsAnalyzer(GroupedAnalyzer):
    name = "sensitive-ports"
    title = "Sensitive ports"
    description = (
        "Traffic to the sensitive_ports list (SSH, RDP, SMB, databases...): inbound to the "
        "targets by source, and outbound from the targets by destination port, with action."
    )
    required_fields = PORT_FIELDS
    optional_fields = TARGET_FIELDS
    extras = (FIRST_SEEN, LAST_SEEN)
    order = 44

    def group_keys(
        self, params: AnalysisParams, columns: Collection[str]
    ) -> tuple[OutputColumn, ...]:
        logged = (
            (OutputColumn("logged_peer", "logged_peer", address_text),)
            if _packet_columns(columns)
            else ()
        )
        return (
            OutputColumn("direction", "direction"),
            OutputColumn("port", "port", plain_int),
            OutputColumn("service", _service_sql(params.sensitive_ports)),
            OutputColumn("peer", "peer", address_text),
            *logged,
            ACTION,
        )

    def source(self, params: AnalysisParams, columns: Collection[str]) -> str:
        """Inbound by source, outbound by destination. The peer is the packet's address where
        the logs carry pkt-srcaddr/pkt-dstaddr (`logged_peer` keeps the logged one), and leaving
        the internal ranges is judged on it: a NAT gateway's interface logs an instance's
        traffic to the internet with its own address as dstaddr."""
        ports = ", ".join(str(port) for port in sorted(params.sensitive_ports))
        external_dst = is_external_packet("dst", params, columns)
        # Without a target, outbound means leaving the internal ranges, so an internal
        # connection is counted once (as inbound to its internal destination).
        outbound = (
            from_target(params, columns)
            if params.has_target
            else f"({is_internal('src_ip', params)} AND {external_dst})"
        )
        inbound = to_target_or_internal(params, columns)
        if not params.has_target and "pkt_dst_ip" in columns:
            inbound = f"({inbound} AND NOT {external_dst})"
        picked = "action, packets, bytes, start_ts, end_ts"
        logged = ("src_ip AS logged_peer, ", "dst_ip AS logged_peer, ")
        if not _packet_columns(columns):
            logged = ("", "")
        return (
            f"(SELECT 'inbound' AS direction, dstport AS port, "
            f"{packet_address('src', columns)} AS peer, {logged[0]}{picked} "
            f"FROM flows WHERE dstport IN ({ports}) AND {inbound} "
            f"UNION ALL "
            f"SELECT 'outbound' AS direction, dstport AS port, "
            f"{packet_address('dst', columns)} AS peer, {logged[1]}{picked} "
            f"FROM flows WHERE dstport IN ({ports}) AND {outbound}) AS sensitive"
        )

    def summarize(self, params: AnalysisParams, columns: Collection[str]) -> dict[str, Any]:
        return {
            **scope_summary(params),
            "sensitive_ports": {str(port): name for port, name in params.sensitive_ports.items()},
        }
