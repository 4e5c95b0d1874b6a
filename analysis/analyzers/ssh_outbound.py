"""ssh-response and ssh-outbound: SSH traffic leaving the targets, as server and as client."""

from __future__ import annotations

from collections.abc import Collection

from analysis.analyzers.base import register
from analysis.analyzers.grouped import (
    ACTION,
    DSTADDR,
    FIRST_SEEN,
    LAST_SEEN,
    GroupedAnalyzer,
)
from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.scope import from_target_or_internal
from analysis.analyzers.ssh_inbound import SSH_FIELDS, SSH_PORT
from analysis.protocols import TCP


@register
class SshResponseAnalyzer(GroupedAnalyzer):
    name = "ssh-response"
    title = "SSH responses"
    description = (
        "TCP traffic from port 22 of the targets (their SSH server answering), by "
        "destination and action: who actually got answers. Without a target, from port 22 of "
        "internal addresses."
    )
    required_fields = SSH_FIELDS
    optional_fields = ("pkt-srcaddr", "interface-id", "flow-direction")
    keys = (DSTADDR, ACTION)
    extras = (FIRST_SEEN, LAST_SEEN)
    order = 22

    def condition(self, params: AnalysisParams, columns: Collection[str] = frozenset()) -> str:
        return " AND ".join(
            [f"srcport = {SSH_PORT}", f"protocol = {TCP}", from_target_or_internal(params, columns)]
        )


@register
class SshOutboundAnalyzer(GroupedAnalyzer):
    name = "ssh-outbound"
    title = "SSH outbound"
    description = (
        "TCP connections from the targets to port 22 elsewhere, by destination and action: "
        "where the targets opened SSH sessions. Without a target, the sessions internal "
        "addresses opened (never those opened to them)."
    )
    required_fields = SSH_FIELDS
    optional_fields = ("pkt-srcaddr", "interface-id", "flow-direction")
    keys = (DSTADDR, ACTION)
    extras = (FIRST_SEEN, LAST_SEEN)
    order = 24

    def condition(self, params: AnalysisParams, columns: Collection[str] = frozenset()) -> str:
        return " AND ".join(
            [f"dstport = {SSH_PORT}", f"protocol = {TCP}", from_target_or_internal(params, columns)]
        )
