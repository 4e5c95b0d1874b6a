"""tag-mapping: flows counted by the tag a lookup table gives their (dstport, protocol)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import duckdb

from analysis.analyzers.base import Analyzer, FetchRows, duckdb_rows, register
from analysis.analyzers.grouped import plain_int
from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.reftables import load_lookup_table, lookup_inline_reason, lookup_values
from analysis.analyzers.result import AnalysisResult, ResultTable
from analysis.protocols import protocol_name

UNTAGGED = "Untagged"
PORT_PROTOCOL_TABLE = "port_protocol"


@register
class TagMappingAnalyzer(Analyzer):
    name = "tag-mapping"
    title = "Tag mapping"
    description = (
        "Every flow tagged through the lookup table by destination port and protocol: flows, "
        "packets and bytes per tag (most flows first, Untagged last), and the same per "
        "destination port and protocol."
    )
    required_fields = ("dstport", "protocol")
    needs = "a lookup table"
    order = 62
    local_only = ""

    def local_only_for(self, params: AnalysisParams) -> str | None:
        return lookup_inline_reason(params.lookup_table)

    def missing_input(self, params: AnalysisParams) -> str | None:
        return None if params.lookup_table else "needs a lookup table"

    def tags_sql(self, lookup: str, top_n: int) -> str:
        # The untagged group is the NULL tag, so a real tag called "Untagged" stays apart.
        return (
            "SELECT tag, flows, packets, bytes, COUNT(*) OVER () AS total_groups,\n"
            "       SUM(flows) OVER () AS total, SUM(packets) OVER () AS total_packets,\n"
            "       SUM(bytes) OVER () AS total_bytes,\n"
            "       SUM(CASE WHEN tag IS NULL THEN flows ELSE 0 END) OVER () AS untagged\n"
            "FROM (\n"
            "    SELECT l.tag AS tag, COUNT(*) AS flows, COALESCE(SUM(f.packets), 0) AS packets,\n"
            "           COALESCE(SUM(f.bytes), 0) AS bytes\n"
            f"    FROM flows AS f LEFT JOIN {lookup} AS l\n"
            "        ON f.dstport = l.dstport AND f.protocol = l.protocol\n"
            "    GROUP BY l.tag\n"
            ") AS tagged\n"
            "ORDER BY CASE WHEN tag IS NULL THEN 1 ELSE 0 END, flows DESC, tag ASC\n"
            f"LIMIT {int(top_n)}"
        )

    def port_protocol_sql(self, top_n: int) -> str:
        return (
            "SELECT dstport, protocol, flows, packets, bytes, COUNT(*) OVER () AS total_groups\n"
            "FROM (\n"
            "    SELECT dstport, protocol, COUNT(*) AS flows,\n"
            "           COALESCE(SUM(packets), 0) AS packets, COALESCE(SUM(bytes), 0) AS bytes\n"
            "    FROM flows\n"
            "    GROUP BY dstport, protocol\n"
            ") AS pairs\n"
            "ORDER BY dstport ASC NULLS LAST, protocol ASC NULLS LAST\n"
            f"LIMIT {int(top_n)}"
        )

    def analyze(
        self, connection: duckdb.DuckDBPyConnection, params: AnalysisParams
    ) -> AnalysisResult:
        # Locally the lookup table is a temp table (quick to load however large it is).
        lookup = load_lookup_table(connection, params.lookup_table)
        return self.tag_result(duckdb_rows(connection), params, lookup)

    def analyze_rows(
        self, fetch: FetchRows, params: AnalysisParams, columns: Collection[str]
    ) -> AnalysisResult:
        reason = lookup_inline_reason(params.lookup_table)
        if reason is not None:
            raise ValueError(f"analysis {self.name!r} runs only locally: {reason}")
        return self.tag_result(fetch, params, lookup_values(params.lookup_table))

    def tag_result(self, fetch: FetchRows, params: AnalysisParams, lookup: str) -> AnalysisResult:
        """The analysis with the lookup table as relation `lookup` (a table or VALUES)."""
        fetched = fetch(self.tags_sql(lookup, params.top_n))
        rows: list[dict[str, Any]] = [
            {
                "tag": UNTAGGED if tag is None else str(tag),
                "count": int(count),
                "packets": int(packets),
                "bytes": int(size),
            }
            for tag, count, packets, size, *_ in fetched
        ]
        total_groups, total, total_packets, total_bytes, untagged = (
            (int(value) for value in fetched[0][4:9]) if fetched else (0, 0, 0, 0, 0)
        )

        pairs = fetch(self.port_protocol_sql(params.top_n))
        pair_rows = [
            {
                "dstport": plain_int(port),
                "protocol": protocol_name(protocol),
                "count": int(count),
                "packets": int(packets),
                "bytes": int(size),
            }
            for port, protocol, count, packets, size, _ in pairs
        ]
        pair_groups = int(pairs[0][5]) if pairs else 0
        return AnalysisResult(
            name=self.name,
            title=self.title,
            columns=["tag", "count", "packets", "bytes"],
            rows=rows,
            total_groups=total_groups,
            truncated=total_groups > len(rows),
            summary={
                "flows": total,
                "packets": total_packets,
                "bytes": total_bytes,
                "groups": total_groups,
                "untagged": untagged,
                "lookup_entries": len(params.lookup_table),
                "top_n": params.top_n,
            },
            tables=[
                ResultTable(
                    name=PORT_PROTOCOL_TABLE,
                    title="Flows, packets and bytes per destination port and protocol",
                    columns=["dstport", "protocol", "count", "packets", "bytes"],
                    rows=pair_rows,
                    total_groups=pair_groups,
                    truncated=pair_groups > len(pair_rows),
                )
            ],
        )
