"""ssh-inbound: who connected to TCP port 22 on the targets, and whether it was allowed."""

from __future__ import annotations

from analysis.addresses import sql_in_cidrs, sql_in_ips
from analysis.analyzers.base import register
from analysis.analyzers.grouped import (
    ACTION,
    FIRST_SEEN,
    LAST_SEEN,
    SRCADDR,
    GroupedAnalyzer,
)
from analysis.analyzers.params import AnalysisParams
from analysis.protocols import TCP

SSH_PORT = 22


@register
class SshInboundAnalyzer(GroupedAnalyzer):
    name = "ssh-inbound"
    title = "SSH inbound"
    description = (
        "Sources of TCP connections to port 22 on the target addresses (every destination "
        "when no target is given), by source and action, ranked by flows or bytes."
    )
    required_fields = (
        "srcaddr",
        "dstaddr",
        "dstport",
        "protocol",
        "action",
        "packets",
        "bytes",
        "start",
        "end",
    )
    keys = (SRCADDR, ACTION)
    extras = (FIRST_SEEN, LAST_SEEN)
    order = 20

    def condition(self, params: AnalysisParams) -> str:
        terms = [f"dstport = {SSH_PORT}", f"protocol = {TCP}"]
        if params.has_target:
            terms.append(
                f"({sql_in_ips('dst_ip', params.target_ips)} "
                f"OR {sql_in_cidrs('dst_ip', params.target_cidrs)})"
            )
        return " AND ".join(terms)
