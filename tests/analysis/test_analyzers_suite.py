"""Golden results of the analyzer suite on a small hand-made log (IPv4, IPv6, two VPCs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flowlines import SUITE_LINES, T0, VPCS, WEB, WEB6

from analysis.analyzers import AnalysisParams, all_analyzers, get_analyzer
from analysis.engine import FlowEngine

WriteLog = Callable[..., str]  # the write_log fixture of conftest.py
AWS_TABLE = {
    "name": "aws",
    "entries": [
        ["52.94.0.0/16", {"provider": "AWS", "region": "us-east-1"}],
        ["52.94.0.0/24", {"provider": "AWS", "service": "S3"}],
        ["2a05:d018::/32", {"provider": "AWS", "region": "eu-west-1"}],
    ],
}
LOOKUP = [[443, 6, "web"], [22, 6, "admin"], [3389, 6, "admin"], [53, 17, "dns"]]
PARAMS: dict[str, Any] = {"target_ips": [WEB, WEB6], "vpc_cidrs": VPCS}


@pytest.fixture
def loaded(engine: FlowEngine, write_log: WriteLog) -> FlowEngine:
    stats = engine.load_files([write_log(SUITE_LINES)])
    assert (stats.ok, stats.nodata, stats.skipdata) == (15, 1, 1)
    return engine


def keyed(rows: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(row[key] for key in keys) for row in rows]


def test_ssh_response_and_outbound_follow_the_target(loaded: FlowEngine) -> None:
    response = loaded.run("ssh-response", PARAMS)
    assert keyed(response.rows, "dstaddr", "action", "flows", "bytes") == [
        ("203.0.113.50", "ACCEPT", 1, 5000)
    ]
    outbound = loaded.run("ssh-outbound", PARAMS)
    assert keyed(outbound.rows, "dstaddr", "action", "flows") == [
        ("198.51.100.7", "ACCEPT", 1),
        ("10.1.5.5", "REJECT", 1),
    ]


def test_external_inbound_uses_real_cidr_math(loaded: FlowEngine) -> None:
    result = loaded.run("external-inbound", PARAMS)
    assert keyed(result.rows, "srcaddr", "action", "flows", "bytes") == [
        ("45.1.1.1", "REJECT", 2, 80),  # not the third flow: 10.0.1.11 is not a target
        ("203.0.113.50", "ACCEPT", 1, 4000),
        ("2001:db8::99", "ACCEPT", 1, 700),
        ("10.2.0.5", "ACCEPT", 1, 600),  # 10.2.0.5 is outside 10.0.0.0/16 and 10.1.0.0/16
        ("203.0.113.50", "REJECT", 1, 600),
    ]
    assert result.summary["internal_cidrs"] == VPCS
    assert result.summary["internal_assumed"] is False


def test_a_wider_internal_range_makes_a_peer_internal(loaded: FlowEngine) -> None:
    params = {**PARAMS, "extra_internal_cidrs": ["10.0.0.0/8"]}
    result = loaded.run("external-inbound", params)
    assert "10.2.0.5" not in {row["srcaddr"] for row in result.rows}
    # 10.1.0.5 is not in 10.0.0.0/16, but is in 10.0.0.0/15
    narrow = AnalysisParams(vpc_cidrs=["10.0.0.0/16"])
    wide = AnalysisParams(vpc_cidrs=["10.0.0.0/15"])
    loaded.connection.execute(
        "CREATE TEMP TABLE probe AS SELECT CAST(281470681743360 + 10*16777216 + 1*65536 + 5 "
        "AS UHUGEINT) AS src_ip"
    )
    from analysis.analyzers.scope import is_internal

    for params_, expected in ((narrow, False), (wide, True)):
        row = loaded.connection.execute(
            f"SELECT {is_internal('src_ip', params_)} FROM probe"
        ).fetchone()
        assert row == (expected,)


def test_external_outbound_summary_and_top_external(loaded: FlowEngine) -> None:
    outbound = loaded.run("external-outbound", PARAMS)
    assert keyed(outbound.rows, "dstaddr", "dstport", "flows", "bytes") == [
        ("52.94.0.1", 443, 2, 12000),
        ("2a05:d018::1", 443, 1, 900000),
        ("198.51.100.7", 22, 1, 9000),
        ("203.0.113.50", 50002, 1, 5000),
    ]
    summary = loaded.run("external-summary", PARAMS)
    assert keyed(summary.rows, "direction", "action", "flows", "packets", "bytes") == [
        ("outbound", "ACCEPT", 5, 868, 926000),
        ("inbound", "ACCEPT", 3, 33, 5300),
        ("inbound", "REJECT", 3, 12, 680),
    ]
    top = loaded.run("top-external", {**PARAMS, "top_n": 2})
    assert keyed(top.rows, "direction", "srcaddr", "dstaddr", "bytes") == [
        ("outbound", WEB6, "2a05:d018::1", 900000),
        ("outbound", WEB, "52.94.0.1", 12000),
    ]
    assert (top.total_groups, top.truncated, top.summary["rank_by"]) == (10, True, "bytes")


def test_port_specific_and_top_destinations_need_a_port(loaded: FlowEngine) -> None:
    with pytest.raises(ValueError, match="needs a port"):
        loaded.run("port-specific", PARAMS)
    result = loaded.run("port-specific", {**PARAMS, "port": 443})
    assert result.total_groups == 6
    assert {row["dstport"] for row in result.rows} == {443}
    top = loaded.run("top-destinations", {"port": 443})
    assert keyed(top.rows, "dstaddr", "packets", "sources") == [
        ("2a05:d018::1", 800, 1),
        ("52.94.0.1", 20, 1),
        (WEB, 11, 2),
        (WEB6, 7, 1),
    ]


def test_sensitive_ports_both_directions_with_service_names(loaded: FlowEngine) -> None:
    result = loaded.run("sensitive-ports", PARAMS)
    assert keyed(result.rows, "direction", "port", "service", "peer", "action") == [
        ("outbound", 22, "ssh", "198.51.100.7", "ACCEPT"),
        ("inbound", 22, "ssh", "203.0.113.50", "ACCEPT"),
        ("inbound", 22, "ssh", "203.0.113.50", "REJECT"),
        ("outbound", 22, "ssh", "10.1.5.5", "REJECT"),
        ("inbound", 3306, "mysql", "45.1.1.1", "REJECT"),
        ("inbound", 3389, "rdp", "45.1.1.1", "REJECT"),
    ]
    custom = loaded.run("sensitive-ports", {**PARAMS, "sensitive_ports": "3306:db"})
    assert keyed(custom.rows, "port", "service", "peer") == [(3306, "db", "45.1.1.1")]


def test_rejected_has_a_per_source_table(loaded: FlowEngine) -> None:
    result = loaded.run("rejected", {})
    assert result.total_groups == 5
    sources = result.table("sources")
    assert keyed(sources.rows, "srcaddr", "flows", "distinct_ports", "distinct_hosts") == [
        ("45.1.1.1", 3, 2, 2),
        ("203.0.113.50", 1, 1, 1),
        (WEB, 1, 1, 1),
    ]
    assert result.to_dict()["tables"][0]["name"] == "sources"


def test_cidr_connections_longest_prefix_wins(loaded: FlowEngine) -> None:
    with pytest.raises(ValueError, match="needs a CIDR table"):
        loaded.run("cidr-connections", PARAMS)
    result = loaded.run("cidr-connections", {**PARAMS, "cidr_tables": [AWS_TABLE]})
    assert keyed(result.rows, "table", "label", "cidr", "ip", "action", "flows") == [
        ("aws", "AWS / S3", "52.94.0.0/24", "52.94.0.1", "ACCEPT", 2),
        ("aws", "AWS / eu-west-1", "2a05:d018::/32", "2a05:d018::1", "ACCEPT", 1),
    ]


def test_tag_mapping_output_format(loaded: FlowEngine) -> None:
    result = loaded.run("tag-mapping", {"lookup_table": LOOKUP})
    assert result.columns == ["tag", "count", "packets", "bytes"]
    assert result.rows == [
        {"tag": "web", "count": 6, "packets": 838, "bytes": 913800},
        {"tag": "admin", "count": 5, "packets": 63, "bytes": 13760},
        {"tag": "dns", "count": 1, "packets": 1, "bytes": 80},
        {"tag": "Untagged", "count": 3, "packets": 20, "bytes": 5080},
    ]
    assert (result.summary["flows"], result.summary["packets"], result.summary["bytes"]) == (
        15,
        922,
        932720,
    )
    pairs = result.table("port_protocol")
    assert pairs.columns == ["dstport", "protocol", "count", "packets", "bytes"]
    assert pairs.rows == [
        {"dstport": 22, "protocol": "tcp", "count": 4, "packets": 62, "bytes": 13720},
        {"dstport": 53, "protocol": "udp", "count": 1, "packets": 1, "bytes": 80},
        {"dstport": 443, "protocol": "tcp", "count": 6, "packets": 838, "bytes": 913800},
        {"dstport": 3306, "protocol": "tcp", "count": 2, "packets": 2, "bytes": 80},
        {"dstport": 3389, "protocol": "tcp", "count": 1, "packets": 1, "bytes": 40},
        {"dstport": 50002, "protocol": "tcp", "count": 1, "packets": 18, "bytes": 5000},
    ]


def test_tag_mapping_ties_sort_by_tag_and_untagged_stays_last(loaded: FlowEngine) -> None:
    lookup = [[3306, 6, "zeta"], [3389, 6, "alpha"], [53, 17, "alpha"]]
    result = loaded.run("tag-mapping", {"lookup_table": lookup})
    assert keyed(result.rows, "tag", "count") == [("alpha", 2), ("zeta", 2), ("Untagged", 11)]


def test_top_talkers_count_both_directions(loaded: FlowEngine) -> None:
    result = loaded.run("top-talkers", {"top_n": 3})
    assert keyed(result.rows, "ip", "bytes", "bytes_sent", "bytes_received") == [
        (WEB6, 900700, 900000, 700),
        ("2a05:d018::1", 900000, 0, 900000),
        (WEB, 31980, 26200, 5780),
    ]
    assert result.summary["flows"] == 15  # records, not record ends
    assert result.total_groups == 13


def test_time_series_bins_cover_the_span_with_zeros(loaded: FlowEngine) -> None:
    result = loaded.run("time-series", {"time_bin_seconds": 60})
    assert result.summary["bin_seconds"] == 60
    assert keyed(result.rows, "time", "action", "flows") == [
        ("2023-11-14T22:13:00+00:00", "ACCEPT", 2),
        ("2023-11-14T22:13:00+00:00", "REJECT", 1),
        ("2023-11-14T22:14:00+00:00", "ACCEPT", 2),
        ("2023-11-14T22:14:00+00:00", "REJECT", 1),
        ("2023-11-14T22:15:00+00:00", "ACCEPT", 3),
        ("2023-11-14T22:15:00+00:00", "REJECT", 0),
        ("2023-11-14T22:16:00+00:00", "ACCEPT", 2),
        ("2023-11-14T22:16:00+00:00", "REJECT", 1),
        ("2023-11-14T22:17:00+00:00", "ACCEPT", 1),
        ("2023-11-14T22:17:00+00:00", "REJECT", 2),
    ]
    assert sum(row["flows"] for row in result.rows) == 15
    auto = loaded.run("time-series", {})
    assert 100 <= auto.summary["bins"] <= 300


def test_graph_nodes_edges_aliases_and_pseudonyms(loaded: FlowEngine) -> None:
    params = {"vpc_cidrs": VPCS, "known_hosts": {WEB: "web"}, "graph_top_k": 2}
    result = loaded.run("graph", params)
    assert keyed(result.rows, "source", "target", "port", "flows", "accepted", "rejected") == [
        (WEB, "52.94.0.1", 443, 2, 2, 0),
        ("203.0.113.50", WEB, 22, 2, 1, 1),
    ]
    assert (result.total_groups, result.truncated) == (13, True)
    nodes = {node["id"]: node for node in result.table("nodes").rows}
    assert nodes[WEB]["label"] == "web" and nodes[WEB]["kind"] == "internal"
    assert nodes["52.94.0.1"]["kind"] == "external"
    min_two = loaded.run("graph", {**params, "graph_min_flows": 2, "graph_top_k": 100})
    assert min_two.total_groups == 2

    hidden = loaded.run("graph", {**params, "graph_pseudonyms": True})
    assert [node["id"] for node in hidden.table("nodes").rows] == [
        "internal-1",
        "external-1",
        "external-2",
    ]
    assert all(node["ip"] is None and node["alias"] is None for node in hidden.table("nodes").rows)
    assert hidden.rows[0]["source"] == "internal-1"


def test_a_custom_format_brings_tcp_flags_packet_addresses_and_services(
    engine: FlowEngine, write_log: WriteLog
) -> None:
    header = (
        "version interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end "
        "action log-status tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service flow-direction"
    )

    def line(src: str, dst: str, flags: int, pkt_src: str, pkt_dst: str, service: str) -> str:
        return (
            f"5 eni-ccc {src} {dst} 50000 22 6 3 150 {T0} {T0 + 10} ACCEPT OK {flags} "
            f"{pkt_src} {pkt_dst} {service} ingress"
        )

    lines = [
        header,
        line("192.0.2.1", "10.0.5.5", 2, "192.0.2.1", "10.0.5.5", "-"),
        line("192.0.2.1", "10.0.5.5", 2, "192.0.2.1", "10.0.5.5", "-"),
        line("192.0.2.1", "10.0.5.5", 19, "192.0.2.1", "10.0.5.5", "-"),
        # through a load balancer: only the packet destination is the target
        line("192.0.2.9", "10.0.9.9", 19, "192.0.2.9", "10.0.5.5", "EC2"),
        f"5 eni-ccc - - - - - - - {T0} {T0 + 60} - NODATA - - - - -",
    ]
    stats = engine.load_files([write_log(lines)])
    assert (stats.ok, stats.nodata) == (4, 1)
    result = engine.run("ssh-inbound", {"target_ips": ["10.0.5.5"]})
    assert result.columns[-2:] == ["attempts", "established"]
    assert keyed(result.rows, "srcaddr", "flows", "attempts", "established") == [
        ("192.0.2.1", 3, 2, 1),
        ("192.0.2.9", 1, 0, 1),
    ]
    inbound = engine.run("external-inbound", {"target_ips": ["10.0.5.5"]})
    assert "pkt_src_aws_service" in inbound.columns
    assert {row["pkt_src_aws_service"] for row in inbound.rows} == {None, "EC2"}
    by_interface = engine.run("ssh-inbound", {"target_interfaces": ["eni-ccc"]})
    assert by_interface.summary["flows"] == 4
    outbound = engine.run("ssh-outbound", {"target_interfaces": ["eni-ccc"]})
    assert outbound.rows == []  # every record is ingress


def test_every_analyzer_is_registered_with_its_api_name() -> None:
    names = {analyzer.name for analyzer in all_analyzers()}
    assert names == {
        "traffic-summary",
        "ssh-inbound",
        "ssh-response",
        "ssh-outbound",
        "external-inbound",
        "external-outbound",
        "external-summary",
        "top-external",
        "port-specific",
        "sensitive-ports",
        "rejected",
        "cidr-connections",
        "tag-mapping",
        "top-talkers",
        "top-destinations",
        "time-series",
        "graph",
        "detections",
        "geo",
    }


def test_applicability_says_why_an_analysis_cannot_run(loaded: FlowEngine) -> None:
    columns = loaded.columns()
    reasons = {
        analyzer.name: analyzer.is_applicable(AnalysisParams(), columns)
        for analyzer in all_analyzers()
    }
    assert reasons["port-specific"] == "needs a port"
    assert reasons["top-destinations"] == "needs a port"
    assert reasons["cidr-connections"] == "needs a CIDR table"
    assert reasons["tag-mapping"] == "needs a lookup table"
    assert {name for name, reason in reasons.items() if reason is None} == {
        "traffic-summary", "ssh-inbound", "ssh-response", "ssh-outbound", "external-inbound",
        "external-outbound", "external-summary", "top-external", "sensitive-ports", "rejected",
        "top-talkers", "time-series", "graph", "detections", "geo",
    }  # fmt: skip
    reason = get_analyzer("ssh-response").is_applicable(AnalysisParams(), ["srcaddr", "dstaddr"])
    assert reason is not None and "srcport" in reason


def test_every_analyzer_runs_on_empty_flows(engine: FlowEngine) -> None:
    params = AnalysisParams(port=443, cidr_tables=[AWS_TABLE], lookup_table=[(443, 6, "web")])
    for analyzer in all_analyzers():
        result = engine.run(analyzer.name, params)
        assert (result.rows, result.truncated) == ([], False), analyzer.name
