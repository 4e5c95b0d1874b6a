"""Golden results of the analyzers on small hand-written logs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flowlines import T0, flow

from analysis.analyzers import AnalysisParams, all_analyzers, get_analyzer
from analysis.engine import FlowEngine
from analysis.formats import DEFAULT_FORMAT, FlowFormat

WriteLog = Callable[..., str]  # the write_log fixture of conftest.py
HEADER = " ".join(DEFAULT_FORMAT.names)


LINES = [
    HEADER,
    flow("203.0.113.50", "10.0.1.10", 50001, 22, 6, 10, 600, 0, "REJECT"),
    flow("203.0.113.50", "10.0.1.10", 50002, 22, 6, 12, 720, 20, "REJECT"),
    flow("203.0.113.50", "10.0.1.10", 50003, 22, 6, 30, 5000, 40, "ACCEPT"),
    flow("198.51.100.7", "10.0.1.10", 40000, 22, 6, 100, 90000, 200, "ACCEPT"),
    # look-alike destination: 10.0.1.100 is not 10.0.1.10, but is in 10.0.1.0/24
    flow("198.51.100.7", "10.0.1.100", 40001, 22, 6, 5, 300, 210, "ACCEPT"),
    # not SSH: other port, UDP, and the reply direction (source port 22)
    flow("198.51.100.7", "10.0.1.10", 40002, 2222, 6, 5, 300, 220, "ACCEPT"),
    flow("198.51.100.7", "10.0.1.10", 40003, 22, 17, 1, 100, 230, "ACCEPT"),
    flow("10.0.1.10", "203.0.113.50", 22, 50003, 6, 8, 800, 40, "ACCEPT"),
    # IPv6: the target and a look-alike one address away
    flow("2001:db8::50", "2001:db8:0:1::10", 51000, 22, 6, 4, 400, 300, "REJECT", "eni-bbb"),
    flow("2001:db8::50", "2001:db8:0:1::11", 51001, 22, 6, 4, 400, 310, "REJECT", "eni-bbb"),
    # from the second VPC
    flow("10.1.5.5", "10.0.1.10", 41000, 22, 6, 20, 2000, 400, "ACCEPT", "eni-ccc"),
    flow("10.0.1.1", "10.0.1.10", 0, 0, 1, 2, 168, 500, "ACCEPT", "eni-ddd"),
    f"2 111122223333 eni-aaa - - - - - - - {T0} {T0 + 60} - NODATA",
    f"2 111122223333 eni-aaa - - - - - - - {T0 + 60} {T0 + 120} - SKIPDATA",
]


def iso(offset: int) -> str:
    return f"2023-11-14T22:{13 + (20 + offset) // 60:02d}:{(20 + offset) % 60:02d}+00:00"


@pytest.fixture
def loaded(engine: FlowEngine, write_log: WriteLog) -> FlowEngine:
    stats = engine.load_files([write_log(LINES)])
    assert (stats.total, stats.ok, stats.nodata, stats.skipdata, stats.malformed) == (
        14,
        12,
        1,
        1,
        0,
    )
    return engine


def test_ssh_inbound_to_target_addresses(loaded: FlowEngine) -> None:
    params = AnalysisParams(target_ips=["10.0.1.10", "2001:db8:0:1::10"])
    result = loaded.run("ssh-inbound", params)
    assert result.columns == [
        "srcaddr",
        "action",
        "flows",
        "packets",
        "bytes",
        "first_seen",
        "last_seen",
    ]
    assert result.rows == [
        {
            "srcaddr": "203.0.113.50",
            "action": "REJECT",
            "flows": 2,
            "packets": 22,
            "bytes": 1320,
            "first_seen": iso(0),
            "last_seen": iso(30),
        },
        {
            "srcaddr": "198.51.100.7",
            "action": "ACCEPT",
            "flows": 1,
            "packets": 100,
            "bytes": 90000,
            "first_seen": iso(200),
            "last_seen": iso(210),
        },
        {
            "srcaddr": "203.0.113.50",
            "action": "ACCEPT",
            "flows": 1,
            "packets": 30,
            "bytes": 5000,
            "first_seen": iso(40),
            "last_seen": iso(50),
        },
        {
            "srcaddr": "10.1.5.5",
            "action": "ACCEPT",
            "flows": 1,
            "packets": 20,
            "bytes": 2000,
            "first_seen": iso(400),
            "last_seen": iso(410),
        },
        {
            "srcaddr": "2001:db8::50",
            "action": "REJECT",
            "flows": 1,
            "packets": 4,
            "bytes": 400,
            "first_seen": iso(300),
            "last_seen": iso(310),
        },
    ]
    assert (result.total_groups, result.truncated) == (5, False)
    assert result.summary["flows"] == 6
    assert result.summary["bytes"] == 1320 + 90000 + 5000 + 2000 + 400


def test_ssh_inbound_to_a_cidr_includes_its_neighbours(loaded: FlowEngine) -> None:
    result = loaded.run("ssh-inbound", {"target_cidrs": ["10.0.1.0/24"]})
    assert [(row["srcaddr"], row["action"], row["flows"], row["bytes"]) for row in result.rows] == [
        ("198.51.100.7", "ACCEPT", 2, 90300),
        ("203.0.113.50", "REJECT", 2, 1320),
        ("203.0.113.50", "ACCEPT", 1, 5000),
        ("10.1.5.5", "ACCEPT", 1, 2000),
    ]


def test_ssh_inbound_without_target_counts_every_destination(loaded: FlowEngine) -> None:
    result = loaded.run("ssh-inbound", {})
    assert [(row["srcaddr"], row["action"], row["flows"]) for row in result.rows] == [
        ("198.51.100.7", "ACCEPT", 2),
        ("203.0.113.50", "REJECT", 2),
        ("2001:db8::50", "REJECT", 2),
        ("203.0.113.50", "ACCEPT", 1),
        ("10.1.5.5", "ACCEPT", 1),
    ]


def test_ssh_inbound_ranked_by_bytes_and_truncated(loaded: FlowEngine) -> None:
    result = loaded.run("ssh-inbound", {"rank_by": "bytes", "top_n": 2})
    assert [(row["srcaddr"], row["bytes"]) for row in result.rows] == [
        ("198.51.100.7", 90300),
        ("203.0.113.50", 5000),
    ]
    assert (result.total_groups, result.truncated) == (5, True)
    assert result.summary["flows"] == 8  # totals cover every group, not just the top 2


def test_traffic_summary_groups_by_protocol_and_action(loaded: FlowEngine) -> None:
    result = loaded.run("traffic-summary", AnalysisParams())
    assert result.columns == ["protocol", "action", "flows", "packets", "bytes"]
    assert result.rows == [
        {"protocol": "tcp", "action": "ACCEPT", "flows": 6, "packets": 168, "bytes": 98400},
        {"protocol": "tcp", "action": "REJECT", "flows": 4, "packets": 30, "bytes": 2120},
        {"protocol": "icmp", "action": "ACCEPT", "flows": 1, "packets": 2, "bytes": 168},
        {"protocol": "udp", "action": "ACCEPT", "flows": 1, "packets": 1, "bytes": 100},
    ]
    assert result.summary["flows"] == 12
    by_bytes = loaded.run("traffic-summary", {"rank_by": "bytes"})
    assert [row["protocol"] for row in by_bytes.rows] == ["tcp", "tcp", "icmp", "udp"]


def test_results_are_plain_json_values(loaded: FlowEngine) -> None:
    result = loaded.run("ssh-inbound", {}).to_dict()
    assert result["name"] == "ssh-inbound"
    assert result["title"] == "SSH inbound"
    assert result["findings"] == []
    for row in result["rows"]:
        assert all(isinstance(value, str | int) for value in row.values())


def test_a_custom_format_with_a_header_loads_gzip_and_appends(
    loaded: FlowEngine, write_log: WriteLog
) -> None:
    header = (
        "version vpc-id dstaddr srcaddr dstport srcport protocol packets bytes start end "
        "action log-status tcp-flags flow-direction"
    )
    lines = [
        header,
        f"5 vpc-01 10.0.1.10 192.0.2.1 22 50000 6 3 150 {T0 + 900} {T0 + 910} REJECT OK 2 ingress",
        f"5 vpc-01 10.0.1.10 192.0.2.1 22 50001 6 3 150 {T0 + 920} {T0 + 930} REJECT OK 2 ingress",
    ]
    stats = loaded.load_files([write_log(lines, gz=True, name="custom.log.gz")])
    assert (stats.total, stats.ok, stats.malformed) == (2, 2, 0)
    assert stats.files[0].header and stats.files[0].compression == "gzip"
    assert {"vpc_id", "tcp_flags", "flow_direction"} <= set(loaded.columns())
    rows = loaded.connection.execute(
        "SELECT srcaddr, dstport, tcp_flags, vpc_id FROM flows WHERE vpc_id IS NOT NULL"
    ).fetchall()
    assert rows == [("192.0.2.1", 22, 2, "vpc-01")] * 2
    result = loaded.run("ssh-inbound", {"target_ips": ["10.0.1.10"]})
    assert {(row["srcaddr"], row["action"]): row["flows"] for row in result.rows} == {
        ("203.0.113.50", "REJECT"): 2,
        ("203.0.113.50", "ACCEPT"): 1,
        ("192.0.2.1", "REJECT"): 2,
        ("198.51.100.7", "ACCEPT"): 1,
        ("10.1.5.5", "ACCEPT"): 1,
    }


def test_an_explicit_format_wins_over_the_default(engine: FlowEngine, write_log: WriteLog) -> None:
    fmt = FlowFormat.parse(
        "${srcaddr} ${dstaddr} ${dstport} ${protocol} ${action} ${packets} ${bytes} ${start} ${end}"
    )
    path = write_log([f"192.0.2.9 10.0.1.10 22 6 ACCEPT 1 60 {T0} {T0 + 5}"])
    stats = engine.load_files([path], flow_format=fmt)
    assert stats.ok == 1
    assert engine.run("ssh-inbound", {}).rows[0]["srcaddr"] == "192.0.2.9"


def test_an_analyzer_reports_missing_fields(engine: FlowEngine, write_log: WriteLog) -> None:
    engine.connection.execute("ALTER TABLE flows DROP COLUMN dstport")
    with pytest.raises(ValueError, match="needs flow log field"):
        engine.run("ssh-inbound", {})


def test_the_registry_lists_and_finds_analyzers() -> None:
    names = [analyzer.name for analyzer in all_analyzers()]
    assert {"traffic-summary", "ssh-inbound"} <= set(names)
    assert names.index("traffic-summary") < names.index("ssh-inbound")
    assert get_analyzer("ssh-inbound").title == "SSH inbound"
    with pytest.raises(KeyError, match=r"known analyses: traffic-summary, .*ssh-inbound"):
        get_analyzer("nope")


def test_analyzers_also_run_on_a_bare_connection(loaded: FlowEngine) -> None:
    result = get_analyzer("traffic-summary").run(loaded.connection, AnalysisParams())
    assert result.summary["flows"] == 12


def test_empty_flows_give_empty_results(engine: FlowEngine) -> None:
    result = engine.run("ssh-inbound", {})
    assert (result.rows, result.total_groups, result.truncated) == ([], 0, False)
    assert result.summary["flows"] == 0
