"""The run page's chart and graph JSON: numbers from the stored result rows, bounded, gated."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from investigations import chartdata
from investigations.models import QueryRun, ResultRow, RunResult
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

T0, T1, T2 = "2026-01-05T10:00:00+00:00", "2026-01-05T10:05:00+00:00", "2026-01-05T10:10:00+00:00"

TIME_SERIES = [
    {"time": T0, "action": "ACCEPT", "flows": 10, "packets": 100, "bytes": 5000},
    {"time": T0, "action": "REJECT", "flows": 4, "packets": 4, "bytes": 240},
    {"time": T1, "action": "ACCEPT", "flows": 7, "packets": 70, "bytes": 3500},
    {"time": T1, "action": "REJECT", "flows": 0, "packets": 0, "bytes": 0},
    {"time": T2, "action": "ACCEPT", "flows": 1, "packets": 9, "bytes": 900},
    {"time": T2, "action": "REJECT", "flows": 30, "packets": 30, "bytes": 1800},
]
TRAFFIC_SUMMARY = [
    {"protocol": "tcp", "action": "ACCEPT", "flows": 18, "packets": 179, "bytes": 9400},
    {"protocol": "tcp", "action": "REJECT", "flows": 34, "packets": 34, "bytes": 2040},
]
TOP_TALKERS = [
    {
        "ip": "10.0.1.10",
        "flows": 40,
        "packets": 200,
        "bytes": 9000,
        "bytes_sent": 1000,
        "bytes_received": 8000,
        "first_seen": T0,
        "last_seen": T2,
    },
    {
        "ip": "203.0.113.50",
        "flows": 30,
        "packets": 30,
        "bytes": 1800,
        "bytes_sent": 1800,
        "bytes_received": 0,
        "first_seen": T0,
        "last_seen": T2,
    },
]
EDGES = [
    {
        "source": "203.0.113.50",
        "target": "10.0.1.10",
        "port": 22,
        "flows": 30,
        "packets": 30,
        "bytes": 1800,
        "accepted": 0,
        "rejected": 30,
    },
    {
        "source": "10.0.1.10",
        "target": "10.0.2.20",
        "port": 5432,
        "flows": 12,
        "packets": 90,
        "bytes": 7000,
        "accepted": 12,
        "rejected": 0,
    },
    {
        "source": "10.0.1.10",
        "target": "10.0.2.20",
        "port": 6379,
        "flows": 3,
        "packets": 9,
        "bytes": 600,
        "accepted": 2,
        "rejected": 1,
    },
]
NODES = [
    {
        "id": "10.0.1.10",
        "label": "web-1",
        "ip": "10.0.1.10",
        "alias": "web-1",
        "kind": "internal",
        "flows": 45,
        "bytes": 9400,
    },
    {
        "id": "10.0.2.20",
        "label": "10.0.2.20",
        "ip": "10.0.2.20",
        "alias": None,
        "kind": "internal",
        "flows": 15,
        "bytes": 7600,
    },
    {
        "id": "203.0.113.50",
        "label": "203.0.113.50",
        "ip": "203.0.113.50",
        "alias": None,
        "kind": "external",
        "flows": 30,
        "bytes": 1800,
    },
]


def _store(run: QueryRun, analysis: str, rows: list[dict[str, Any]], **fields: Any) -> RunResult:
    fields.setdefault("total_groups", len(rows))
    result = RunResult.objects.create(
        run=run,
        analysis=analysis,
        title=analysis,
        columns=list(rows[0]) if rows else [],
        row_count=len(rows),
        **fields,
    )
    ResultRow.objects.bulk_create(
        [ResultRow(result=result, position=i, data=row) for i, row in enumerate(rows)]
    )
    return result


@pytest.fixture
def run(investigation: Any) -> QueryRun:
    return QueryRun.objects.create(
        investigation=investigation,
        requested_by=investigation.owner,
        status="succeeded",
        analyses=["traffic-summary", "time-series", "top-talkers", "graph"],
        parameters={"vpc_cidrs": ["10.0.0.0/16"]},
        finished_at=timezone.now(),
    )


@pytest.fixture
def charted_run(run: QueryRun) -> QueryRun:
    _store(run, "time-series", TIME_SERIES, summary={"bin_seconds": 300})
    _store(run, "traffic-summary", TRAFFIC_SUMMARY, summary={"rank_by": "flows"})
    _store(
        run,
        "top-talkers",
        TOP_TALKERS,
        total_groups=25,
        truncated=True,
        summary={"rank_by": "bytes"},
    )
    _store(run, "graph", EDGES, summary={"edges": 3})
    _store(run, "graph:nodes", NODES)
    return run


def _charts(user: Any, run: QueryRun) -> Any:
    return client_for(user).get(reverse("investigations:run_charts", args=[run.pk]))


def _graph(user: Any, run: QueryRun) -> Any:
    return client_for(user).get(reverse("investigations:run_graph", args=[run.pk]))


def test_the_owner_gets_traffic_over_time_split_by_action(
    charted_run: QueryRun, analyst: Any
) -> None:
    response = _charts(analyst, charted_run)
    assert response.status_code == 200
    series = response.json()["time_series"]
    assert series["times"] == [T0, T1, T2]
    assert series["actions"] == ["ACCEPT", "REJECT"]
    assert series["series"]["flows"] == {"ACCEPT": [10, 7, 1], "REJECT": [4, 0, 30]}
    assert series["series"]["bytes"]["ACCEPT"] == [5000, 3500, 900]
    assert series["totals"] == {"flows": 52, "packets": 213, "bytes": 11440}
    assert series["bin_seconds"] == 300
    assert series["truncated"] is False and series["notes"] == []


def test_a_member_gets_protocol_and_action_groups_and_top_talkers(
    charted_run: QueryRun, teammate: Any
) -> None:
    body = _charts(teammate, charted_run).json()
    summary = body["traffic_summary"]
    assert summary["rows"] == TRAFFIC_SUMMARY
    assert summary["truncated"] is False
    talkers = body["top_talkers"]
    assert [row["ip"] for row in talkers["rows"]] == ["10.0.1.10", "203.0.113.50"]
    assert talkers["rows"][0] == {
        "ip": "10.0.1.10",
        "bytes_sent": 1000,
        "bytes_received": 8000,
        "flows": 40,
        "packets": 200,
        "bytes": 9000,
    }
    # 25 groups, 2 stored: the payload says the list is partial.
    assert talkers["truncated"] is True and talkers["total_groups"] == 25
    assert talkers["notes"] == ["Showing the top 2 of 25 groups."]


def test_a_manager_may_read_the_chart_data(charted_run: QueryRun, manager: Any) -> None:
    assert _charts(manager, charted_run).status_code == 200
    assert _graph(manager, charted_run).status_code == 200


def test_an_outsider_gets_404_for_both_endpoints(charted_run: QueryRun, outsider: Any) -> None:
    assert _charts(outsider, charted_run).status_code == 404
    assert _graph(outsider, charted_run).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(charted_run: QueryRun, client: Any) -> None:
    for name in ("investigations:run_charts", "investigations:run_graph"):
        response = client.get(reverse(name, args=[charted_run.pk]))
        assert response.status_code == 302
        assert "/login/" in response["Location"]


def test_charts_missing_from_the_run_are_null(run: QueryRun, analyst: Any) -> None:
    _store(run, "traffic-summary", TRAFFIC_SUMMARY)
    body = _charts(analyst, run).json()
    assert body["time_series"] is None and body["top_talkers"] is None
    assert body["traffic_summary"]["rows"] == TRAFFIC_SUMMARY
    assert _graph(analyst, run).json()["graph"] is None


def test_a_long_series_is_merged_into_fewer_bins_and_says_so(
    charted_run: QueryRun, analyst: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chartdata, "MAX_TIME_POINTS", 2)
    series = _charts(analyst, charted_run).json()["time_series"]
    assert series["times"] == [T0, T2]
    assert series["series"]["flows"] == {"ACCEPT": [17, 1], "REJECT": [4, 30]}
    assert series["bin_seconds"] == 600 and series["source_bin_seconds"] == 300
    assert series["truncated"] is True
    assert "2 adjacent bins" in series["notes"][0]


def test_the_graph_merges_ports_per_address_pair_and_uses_the_nodes_table(
    charted_run: QueryRun, analyst: Any
) -> None:
    graph = _graph(analyst, charted_run).json()["graph"]
    assert graph["nodes_from"] == "table"
    edges = {edge["id"]: edge for edge in graph["edges"]}
    assert set(edges) == {"203.0.113.50->10.0.1.10", "10.0.1.10->10.0.2.20"}
    db = edges["10.0.1.10->10.0.2.20"]
    assert db["ports"] == [5432, 6379] and db["port_count"] == 2
    assert (db["flows"], db["bytes"], db["accepted"], db["rejected"]) == (15, 7600, 14, 1)
    ssh = edges["203.0.113.50->10.0.1.10"]
    assert (ssh["flows"], ssh["accepted"], ssh["rejected"]) == (30, 0, 30)
    nodes = {node["id"]: node for node in graph["nodes"]}
    assert nodes["10.0.1.10"]["label"] == "web-1" and nodes["10.0.1.10"]["kind"] == "internal"
    assert nodes["203.0.113.50"]["kind"] == "external"
    assert graph["max_flows"] == 30 and graph["truncated"] is False


def test_without_a_nodes_table_nodes_come_from_the_edges(run: QueryRun, analyst: Any) -> None:
    _store(run, "graph", EDGES)
    graph = _graph(analyst, run).json()["graph"]
    assert graph["nodes_from"] == "edges"
    nodes = {node["id"]: node for node in graph["nodes"]}
    # The run's VPC range decides what is internal.
    assert nodes["10.0.1.10"]["kind"] == "internal" and nodes["10.0.1.10"]["ip"] == "10.0.1.10"
    assert nodes["203.0.113.50"]["kind"] == "external"
    assert nodes["10.0.1.10"]["flows"] == 45 and nodes["10.0.1.10"]["bytes"] == 9400


def test_the_graph_keeps_the_busiest_pairs_and_says_what_it_left_out(
    run: QueryRun, analyst: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chartdata, "MAX_GRAPH_EDGES", 1)
    _store(run, "graph", EDGES, total_groups=40, truncated=True)
    graph = _graph(analyst, run).json()["graph"]
    assert [edge["id"] for edge in graph["edges"]] == ["203.0.113.50->10.0.1.10"]
    assert {node["id"] for node in graph["nodes"]} == {"203.0.113.50", "10.0.1.10"}
    assert graph["truncated"] is True
    assert graph["total_pairs"] == 2 and graph["analysis_edges"] == 40
    assert any("3 of 40" in note for note in graph["notes"])
    assert any("1 busiest of 2" in note for note in graph["notes"])


def test_the_run_page_offers_charts_and_graph_for_a_finished_run(
    charted_run: QueryRun, analyst: Any
) -> None:
    body = client_for(analyst).get(charted_run.get_absolute_url()).content.decode()
    assert reverse("investigations:run_charts", args=[charted_run.pk]) in body
    assert reverse("investigations:run_graph", args=[charted_run.pk]) in body
    assert 'id="chart-time-series"' in body and 'for="graph-min-flows"' in body
    assert "<style" not in body and " style=" not in body


def test_a_running_run_has_no_charts_yet(run: QueryRun, analyst: Any) -> None:
    QueryRun.objects.filter(pk=run.pk).update(status="running")
    body = client_for(analyst).get(run.get_absolute_url()).content.decode()
    assert 'id="charts"' not in body and 'id="graph"' not in body


@pytest.mark.django_db
def test_an_all_run_shows_charts_for_the_results_it_has(investigation: Any, analyst: Any) -> None:
    from investigations.models import QueryRun, RunResult

    run = QueryRun.objects.create(
        investigation=investigation, requested_by=analyst, analyses=["all"], status="succeeded"
    )
    RunResult.objects.create(
        run=run,
        analysis="traffic-summary",
        title="Traffic summary",
        columns=["protocol", "action", "flows", "packets", "bytes"],
    )
    RunResult.objects.create(
        run=run, analysis="graph", title="Graph", columns=["source", "target", "port", "flows"]
    )
    page = (
        client_for(analyst)
        .get(reverse("investigations:run_detail", args=[run.pk]))
        .content.decode()
    )
    assert reverse("investigations:run_charts", args=[run.pk]) in page
    assert reverse("investigations:run_graph", args=[run.pk]) in page
