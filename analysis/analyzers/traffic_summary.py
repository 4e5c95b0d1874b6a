"""traffic-summary: every loaded flow record, counted by protocol and action."""

from __future__ import annotations

from analysis.analyzers.base import register
from analysis.analyzers.grouped import ACTION, PROTOCOL, GroupedAnalyzer


@register
class TrafficSummaryAnalyzer(GroupedAnalyzer):
    name = "traffic-summary"
    title = "Traffic summary"
    description = (
        "All loaded flow records grouped by protocol and action, with flow, packet and byte "
        "counts: a first look at what the logs contain."
    )
    required_fields = ("protocol", "action", "packets", "bytes")
    keys = (PROTOCOL, ACTION)
    order = 10
