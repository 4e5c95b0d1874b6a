"""external-inbound, external-outbound, external-summary, top-external: traffic with outsiders.

External means outside every internal range (vpc_cidrs plus extra_internal_cidrs, or the
private ranges when the run gives none). Without a target, the internal ranges are the target.
Where the logs have pkt-srcaddr/pkt-dstaddr, the far end is judged on the packet's address (a
NAT gateway's interface logs itself as dstaddr for an instance's traffic to the internet), and
the results show both: the logged address and the packet's (`pkt_srcaddr`/`pkt_dstaddr`).
"""

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
    GroupedAnalyzer,
    OutputColumn,
    address_text,
)
from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.scope import (
    from_target_or_internal,
    is_external_packet,
    scope_summary,
    to_target_or_internal,
)

PKT_SRC_SERVICE = OutputColumn("pkt_src_aws_service", "pkt_src_aws_service")
PKT_DST_SERVICE = OutputColumn("pkt_dst_aws_service", "pkt_dst_aws_service")
PKT_SRCADDR = OutputColumn("pkt_srcaddr", "pkt_src_ip", address_text)
PKT_DSTADDR = OutputColumn("pkt_dstaddr", "pkt_dst_ip", address_text)
FLOW_FIELDS = ("srcaddr", "dstaddr", "action", "packets", "bytes", "start", "end")
TARGET_FIELDS = ("pkt-srcaddr", "pkt-dstaddr", "interface-id", "flow-direction")


def inbound(params: AnalysisParams, columns: Collection[str]) -> str:
    """SQL: from an external source to the target."""
    external = is_external_packet("src", params, columns)
    return f"({to_target_or_internal(params, columns)} AND {external})"


def outbound(params: AnalysisParams, columns: Collection[str]) -> str:
    """SQL: from the target to an external destination."""
    external = is_external_packet("dst", params, columns)
    return f"({from_target_or_internal(params, columns)} AND {external})"


def with_packet_addresses(
    keys: tuple[OutputColumn, ...], columns: Collection[str]
) -> tuple[OutputColumn, ...]:
    """`keys` with the packet's address after each logged one, where the logs have it."""
    out: list[OutputColumn] = []
    for key in keys:
        out.append(key)
        if key is SRCADDR and "pkt_src_ip" in columns:
            out.append(PKT_SRCADDR)
        elif key is DSTADDR and "pkt_dst_ip" in columns:
            out.append(PKT_DSTADDR)
    return tuple(out)


def direction(params: AnalysisParams, columns: Collection[str]) -> OutputColumn:
    return OutputColumn(
        "direction",
        f"CASE WHEN {inbound(params, columns)} THEN 'inbound' ELSE 'outbound' END",
    )


class ExternalAnalyzer(GroupedAnalyzer):
    """Shared scope summary for the analyses of traffic with external addresses."""

    def summarize(self, params: AnalysisParams, columns: Collection[str]) -> dict[str, Any]:
        return scope_summary(params)


@register
class ExternalInboundAnalyzer(ExternalAnalyzer):
    name = "external-inbound"
    title = "External inbound"
    description = (
        "Traffic from external addresses to the targets, by source and action (and the AWS "
        "service of the packet source when the logs say)."
    )
    required_fields = FLOW_FIELDS
    optional_fields = ("pkt-src-aws-service", *TARGET_FIELDS)
    keys = (SRCADDR, ACTION)
    extras = (FIRST_SEEN, LAST_SEEN)
    order = 30

    def condition(self, params: AnalysisParams, columns: Collection[str] = frozenset()) -> str:
        return inbound(params, columns)

    def group_keys(
        self, params: AnalysisParams, columns: Collection[str]
    ) -> tuple[OutputColumn, ...]:
        keys = with_packet_addresses(self.keys, columns)
        if "pkt_src_aws_service" in columns:
            return (*keys, PKT_SRC_SERVICE)
        return keys


@register
class ExternalOutboundAnalyzer(ExternalAnalyzer):
    name = "external-outbound"
    title = "External outbound"
    description = (
        "Traffic from the targets to external addresses, by destination, port and action "
        "(and the AWS service of the packet destination when the logs say)."
    )
    required_fields = (*FLOW_FIELDS, "dstport")
    optional_fields = ("pkt-dst-aws-service", *TARGET_FIELDS)
    keys = (DSTADDR, DSTPORT, ACTION)
    extras = (FIRST_SEEN, LAST_SEEN)
    order = 32

    def condition(self, params: AnalysisParams, columns: Collection[str] = frozenset()) -> str:
        return outbound(params, columns)

    def group_keys(
        self, params: AnalysisParams, columns: Collection[str]
    ) -> tuple[OutputColumn, ...]:
        keys = with_packet_addresses(self.keys, columns)
        if "pkt_dst_aws_service" in columns:
            return (*keys, PKT_DST_SERVICE)
        return keys


@register
class ExternalSummaryAnalyzer(ExternalAnalyzer):
    name = "external-summary"
    title = "External summary"
    description = "Traffic between the targets and external addresses, by direction and action."
    required_fields = FLOW_FIELDS
    optional_fields = TARGET_FIELDS
    keys = (ACTION,)
    order = 34

    def condition(self, params: AnalysisParams, columns: Collection[str] = frozenset()) -> str:
        return f"({inbound(params, columns)} OR {outbound(params, columns)})"

    def group_keys(
        self, params: AnalysisParams, columns: Collection[str]
    ) -> tuple[OutputColumn, ...]:
        return (direction(params, columns), ACTION)


@register
class TopExternalAnalyzer(ExternalAnalyzer):
    name = "top-external"
    title = "Top external conversations"
    description = (
        "The largest conversations between the targets and external addresses, by source, "
        "destination, destination port and action, ranked by bytes."
    )
    required_fields = (*FLOW_FIELDS, "dstport")
    optional_fields = TARGET_FIELDS
    rank = "bytes"
    order = 36

    def condition(self, params: AnalysisParams, columns: Collection[str] = frozenset()) -> str:
        return f"({inbound(params, columns)} OR {outbound(params, columns)})"

    def group_keys(
        self, params: AnalysisParams, columns: Collection[str]
    ) -> tuple[OutputColumn, ...]:
        keys = (SRCADDR, DSTADDR, DSTPORT, ACTION)
        return (direction(params, columns), *with_packet_addresses(keys, columns))
