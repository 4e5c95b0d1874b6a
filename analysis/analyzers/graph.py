"""graph: who talks to whom, as nodes (addresses) and edges (source → destination, port)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from typing import Any

from analysis.addresses import address_value, cidr_bounds, int_to_ip
from analysis.analyzers.base import Analyzer, FetchRows, register
from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.result import AnalysisResult, ResultTable
from analysis.analyzers.scope import internal_cidrs

NODES_TABLE = "nodes"
EDGE_COLUMNS = ["source", "target", "port", "flows", "packets", "bytes", "accepted", "rejected"]
NODE_COLUMNS = ["id", "label", "ip", "alias", "kind", "flows", "bytes"]


class InternalRanges:
    """Answers "is this address internal?" for a list of CIDRs, in Python."""

    def __init__(self, cidrs: list[str]) -> None:
        self.bounds = [cidr_bounds(cidr) for cidr in cidrs]

    def __contains__(self, value: int) -> bool:
        return any(lo <= value <= hi for lo, hi in self.bounds)


@register
class GraphAnalyzer(Analyzer):
    name = "graph"
    title = "Connection graph"
    description = (
        "Addresses as nodes (known-host aliases, internal or external, optionally "
        "pseudonymised) and source → destination port edges with flows, bytes and "
        "accepted/rejected counts; edges below graph_min_flows dropped, the top graph_top_k kept."
    )
    required_fields = ("srcaddr", "dstaddr", "dstport", "action", "packets", "bytes")
    order = 90
    local_only = ""

    def edges_sql(self, params: AnalysisParams) -> str:
        first, second = ("bytes", "flows") if params.rank_by == "bytes" else ("flows", "bytes")
        # The edge count comes from an aggregate, not a window over every edge (see grouped).
        return (
            "WITH edges AS (\n"
            "    SELECT src_ip AS source, dst_ip AS target, dstport AS port, COUNT(*) AS flows,\n"
            "           COALESCE(SUM(packets), 0) AS packets, COALESCE(SUM(bytes), 0) AS bytes,\n"
            "           SUM(CASE WHEN action = 'ACCEPT' THEN 1 ELSE 0 END) AS accepted,\n"
            "           SUM(CASE WHEN action = 'REJECT' THEN 1 ELSE 0 END) AS rejected\n"
            "    FROM flows WHERE src_ip IS NOT NULL AND dst_ip IS NOT NULL\n"
            "    GROUP BY src_ip, dst_ip, dstport\n"
            f"    HAVING COUNT(*) >= {int(params.graph_min_flows)}\n"
            ")\n"
            "SELECT edges.source, edges.target, edges.port, edges.flows, edges.packets,\n"
            "       edges.bytes, edges.accepted, edges.rejected, totals.total_edges\n"
            "FROM edges CROSS JOIN (SELECT COUNT(*) AS total_edges FROM edges) AS totals\n"
            f"ORDER BY {first} DESC, {second} DESC, source ASC, target ASC, port ASC\n"
            f"LIMIT {int(params.graph_top_k)}"
        )

    def analyze_rows(
        self, fetch: FetchRows, params: AnalysisParams, columns: Collection[str]
    ) -> AnalysisResult:
        fetched = [
            (address_value(source), address_value(target), *rest)
            for source, target, *rest in fetch(self.edges_sql(params))
        ]
        total_edges = int(fetched[0][8]) if fetched else 0
        internal = InternalRanges(internal_cidrs(params))

        weight: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for source, target, _, flows, _, size, *_ in fetched:
            for end in (int(source), int(target)):
                weight[end][0] += int(flows)
                weight[end][1] += int(size)
        # Heaviest first, so pseudonyms and node order are stable for the same data.
        order = sorted(weight, key=lambda ip: (-weight[ip][1], -weight[ip][0], ip))
        ids: dict[int, str] = {}
        nodes: list[dict[str, Any]] = []
        counters = {"internal": 0, "external": 0}
        for value in order:
            ip = int_to_ip(value)
            kind = "internal" if value in internal else "external"
            alias = params.known_hosts.get(ip)
            if params.graph_pseudonyms:
                counters[kind] += 1
                node_id = f"{kind}-{counters[kind]}"
                node = {"id": node_id, "label": node_id, "ip": None, "alias": None}
            else:
                node_id = ip
                node = {"id": ip, "label": alias or ip, "ip": ip, "alias": alias}
            ids[value] = node_id
            nodes.append(
                {**node, "kind": kind, "flows": weight[value][0], "bytes": weight[value][1]}
            )
        edges = [
            {
                "source": ids[int(source)],
                "target": ids[int(target)],
                "port": None if port is None else int(port),
                "flows": int(flows),
                "packets": int(packets),
                "bytes": int(size),
                "accepted": int(accepted),
                "rejected": int(rejected),
            }
            for source, target, port, flows, packets, size, accepted, rejected, _ in fetched
        ]
        return AnalysisResult(
            name=self.name,
            title=self.title,
            columns=list(EDGE_COLUMNS),
            rows=edges,
            total_groups=total_edges,
            truncated=total_edges > len(edges),
            summary={
                "edges": len(edges),
                "nodes": len(nodes),
                "min_flows": params.graph_min_flows,
                "top_k": params.graph_top_k,
                "rank_by": params.rank_by,
                "pseudonyms": params.graph_pseudonyms,
            },
            tables=[
                ResultTable(
                    name=NODES_TABLE,
                    title="Nodes",
                    columns=list(NODE_COLUMNS),
                    rows=nodes,
                    total_groups=len(nodes),
                    truncated=False,
                )
            ],
        )
