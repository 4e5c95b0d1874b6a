"""rejected: flows the security groups or network ACLs refused, and who sent them."""

from __future__ import annotations

from collections.abc import Collection

from analysis.analyzers.base import FetchRows, register
from analysis.analyzers.grouped import (
    DSTADDR,
    DSTPORT,
    FIRST_SEEN,
    LAST_SEEN,
    PROTOCOL,
    SRCADDR,
    GroupedAnalyzer,
    OutputColumn,
    plain_int,
    run_grouped,
)
from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.result import AnalysisResult, ResultTable
from analysis.analyzers.scope import from_target, to_target

SOURCES_TABLE = "sources"
PER_SOURCE = (
    OutputColumn("distinct_ports", "COUNT(DISTINCT dstport)", plain_int),
    OutputColumn("distinct_hosts", "COUNT(DISTINCT dst_ip)", plain_int),
    FIRST_SEEN,
    LAST_SEEN,
)


@register
class RejectedAnalyzer(GroupedAnalyzer):
    name = "rejected"
    title = "Rejected traffic"
    description = (
        "Rejected flows (to or from the targets when given) by source, destination, "
        "destination port and protocol; a second table per source counts the distinct ports "
        "and hosts it tried."
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
    optional_fields = ("pkt-srcaddr", "pkt-dstaddr", "interface-id", "flow-direction")
    keys = (SRCADDR, DSTADDR, DSTPORT, PROTOCOL)
    order = 50

    def condition(self, params: AnalysisParams, columns: Collection[str] = frozenset()) -> str:
        terms = ["action = 'REJECT'"]
        if params.has_target:
            terms.append(f"({to_target(params, columns)} OR {from_target(params, columns)})")
        return " AND ".join(terms)

    def analyze_rows(
        self, fetch: FetchRows, params: AnalysisParams, columns: Collection[str]
    ) -> AnalysisResult:
        result = super().analyze_rows(fetch, params, columns)
        sources = run_grouped(
            fetch,
            keys=(SRCADDR,),
            extras=PER_SOURCE,
            condition=self.condition(params, columns),
            rank=params.rank_by,
            limit=params.top_n,
        )
        result.tables.append(
            ResultTable(
                name=SOURCES_TABLE,
                title="Rejected traffic per source",
                columns=sources.columns,
                rows=sources.rows,
                total_groups=sources.total_groups,
                truncated=sources.truncated,
            )
        )
        return result
