"""JSON for the run page's charts and connection graph, built from a run's stored result rows."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from analysis.addresses import cidr_bounds, ip_to_int
from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.scope import PRIVATE_CIDRS, internal_cidrs
from investigations.access import get_run_for_user
from investigations.models import QueryRun, RunResult

# Payload bounds: enough for a readable chart, small enough for a quick page.
MAX_TIME_POINTS = 720
MAX_SUMMARY_ROWS = 60
MAX_TALKERS = 15
MAX_GRAPH_EDGES = 300
MAX_EDGE_PORTS = 8
MEASURES = ("flows", "packets", "bytes")
NODES_TABLE_SUFFIX = ":nodes"  # how a run stores the graph analysis's `nodes` table


def _results(run: QueryRun, names: Iterable[str]) -> dict[str, RunResult]:
    return {r.analysis: r for r in RunResult.objects.filter(run=run, analysis__in=list(names))}


def _rows(result: RunResult, limit: int | None = None) -> list[dict[str, Any]]:
    rows = result.rows.order_by("position").values_list("data", flat=True)
    return list(rows[:limit] if limit is not None else rows)


def _count(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def time_series_payload(result: RunResult) -> dict[str, Any]:
    """Per-action series on one time axis; adjacent bins merged when there are too many."""
    rows = _rows(result)
    times: list[str] = []
    index: dict[str, int] = {}
    actions: list[str] = []
    for row in rows:
        if row.get("time") not in index:
            index[row["time"]] = len(times)
            times.append(row["time"])
        action = str(row.get("action") or "unknown")
        if action not in actions:
            actions.append(action)
    series = {m: {a: [0] * len(times) for a in actions} for m in MEASURES}
    for row in rows:
        action = str(row.get("action") or "unknown")
        for measure in MEASURES:
            series[measure][action][index[row["time"]]] += _count(row.get(measure))

    source_bin = _count(result.summary.get("bin_seconds")) or None
    notes: list[str] = []
    merge = math.ceil(len(times) / MAX_TIME_POINTS) if times else 1
    if merge > 1:
        times = times[::merge]
        for measure in MEASURES:
            for action in actions:
                values = series[measure][action]
                series[measure][action] = [
                    sum(values[i : i + merge]) for i in range(0, len(values), merge)
                ]
        notes.append(
            f"Every {merge} adjacent bins are added together to keep the chart at "
            f"{len(times)} points."
        )
    if result.truncated:
        notes.append(
            f"Only the first {result.row_count:,} of {result.total_groups:,} rows were stored: "
            "the series stops early."
        )
    return {
        "times": times,
        "actions": actions,
        "series": series,
        "bin_seconds": source_bin * merge if source_bin else None,
        "source_bin_seconds": source_bin,
        "totals": {m: sum(sum(v) for v in series[m].values()) for m in MEASURES},
        "truncated": merge > 1 or result.truncated,
        "notes": notes,
    }


def _ranked_payload(result: RunResult, limit: int, keys: tuple[str, ...]) -> dict[str, Any]:
    rows = _rows(result, limit)
    shown = [
        {**{k: row.get(k) for k in keys}, **{m: _count(row.get(m)) for m in MEASURES}}
        for row in rows
    ]
    notes = []
    if result.total_groups > len(shown):
        notes.append(f"Showing the top {len(shown):,} of {result.total_groups:,} groups.")
    return {
        "rows": shown,
        "shown": len(shown),
        "total_groups": result.total_groups,
        "rank_by": result.summary.get("rank_by"),
        "truncated": result.total_groups > len(shown),
        "notes": notes,
    }


def traffic_summary_payload(result: RunResult) -> dict[str, Any]:
    return _ranked_payload(result, MAX_SUMMARY_ROWS, ("protocol", "action"))


def top_talkers_payload(result: RunResult) -> dict[str, Any]:
    return _ranked_payload(result, MAX_TALKERS, ("ip", "bytes_sent", "bytes_received"))


class _InternalRanges:
    """Which node ids are internal, for runs stored without the graph's nodes table."""

    def __init__(self, run: QueryRun) -> None:
        try:
            cidrs = internal_cidrs(AnalysisParams.from_dict(run.parameters or {}))
        except (ValueError, TypeError):
            cidrs = list(PRIVATE_CIDRS)
        self.bounds = [cidr_bounds(cidr) for cidr in cidrs]

    def kind_of(self, node_id: str) -> tuple[str, str | None]:
        """(kind, ip); pseudonymised ids (`internal-3`) carry their kind and no address."""
        try:
            value = ip_to_int(node_id)
        except ValueError:
            kind = "internal" if node_id.startswith("internal-") else "external"
            return kind, None
        internal = any(lo <= value <= hi for lo, hi in self.bounds)
        return ("internal" if internal else "external"), node_id


def graph_payload(
    run: QueryRun, edges_result: RunResult, nodes_result: RunResult | None
) -> dict[str, Any]:
    """Edges merged per source → target pair (ports listed), the heaviest kept, and their nodes."""
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    for row in _rows(edges_result):
        source, target = str(row.get("source")), str(row.get("target"))
        edge = pairs.setdefault(
            (source, target),
            {
                "id": f"{source}->{target}",
                "source": source,
                "target": target,
                "ports": [],
                "port_count": 0,
                "flows": 0,
                "packets": 0,
                "bytes": 0,
                "accepted": 0,
                "rejected": 0,
            },
        )
        for measure in (*MEASURES, "accepted", "rejected"):
            edge[measure] += _count(row.get(measure))
        edge["port_count"] += 1
        if len(edge["ports"]) < MAX_EDGE_PORTS:
            edge["ports"].append(row.get("port"))
    ranked = sorted(pairs.values(), key=lambda e: (-e["flows"], -e["bytes"], e["id"]))
    edges = ranked[:MAX_GRAPH_EDGES]

    used: dict[str, dict[str, Any]] = {}
    for edge in edges:
        for end in (edge["source"], edge["target"]):
            node = used.setdefault(end, {"flows": 0, "bytes": 0})
            node["flows"] += edge["flows"]
            node["bytes"] += edge["bytes"]
    stored = {str(row.get("id")): row for row in _rows(nodes_result)} if nodes_result else {}
    ranges = _InternalRanges(run)
    nodes: list[dict[str, Any]] = []
    for node_id, weight in used.items():
        known = stored.get(node_id)
        if known:
            nodes.append(
                {
                    "id": node_id,
                    "label": known.get("label") or node_id,
                    "ip": known.get("ip"),
                    "alias": known.get("alias"),
                    "kind": known.get("kind") or "external",
                    "flows": _count(known.get("flows")),
                    "bytes": _count(known.get("bytes")),
                }
            )
        else:
            kind, ip = ranges.kind_of(node_id)
            nodes.append(
                {"id": node_id, "label": node_id, "ip": ip, "alias": None, "kind": kind, **weight}
            )
    nodes.sort(key=lambda n: (-n["bytes"], n["id"]))

    notes = []
    if edges_result.truncated:
        notes.append(
            f"The analysis kept {edges_result.row_count:,} of {edges_result.total_groups:,} "
            "source → destination port edges (raise its top-k to see more)."
        )
    if len(ranked) > len(edges):
        notes.append(f"Showing the {len(edges):,} busiest of {len(ranked):,} address pairs.")
    return {
        "nodes": nodes,
        "edges": edges,
        "nodes_from": "table" if stored else "edges",
        "shown_edges": len(edges),
        "total_pairs": len(ranked),
        "stored_edges": edges_result.row_count,
        "analysis_edges": edges_result.total_groups,
        "max_flows": max((e["flows"] for e in edges), default=0),
        "truncated": bool(edges_result.truncated) or len(ranked) > len(edges),
        "notes": notes,
    }


@require_GET
def run_charts(request: HttpRequest, pk: int) -> JsonResponse:
    run = get_run_for_user(request.user, pk)
    found = _results(run, ("time-series", "traffic-summary", "top-talkers"))
    builders = {
        "time_series": ("time-series", time_series_payload),
        "traffic_summary": ("traffic-summary", traffic_summary_payload),
        "top_talkers": ("top-talkers", top_talkers_payload),
    }
    payload: dict[str, Any] = {"run": run.pk, "status": run.status}
    for key, (analysis, build) in builders.items():
        result = found.get(analysis)
        payload[key] = build(result) if result is not None else None
    return JsonResponse(payload)


@require_GET
def run_graph(request: HttpRequest, pk: int) -> JsonResponse:
    run = get_run_for_user(request.user, pk)
    found = _results(run, ("graph", f"graph{NODES_TABLE_SUFFIX}"))
    edges = found.get("graph")
    payload: dict[str, Any] = {"run": run.pk, "status": run.status, "graph": None}
    if edges is not None:
        payload["graph"] = graph_payload(run, edges, found.get(f"graph{NODES_TABLE_SUFFIX}"))
    return JsonResponse(payload)
