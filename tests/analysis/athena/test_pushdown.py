"""Every analysis Athena can run gives, through the rendered Trino SQL, the local engine's rows.

The Trino SQL (the `flows` CTE over the table, then the analyzer's query) is checked to parse
as Trino, translated back to DuckDB by sqlglot and run over a table holding the raw fields of
the same lines, as Athena's table over the files would hold them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pytest
from flowlines import SUITE_LINES, T0, VPCS, WEB, WEB6, flow

from analysis.analyzers import AnalysisParams, all_analyzers
from analysis.athena.ddl import AthenaTable
from analysis.athena.pushdown import AthenaAnalysis
from analysis.athena.render import NotRenderable, local_only_reason
from analysis.engine import FlowEngine
from analysis.formats import DEFAULT_FORMAT, FlowFormat
from analysis.loadstats import LoadStats
from analysis.sources.base import PARQUET, TEXT
from analysis.sources.s3layout import S3Layout
from analysis.window import TimeWindow
from tests.analysis.athena.duckdb_athena import DuckDBAthena
from tests.flowlogs import SAMPLE_LINES

WriteLog = Callable[..., str]
# The analyzer suite's log, with a unique-local IPv6 pair and an ICMP flow besides.
DEFAULT_LINES = [
    *SUITE_LINES[:-2],
    flow("fd00::5", "FD00::6", 40012, 22, 6, 3, 300, 280, "ACCEPT", "eni-ula"),
    flow("10.0.1.1", WEB, 0, 0, 1, 2, 168, 3000, "ACCEPT"),
    *SUITE_LINES[-2:],
]

V5_FIELDS = [
    *DEFAULT_FORMAT.names,
    "tcp-flags",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "flow-direction",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
]


def v5(line: str, flags: int | str, pkt_src: str, pkt_dst: str, direction: str) -> str:
    service = "AMAZON" if pkt_src.startswith("52.") else "-"
    return f"{line} {flags} {pkt_src} {pkt_dst} {direction} {service} -"


V5_LINES = [
    " ".join(V5_FIELDS),
    v5(flow("203.0.113.50", WEB, 50001, 22, 6, 1, 60, 0, "REJECT"), 2, "203.0.113.50", WEB,
       "ingress"),
    v5(flow("203.0.113.50", WEB, 50002, 22, 6, 20, 4000, 20, "ACCEPT"), 19, "203.0.113.50",
       WEB, "ingress"),
    # through a NAT gateway: srcaddr is the gateway, pkt-srcaddr the real source
    v5(flow("10.0.0.9", WEB, 50003, 22, 6, 5, 500, 30, "ACCEPT", "eni-nat"), 2, "198.51.100.7",
       WEB, "ingress"),
    v5(flow(WEB, "52.94.0.1", 40006, 443, 6, 9, 5000, 160, "ACCEPT"), 27, WEB, "52.94.0.1",
       "egress"),
    v5(flow("52.94.0.1", WEB, 443, 40006, 6, 9, 5000, 160, "ACCEPT"), 27, "52.94.0.1", WEB,
       "ingress"),
    v5(flow("2001:db8::99", WEB6, 40004, 22, 6, 7, 700, 120, "ACCEPT", "eni-v6"), 2,
       "2001:db8::99", WEB6, "ingress"),
    v5(flow(WEB, "10.1.5.5", 40001, 3389, 6, 2, 120, 60, "REJECT"), "-", WEB, "10.1.5.5",
       "egress"),
    f"{flow('10.9.9.9', WEB, 1, 2, 6, 1, 1, 5, 'ACCEPT')} - - - - - -",
    # malformed, each in its own way: the local loader drops them, and so must Athena
    f"{flow('203.0.113.50', WEB, 1, 22, 6, 1, 1, 7, 'ACCEPT')} 2 bad::address:: {WEB} ingress - -",
    f"{flow('203.0.113.50', WEB, 1, 22, 6, 1, 1, 7, 'ACCEPT')} 2x 1.2.3.4 {WEB} ingress - -",
    f"{flow('203.0.113.50', WEB, 1, 22, 6, 1, 1, 7, 'DROP')} 2 1.2.3.4 {WEB} ingress - -",
    f"{flow('203.0.113.50', WEB, 1, 99999, 6, 1, 1, 7, 'ACCEPT')} 2 1.2.3.4 {WEB} ingress - -",
    f"{flow('256.1.1.1', WEB, 1, 22, 6, 1, 1, 7, 'ACCEPT')} 2 1.2.3.4 {WEB} ingress - -",
    f"{flow('203.0.113.50', WEB, 1, 22, 6, 1, 1, 7, 'ACCEPT')} 2 1.2.3.4",
    f"2 111122223333 eni-aaa 1.2.3.4 {WEB} 1 22 6 1 1 {T0 + 50} {T0 + 40} ACCEPT OK 2 - - - - -",
    f"2 111122223333 eni-aaa - - - - - - - {T0} {T0 + 60} - NODATA - - - - - -",
]  # fmt: skip

PARAMS: list[dict[str, Any]] = [
    {},
    {"target_ips": [WEB, WEB6], "vpc_cidrs": VPCS, "port": 22},
    {
        "target_cidrs": ["10.0.1.0/24", "2600:1f18:aaaa:1::/64"],
        "target_interfaces": ["eni-v6"],
        "extra_internal_cidrs": ["fd00::/8"],
        "port": 443,
        "rank_by": "bytes",
        "top_n": 2,
        "time_bin_seconds": 60,
        "graph_top_k": 3,
        "sensitive_ports": "22:ssh, 3306, 3389:rdp, 443:https",
    },
    {"target_ips": ["10.0.1.10"], "vpc_cidrs": ["10.0.0.0/8"], "graph_pseudonyms": True},
    {
        # Reference tables inline, and thresholds low enough for every finding type.
        "lookup_table": [[22, 6, "ssh"], [443, 6, "https"], [3306, 6, "O'Brien's \\ db"],
                         [53, 17, "dns"]],
        "cidr_tables": [
            {"name": "cloud", "entries": [
                ["52.94.0.0/16", {"provider": "AMAZON"}],
                ["52.94.0.0/24", {"provider": "AMAZON", "service": "S3"}],  # longest wins
                ["2a05:d018::/32", {"provider": "AMAZON", "region": "eu-west-1"}],
                ["2a05:d018::/48", {"service": "EC2"}],
                ["203.0.113.0/24", {"label": "café 'test'"}],
            ]},
            {"name": "world", "entries": [["0.0.0.0/0", {"label": "IPv4"}],
                                          ["::/0", {"label": "any"}],
                                          ["2001:db8::/32", {"label": "doc"}]]},
        ],
        "thresholds": {
            "bruteforce_min_attempts": 1, "bruteforce_min_per_target": 1,
            "portscan_min_ports": 2, "probe_max_packets": 20, "exfil_min_bytes": 0,
            "exfil_min_ratio": 0, "exfil_min_zscore": 0, "exfil_min_peers": 1,
            "fanout_min_hosts": 1,
        },
    },
]  # fmt: skip
WINDOWS = [
    None,
    TimeWindow(datetime.fromtimestamp(T0 + 25, UTC), datetime.fromtimestamp(T0 + 200, UTC)),
]
NOW = datetime.fromtimestamp(T0 + 4000, UTC)


def athena_table(fmt: FlowFormat, file_format: str = TEXT, *, hive: bool = False) -> AthenaTable:
    return AthenaTable.for_flow_log(
        database="flowlogs",
        flow_log_id="fl-0123456789abcdef0",
        bucket="flow-bucket",
        layout=S3Layout("logs/", "111122223333", "eu-west-1", hive),
        flow_format=fmt,
        file_format=file_format,
    )


class Engines(NamedTuple):
    local: FlowEngine
    stats: LoadStats
    remote: AthenaAnalysis
    athena: DuckDBAthena


def both_engines(
    write_log: WriteLog, lines: list[str], fmt: FlowFormat, window: TimeWindow | None, **kwargs: Any
) -> Engines:
    """The lines loaded by the local engine, and as the Athena table over their file."""
    engine = FlowEngine()
    stats = engine.load_files([write_log(lines)], flow_format=fmt, window=window)
    table = athena_table(fmt, **kwargs)
    athena = DuckDBAthena(table, lines)
    return Engines(engine, stats, AthenaAnalysis(athena, table, window, now=NOW), athena)


def renderable(params: AnalysisParams, columns: set[str]) -> list[str]:
    return [
        analyzer.name
        for analyzer in all_analyzers()
        if local_only_reason(analyzer, params) is None
        and analyzer.is_applicable(params, columns) is None
    ]


def assert_same_results(engines: Engines) -> int:
    """Every renderable analysis with every PARAMS: the same result; returns how many."""
    compared = 0
    names: set[str] = set()
    with engines.local:
        for raw in PARAMS:
            params = AnalysisParams.from_dict(raw)
            for name in renderable(params, engines.remote.columns):
                local = engines.local.run(name, params).to_dict()
                pushed = engines.remote.run(name, params).to_dict()
                assert pushed == local, f"{name} with {raw}"
                compared += 1
                names.add(name)
    assert {"tag-mapping", "cidr-connections", "detections"} <= names
    sent = engines.athena.sent
    assert sent and all(sql.startswith("WITH flows AS (") for sql in sent)
    return compared


@pytest.mark.parametrize("window", WINDOWS, ids=["no-window", "window"])
@pytest.mark.parametrize("file_format", [TEXT, PARQUET])
def test_default_format_gives_the_local_rows(
    write_log: WriteLog, window: TimeWindow | None, file_format: str
) -> None:
    engines = both_engines(
        write_log, DEFAULT_LINES, DEFAULT_FORMAT, window, file_format=file_format
    )
    assert engines.stats.ok == (17 if window is None else 11)
    assert assert_same_results(engines) >= 4 * 12


@pytest.mark.parametrize("window", WINDOWS, ids=["no-window", "window"])
def test_v5_fields_and_malformed_lines_give_the_local_rows(
    write_log: WriteLog, window: TimeWindow | None
) -> None:
    engines = both_engines(write_log, V5_LINES, FlowFormat.of(V5_FIELDS), window)
    assert engines.stats.malformed == 7
    assert assert_same_results(engines) >= 4 * 12


def test_sample_upload_lines_give_the_local_rows(write_log: WriteLog) -> None:
    engines = both_engines(write_log, SAMPLE_LINES, DEFAULT_FORMAT, None)
    assert (engines.stats.ok, engines.stats.malformed, engines.stats.nodata) == (7, 1, 1)
    assert assert_same_results(engines) >= 4 * 12


def test_findings_go_through_athena(write_log: WriteLog) -> None:
    engines = both_engines(write_log, DEFAULT_LINES, DEFAULT_FORMAT, None)
    params = AnalysisParams.from_dict(PARAMS[-1])
    with engines.local:
        local = engines.local.run("detections", params)
    sent = len(engines.athena.sent)
    pushed = engines.remote.run("detections", params)
    assert pushed.to_dict() == local.to_dict()
    assert {finding["type"] for finding in pushed.findings} == {
        "UnauthorizedAccess:EC2/SSHBruteForce", "UnauthorizedAccess:EC2/RDPBruteForce",
        "Recon:EC2/Portscan", "Recon:EC2/PortProbeUnprotectedPort",
        "Exfiltration:EC2/UnusualOutboundVolume", "LateralMovement:EC2/InternalFanOut",
    }  # fmt: skip
    # A fixed few set-based queries per detection of the catalogue (the threat-intel one needs
    # an indicator list; SSH and RDP brute force share one), evidence included: 16 scans,
    # however many findings.
    assert len(engines.athena.sent) - sent == 16


def test_cidr_matches_are_the_longest_prefix_in_athena(write_log: WriteLog) -> None:
    engines = both_engines(write_log, DEFAULT_LINES, DEFAULT_FORMAT, None)
    params = AnalysisParams.from_dict(PARAMS[-1])
    with engines.local:
        local = engines.local.run("cidr-connections", params)
    pushed = engines.remote.run("cidr-connections", params)
    assert pushed.to_dict() == local.to_dict()
    matched = {(row["table"], row["ip"]): row["cidr"] for row in pushed.rows}
    assert matched[("cloud", "52.94.0.1")] == "52.94.0.0/24"
    assert matched[("world", "52.94.0.1")] == "0.0.0.0/0"
    assert matched[("cloud", "2a05:d018::1")] == "2a05:d018::/48"
    assert matched[("world", "2001:db8::99")] == "2001:db8::/32"
    assert matched[("world", "fd00::5")] == "::/0"


def test_reference_tables_too_large_to_inline_stay_local(write_log: WriteLog) -> None:
    engines = both_engines(write_log, DEFAULT_LINES, DEFAULT_FORMAT, None)
    remote = engines.remote
    with engines.local:
        small = AnalysisParams(lookup_table=[(22, 6, "ssh")])
        assert remote.cannot_run("tag-mapping", small) is None
        large = AnalysisParams(lookup_table=[(port, 6, f"tag {port}") for port in range(5000)])
        assert "5,000 rows" in (remote.cannot_run("tag-mapping", large) or "")
        with pytest.raises(NotRenderable, match="local engine"):
            remote.run("tag-mapping", large)
        assert engines.local.run("tag-mapping", large).summary["lookup_entries"] == 5000
        wide = AnalysisParams(cidr_tables=[{"name": "t", "entries": [
            [f"10.{n // 256}.{n % 256}.0/24", {"label": "x" * 60}] for n in range(3000)
        ]}])  # fmt: skip
        assert "bytes of SQL" in (remote.cannot_run("cidr-connections", wide) or "")
        assert "port" in (remote.cannot_run("port-specific", small) or "")


def test_rows_of_other_partitions_are_not_read(write_log: WriteLog) -> None:
    window = WINDOWS[1]
    engines = both_engines(write_log, DEFAULT_LINES, DEFAULT_FORMAT, window)
    raw = engines.remote.table.qualified_name
    # The same records again, as if a file of six days later held them.
    engines.athena.connection.execute(
        f"INSERT INTO {raw} SELECT * REPLACE ('2023/11/20' AS dt) FROM {raw}"
    )
    assert assert_same_results(engines) >= 4 * 12
    everything = AthenaAnalysis(engines.athena, engines.remote.table, None)
    summary = everything.run("traffic-summary", AnalysisParams()).summary
    assert summary["flows"] == 2 * 17  # without a window both partitions are read
