"""cidr-connections: peers of the targets that fall in an uploaded CIDR table (longest prefix)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import duckdb

from analysis.analyzers.base import FetchRows, duckdb_rows, register
from analysis.analyzers.grouped import (
    ACTION,
    FIRST_SEEN,
    LAST_SEEN,
    GroupedAnalyzer,
    OutputColumn,
    address_text,
)
from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.reftables import (
    best_match_sql,
    cidr_inline_reason,
    cidr_values,
    load_cidr_tables,
)
from analysis.analyzers.result import AnalysisResult
from analysis.analyzers.scope import from_target, to_target

KEYS = (
    OutputColumn("table", "table_name"),
    OutputColumn("label", "label"),
    OutputColumn("cidr", "cidr"),
    OutputColumn("ip", "ip", address_text),
    ACTION,
)


def peers_sql(params: AnalysisParams, columns: Collection[str]) -> str:
    """Relation (ip, action, packets, bytes, start_ts, end_ts): the far side of each flow.

    For flows to the target the peer is the source, for flows from it the destination; with
    no target both addresses of every flow are peers.
    """
    picked = "action, packets, bytes, start_ts, end_ts"
    return (
        f"(SELECT src_ip AS ip, {picked} FROM flows WHERE {to_target(params, columns)} "
        f"UNION ALL "
        f"SELECT dst_ip AS ip, {picked} FROM flows WHERE {from_target(params, columns)})"
    )


@register
class CidrConnectionsAnalyzer(GroupedAnalyzer):
    name = "cidr-connections"
    title = "Connections to listed networks"
    description = (
        "Peers of the targets inside an uploaded CIDR table (cloud ranges, geofeeds, your "
        "own lists), by table, label, matching prefix (longest wins), address and action."
    )
    required_fields = ("srcaddr", "dstaddr", "action", "packets", "bytes", "start", "end")
    optional_fields = ("pkt-srcaddr", "pkt-dstaddr", "interface-id", "flow-direction")
    needs = "a CIDR table"
    keys = KEYS
    extras = (FIRST_SEEN, LAST_SEEN)
    order = 60
    local_only = ""

    def local_only_for(self, params: AnalysisParams) -> str | None:
        return cidr_inline_reason(params.cidr_tables)

    def missing_input(self, params: AnalysisParams) -> str | None:
        if not any(table["entries"] for table in params.cidr_tables):
            return "needs a CIDR table"
        return None

    def source(self, params: AnalysisParams, columns: Collection[str]) -> str:
        """Peers matched against the CIDR tables inlined as a VALUES relation."""
        return self.matched_sql(params, columns, cidr_values(params.cidr_tables))

    def matched_sql(self, params: AnalysisParams, columns: Collection[str], reference: str) -> str:
        """The peers with their best match in `reference` (a table or VALUES relation)."""
        peers = peers_sql(params, columns)
        distinct = f"(SELECT DISTINCT ip FROM {peers} AS all_peers WHERE ip IS NOT NULL)"
        best = best_match_sql(distinct, reference)
        return (
            "(SELECT best.table_name, best.cidr, best.label, p.ip, p.action, p.packets, "
            "p.bytes, p.start_ts, p.end_ts "
            f"FROM {peers} AS p JOIN {best} AS best ON p.ip = best.ip) AS matched"
        )

    def analyze(
        self, connection: duckdb.DuckDBPyConnection, params: AnalysisParams
    ) -> AnalysisResult:
        # Locally the tables are a temp table (quick to load however large they are).
        reference = load_cidr_tables(connection, params.cidr_tables)
        columns = self.local_columns(connection)
        return self.grouped_result(
            duckdb_rows(connection), params, columns, self.matched_sql(params, columns, reference)
        )

    def analyze_rows(
        self, fetch: FetchRows, params: AnalysisParams, columns: Collection[str]
    ) -> AnalysisResult:
        reason = cidr_inline_reason(params.cidr_tables)
        if reason is not None:
            raise ValueError(f"analysis {self.name!r} runs only locally: {reason}")
        return super().analyze_rows(fetch, params, columns)

    def summarize(self, params: AnalysisParams, columns: Collection[str]) -> dict[str, Any]:
        return {
            "tables": [
                {"name": table["name"], "entries": len(table["entries"])}
                for table in params.cidr_tables
            ]
        }
