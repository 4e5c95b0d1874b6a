"""top-talkers: the addresses that sent plus received the most bytes."""

from __future__ import annotations

from collections.abc import Collection

from analysis.analyzers.base import FetchRows, register
from analysis.analyzers.grouped import (
    FIRST_SEEN,
    LAST_SEEN,
    GroupedAnalyzer,
    OutputColumn,
    address_text,
    plain_int,
)
from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.result import AnalysisResult


@register
class TopTalkersAnalyzer(GroupedAnalyzer):
    name = "top-talkers"
    title = "Top talkers"
    description = (
        "Addresses ranked by bytes sent plus received, with both parts and the flows they "
        "took part in."
    )
    required_fields = ("srcaddr", "dstaddr", "packets", "bytes", "start", "end")
    keys = (OutputColumn("ip", "ip", address_text),)
    extras = (
        OutputColumn("bytes_sent", "COALESCE(SUM(sent), 0)", plain_int),
        OutputColumn("bytes_received", "COALESCE(SUM(received), 0)", plain_int),
        FIRST_SEEN,
        LAST_SEEN,
    )
    rank = "bytes"
    order = 70

    def source(self, params: AnalysisParams, columns: Collection[str]) -> str:
        picked = "packets, bytes, start_ts, end_ts"
        return (
            f"(SELECT src_ip AS ip, bytes AS sent, 0 AS received, {picked} FROM flows "
            f"UNION ALL "
            f"SELECT dst_ip AS ip, 0 AS sent, bytes AS received, {picked} FROM flows) AS ends"
        )

    def condition(self, params: AnalysisParams, columns: Collection[str] = frozenset()) -> str:
        return "ip IS NOT NULL"

    def analyze_rows(
        self, fetch: FetchRows, params: AnalysisParams, columns: Collection[str]
    ) -> AnalysisResult:
        result = super().analyze_rows(fetch, params, columns)
        # Each flow has two ends: the grouped totals count it twice, the summary once.
        for row in fetch(
            "SELECT COUNT(*), COALESCE(SUM(packets), 0), COALESCE(SUM(bytes), 0) FROM flows"
        ):
            result.summary.update(flows=int(row[0]), packets=int(row[1]), bytes=int(row[2]))
        return result
