"""ssh-inbound: who connected to TCP port 22 on the targets, and whether it was allowed."""

from __future__ import annotations

from collections.abc import Collection

from analysis.analyzers.base import register
from analysis.analyzers.grouped import (
    ACTION,
    FIRST_SEEN,
    LAST_SEEN,
    SRCADDR,
    GroupedAnalyzer,
    OutputColumn,
    plain_int,
)
from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.scope import to_target
from analysis.protocols import TCP

SSH_PORT = 22
SYN = 2

# With tcp-flags in the logs: a flow whose only flag is SYN never completed a handshake.
ATTEMPTS = OutputColumn(
    "attempts", f"SUM(CASE WHEN tcp_flags = {SYN} THEN 1 ELSE 0 END)", plain_int
)
ESTABLISHED = OutputColumn(
    "established",
    f"SUM(CASE WHEN tcp_flags IS NOT NULL AND tcp_flags <> {SYN} THEN 1 ELSE 0 END)",
    plain_int,
)
SSH_FIELDS = (
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "action",
    "packets",
    "bytes",
    "start",
    "end",
)


@register
class SshInboundAnalyzer(GroupedAnalyzer):
    name = "ssh-inbound"
    title = "SSH inbound"
    description = (
        "Sources of TCP connections to port 22 on the target addresses (every destination "
        "when no target is given), by source and action, ranked by flows or bytes; with "
        "tcp-flags, SYN-only attempts apart from established connections."
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
    optional_fields = ("tcp-flags", "pkt-dstaddr", "interface-id", "flow-direction")
    keys = (SRCADDR, ACTION)
    extras = (FIRST_SEEN, LAST_SEEN)
    order = 20

    def condition(self, params: AnalysisParams, columns: Collection[str] = frozenset()) -> str:
        return " AND ".join(
            [f"dstport = {SSH_PORT}", f"protocol = {TCP}", to_target(params, columns)]
        )

    def extra_columns(
        self, params: AnalysisParams, columns: Collection[str]
    ) -> tuple[OutputColumn, ...]:
        if "tcp_flags" in columns:
            return (*self.extras, ATTEMPTS, ESTABLISHED)
        return self.extras
