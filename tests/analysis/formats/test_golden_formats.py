"""Every documented flow log format, loaded from small files written from AWS's documentation:
the fast path and the exact parser must give the same rows, and these exact values."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from analysis.analyzers import AnalysisParams
from analysis.cli import main
from analysis.engine import FlowEngine
from analysis.formats import DEFAULT_FORMAT, TRANSIT_GATEWAY_FORMAT, FlowFormat
from analysis.loadstats import LoadStats

DATA = Path(__file__).parent / "data"


def load(
    paths: list[str], *, fast: bool, flow_format: FlowFormat | None = None
) -> tuple[FlowEngine, LoadStats]:
    engine = FlowEngine()
    engine.fast_path = fast
    stats = engine.load_files(paths, flow_format=flow_format)
    return engine, stats


@pytest.fixture
def both() -> Iterator[Any]:
    """Load files both ways; yields a function returning (stats, rows as dicts) of the fast
    load after checking that the exact parser gave the same."""
    engines: list[FlowEngine] = []

    def run(
        paths: list[str], flow_format: FlowFormat | None = None, method: str = "fast"
    ) -> tuple[LoadStats, list[dict[str, Any]]]:
        results = []
        for fast in (True, False):
            engine, stats = load(paths, fast=fast, flow_format=flow_format)
            engines.append(engine)
            cursor = engine.connection.execute("SELECT * FROM flows ORDER BY ALL")
            names = [column[0] for column in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            results.append((stats, rows))
        (fast_stats, fast_rows), (exact_stats, exact_rows) = results
        assert fast_rows == exact_rows
        fast_dict, exact_dict = fast_stats.to_dict(), exact_stats.to_dict()
        for part in (fast_dict, exact_dict):
            for file in part["files"]:
                file["method"] = ""
        assert fast_dict == exact_dict
        loaded = [file.method for file in fast_stats.files if file.error is None]
        assert loaded == [method] * len(loaded)  # clean files take the fast path
        return fast_stats, fast_rows

    yield run
    for engine in engines:
        engine.close()


def copy(name: str, tmp_path: Path, *, gz: bool = False) -> str:
    target = tmp_path / (name + (".gz" if gz else ""))
    data = (DATA / name).read_bytes()
    target.write_bytes(gzip.compress(data) if gz else data)
    return str(target)


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


def test_the_default_format_examples_of_the_aws_documentation(both: Any, tmp_path: Path) -> None:
    stats, rows = both([copy("vpc_default_v2.log", tmp_path)])
    assert (stats.total, stats.ok, stats.nodata, stats.skipdata, stats.malformed) == (4, 2, 1, 1, 0)
    assert stats.files[0].flow_format == str(DEFAULT_FORMAT)
    assert [(row["srcaddr"], row["dstport"], row["action"]) for row in rows] == [
        ("172.31.16.139", 22, "ACCEPT"),
        ("172.31.9.69", 3389, "REJECT"),
    ]
    assert stats.skipdata_gaps[0].interface_id == "eni-11111111aaaaaaaaa"


@pytest.mark.parametrize("gz", [False, True])
def test_every_field_of_version_10(both: Any, tmp_path: Path, gz: bool) -> None:
    stats, rows = both([copy("vpc_v10_all_fields.log", tmp_path, gz=gz)])
    assert (stats.total, stats.ok, stats.nodata, stats.malformed) == (4, 3, 1, 0)
    assert stats.files[0].notes == []  # every field is known
    ecs, rejected, ipv6 = sorted(rows, key=lambda row: row["start"])
    assert ecs["encryption_status"] == 1
    assert ecs["ecs_task_id"] == "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"
    assert ecs["ecs_service_name"] == "web-svc"
    assert ecs["pkt_dst_aws_service"] == "S3"
    assert ecs["traffic_path"] == 8
    assert ecs["flow_direction"] == "egress"
    assert ecs["start_ts"] == at(1700000000)
    assert rejected["reject_reason"] == "BPA"
    assert rejected["encryption_status"] == 0
    assert rejected["instance_id"] == "i-0123456789abcdef0"
    assert ipv6["resource_id"] == "eni-0f1e2d3c4b5a69788"
    assert ipv6["encryption_status"] == 3
    assert (ipv6["src_family"], ipv6["type"]) == (6, "IPv6")
    # The packet-level addresses are integers as well, next to their text.
    assert ipv6["pkt_src_ip"] == ipv6["src_ip"]
    assert ecs["pkt_dst_ip"] == ecs["dst_ip"]


@pytest.mark.parametrize("gz", [False, True])
def test_transit_gateway_flow_logs(both: Any, tmp_path: Path, gz: bool) -> None:
    stats, rows = both([copy("transit_gateway.log", tmp_path, gz=gz)])
    assert stats.files[0].flow_format == str(TRANSIT_GATEWAY_FORMAT)
    assert (stats.total, stats.ok, stats.nodata, stats.malformed) == (4, 3, 1, 0)
    by_port = {row["dstport"]: row for row in rows}
    spoke = by_port[443]
    assert spoke["resource_type"] == "TransitGateway"
    assert spoke["tgw_id"] == "tgw-0123456789abcdef0"
    assert spoke["tgw_src_vpc_account_id"] == "111111111111"
    assert spoke["tgw_pair_attachment_id"] == "tgw-attach-0f1e2d3c4b5a69788"
    assert (spoke["bytes"], spoke["end_ts"]) == (5200, at(1700000060))
    blackholed = by_port[5432]
    assert blackholed["packets_lost_blackhole"] == 4
    assert blackholed["tgw_dst_vpc_id"] is None  # `-`
    assert by_port[49153]["packets_lost_mtu_exceeded"] == 2
    assert by_port[49153]["dst_family"] == 6


def transit_gateway_parquet(tmp_path: Path) -> str:
    """The Transit Gateway records as AWS writes them to Parquet: columns with underscores,
    the types AWS documents (INT_32 ports and counters of version, INT_64 counts and times)."""
    target = tmp_path / "tgw.parquet"
    ints = {"version", "srcport", "dstport", "tcp_flags"}
    longs = {
        "protocol", "packets", "bytes", "start", "end",
        "packets_lost_no_route", "packets_lost_blackhole",
        "packets_lost_mtu_exceeded", "packets_lost_ttl_expired",
    }  # fmt: skip
    columns = [field.parquet_column for field in TRANSIT_GATEWAY_FORMAT]
    casts = ", ".join(
        f"CAST(NULLIF(column{n:02d}, '-') AS "
        f'{"INTEGER" if name in ints else "BIGINT" if name in longs else "VARCHAR"}) AS "{name}"'
        for n, name in enumerate(columns)
    )
    source = DATA / "transit_gateway.log"
    duckdb.execute(
        f"COPY (SELECT {casts} FROM read_csv('{source}', delim=' ', header=true, "
        f"all_varchar=true, columns={{{', '.join(f'{chr(39)}column{n:02d}{chr(39)}: {chr(39)}VARCHAR{chr(39)}' for n in range(len(columns)))}}})) "
        f"TO '{target}' (FORMAT PARQUET)"
    )
    return str(target)


def test_transit_gateway_flow_logs_in_parquet(both: Any, tmp_path: Path) -> None:
    parquet_stats, parquet_rows = both([transit_gateway_parquet(tmp_path)])
    _, text_rows = both([copy("transit_gateway.log", tmp_path)])
    assert parquet_stats.files[0].compression == "parquet"
    assert parquet_stats.files[0].flow_format == str(TRANSIT_GATEWAY_FORMAT)
    assert parquet_rows == text_rows


def test_an_unknown_field_is_kept_as_text_with_a_note(both: Any, tmp_path: Path) -> None:
    stats, rows = both([copy("unknown_field.log", tmp_path)])
    assert (stats.total, stats.ok, stats.malformed) == (2, 2, 0)
    assert stats.files[0].notes == [
        "fields not known here, kept as text and not analysed: next-hop-interface-type"
    ]
    assert stats.notes == [f"unknown_field.log: {stats.files[0].notes[0]}"]
    assert stats.to_dict()["files"][0]["notes"] == stats.files[0].notes
    assert [row["extra_next_hop_interface_type"] for row in rows] == ["internet-gateway", None]
    assert [row["flow_direction"] for row in rows] == ["egress", "ingress"]


def test_an_unknown_parquet_column_is_kept_as_text_too(both: Any, tmp_path: Path) -> None:
    target = tmp_path / "extra.parquet"
    duckdb.execute(
        "COPY (SELECT 2 AS version, '10.0.1.25' AS srcaddr, '198.51.100.10' AS dstaddr, "
        'CAST(1700000000 AS BIGINT) AS start, CAST(1700000060 AS BIGINT) AS "end", '
        f"'rt-0abc' AS next_hop_route_table_id, 42 AS \"Not A Field\") TO '{target}' (FORMAT PARQUET)"
    )
    stats, rows = both([str(target)])
    assert stats.files[0].notes == [
        "fields not known here, kept as text and not analysed: next-hop-route-table-id"
    ]
    assert rows[0]["extra_next_hop_route_table_id"] == "rt-0abc"
    assert "Not A Field" not in rows[0]


def test_millisecond_times_are_read_as_seconds(both: Any, tmp_path: Path) -> None:
    # The fast path refuses times past year 9999 in seconds; the exact parser reads them as
    # milliseconds and says so.
    stats, rows = both([copy("millisecond_times.log", tmp_path)], method="exact")
    assert (stats.ok, stats.malformed) == (2, 0)
    assert [(row["start"], row["end"]) for row in rows] == [
        (1700000000, 1700000060),
        (1700000000, 1700000060),
    ]
    assert rows[0]["start_ts"] == at(1700000000)
    assert stats.files[0].notes == ["1 records give start/end in milliseconds; read as seconds"]
    assert stats.first_seen == datetime.fromtimestamp(1700000000, UTC)


def cloudwatch_export(tmp_path: Path) -> str:
    """The export as Firehose writes it to S3: each payload its own gzip member."""
    text = (DATA / "cloudwatch_subscription.json").read_text()
    decoder, at_, members = json.JSONDecoder(), 0, []
    while at_ < len(text.strip()):
        document, end = decoder.raw_decode(text, at_)
        members.append(gzip.compress(json.dumps(document).encode()))
        at_ = end
        while at_ < len(text) and text[at_].isspace():
            at_ += 1
    target = tmp_path / "firehose-delivery-1"
    target.write_bytes(b"".join(members))
    return str(target)


def test_cloudwatch_subscription_exports(both: Any, tmp_path: Path) -> None:
    plain = copy("cloudwatch_subscription.json", tmp_path)
    gz = cloudwatch_export(tmp_path)
    stats, rows = both([plain, gz])
    assert [file.container for file in stats.files] == ["cloudwatch", "cloudwatch"]
    assert [file.compression for file in stats.files] == ["none", "gzip"]
    assert (stats.total, stats.ok, stats.nodata, stats.malformed) == (10, 8, 2, 0)
    assert stats.files[0].notes == [
        "CloudWatch Logs subscription export: 5 log events in 2 data messages; line numbers "
        "count log events; 1 control messages skipped"
    ]
    assert sorted({(row["srcaddr"], row["dstport"]) for row in rows}) == [
        ("10.0.1.25", 443),
        ("10.0.1.25", 5432),
        ("198.51.100.10", 40218),
        ("203.0.113.77", 22),
    ]


def test_a_cloudwatch_export_of_a_custom_format_needs_its_format(tmp_path: Path) -> None:
    document = {
        "messageType": "DATA_MESSAGE",
        "logEvents": [{"id": "1", "timestamp": 1700000000000, "message": "10.0.1.25 443 ACCEPT"}],
    }
    path = tmp_path / "custom.json"
    path.write_text(json.dumps(document))
    engine, stats = load([str(path)], fast=True)
    with engine:
        assert "matches no flow log format" in str(stats.files[0].error)
        assert "first log event" in str(stats.files[0].error)
        stats = engine.load_files(
            [str(path)], flow_format=FlowFormat.of(["srcaddr", "dstport", "action"])
        )
        assert (stats.ok, stats.files[0].error) == (1, None)


def test_damaged_cloudwatch_json_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text('{"messageType": "DATA_MESSAGE", "logEvents": [{"id": "1", "mess')
    other = tmp_path / "other.json"
    other.write_text('{"messageType": "DATA_MESSAGE", "logGroup": "x"}')
    engine, stats = load([str(path), str(other)], fast=True)
    with engine:
        assert str(stats.files[0].error).startswith(
            "cannot read cut.json as a CloudWatch Logs export: JSON document 1 is not valid JSON"
        )
        assert "no logEvents list" in str(stats.files[1].error)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (
            "not_a_flow_log.txt",
            "matches no flow log format: no header line naming its fields, and none of its "
            "first 2 lines is a default-format (version 2) record ('Date,Source,Destination,"
            "Bytes'); give its format if it is a custom one",
        ),
        (
            "unknown_header.log",
            "matches no flow log format: its first line reads like a header but names fields "
            "not known here (timestamp, src_ip, dst_ip, bytes_sent)",
        ),
    ],
)
def test_a_file_that_matches_no_format_fails_with_the_reason(
    tmp_path: Path, name: str, reason: str
) -> None:
    engine, stats = load([copy(name, tmp_path)], fast=True)
    with engine:
        assert stats.files[0].error == reason
        assert (stats.total, stats.malformed) == (0, 0)
        assert engine.record_count() == 0


def test_a_given_format_that_matches_no_line_fails(tmp_path: Path) -> None:
    fmt = FlowFormat.of(["version", "srcaddr", "dstaddr"])
    engine, stats = load([copy("vpc_default_v2.log", tmp_path)], fast=True, flow_format=fmt)
    with engine:
        assert str(stats.files[0].error).startswith(
            "matches no flow log format: none of its first 4 lines is a record of the format given"
        )


def test_a_default_file_with_bad_lines_still_loads_them_as_malformed(tmp_path: Path) -> None:
    source = (DATA / "vpc_default_v2.log").read_text().splitlines()
    path = tmp_path / "some-bad.log"
    path.write_text("\n".join(["garbage here", *source, "2 x y"]) + "\n")
    engine, stats = load([str(path)], fast=True)
    with engine:
        assert stats.files[0].error is None
        assert (stats.ok, stats.malformed) == (2, 2)


def test_files_of_every_format_load_into_one_table(tmp_path: Path) -> None:
    names = ["vpc_default_v2.log", "vpc_v10_all_fields.log", "transit_gateway.log"]
    paths = [copy(name, tmp_path) for name in names] + [cloudwatch_export(tmp_path)]
    shutil.copy(DATA / "unknown_field.log", tmp_path / "u.log")
    paths.append(str(tmp_path / "u.log"))
    engine, stats = load(paths, fast=True)
    with engine:
        assert [file.error for file in stats.files] == [None] * 5
        assert stats.ok == 2 + 3 + 3 + 4 + 2
        columns = set(engine.columns())
        assert {"tgw_id", "encryption_status", "extra_next_hop_interface_type"} <= columns


def test_a_nat_gateways_records_count_as_the_instances_external_traffic(tmp_path: Path) -> None:
    """AWS's NAT gateway example, as logged on the NAT gateway's interface only: the instance
    (10.0.1.5) talks to 10.0.0.220 (the NAT gateway) and pkt-dstaddr names the internet host
    (203.0.113.5). Its external traffic is judged on the packet's address, and the results
    keep both addresses."""
    engine, _ = load([copy("nat_gateway.log", tmp_path)], fast=True)
    with engine:
        params = AnalysisParams(target_ips=["10.0.1.5"], vpc_cidrs=["10.0.0.0/16"])
        outbound = engine.run("external-outbound", params)
        assert [
            (row["dstaddr"], row["pkt_dstaddr"], row["dstport"], row["bytes"])
            for row in outbound.rows
        ] == [("10.0.0.220", "203.0.113.5", 443, 1400)]
        inbound = engine.run("external-inbound", params)
        assert [(row["srcaddr"], row["pkt_srcaddr"], row["bytes"]) for row in inbound.rows] == [
            ("10.0.0.220", "203.0.113.5", 9800)
        ]
        # Without a target, the NAT gateway's own side of the conversation counts too.
        summary = engine.run("top-external", AnalysisParams(vpc_cidrs=["10.0.0.0/16"]))
        assert sorted(
            (
                row["direction"],
                row["srcaddr"],
                row["pkt_srcaddr"],
                row["dstaddr"],
                row["pkt_dstaddr"],
            )
            for row in summary.rows
        ) == [
            ("inbound", "10.0.0.220", "203.0.113.5", "10.0.1.5", "10.0.1.5"),
            ("inbound", "203.0.113.5", "203.0.113.5", "10.0.0.220", "10.0.0.220"),
            ("outbound", "10.0.0.220", "10.0.0.220", "203.0.113.5", "203.0.113.5"),
            ("outbound", "10.0.1.5", "10.0.1.5", "10.0.0.220", "203.0.113.5"),
        ]


def test_the_command_line_reads_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = [copy("transit_gateway.log", tmp_path), cloudwatch_export(tmp_path)]
    paths.append(copy("unknown_field.log", tmp_path))
    args = [arg for path in paths for arg in ("--log-file", path)]
    assert main([*args, "--analysis", "traffic-summary", "--format", "json"]) == 0
    output = json.loads(capsys.readouterr().out)
    files = output["records"]["files"]
    assert [file["container"] for file in files] == ["text", "cloudwatch", "text"]
    assert output["records"]["ok"] == 3 + 4 + 2
    assert files[2]["notes"] == [
        "fields not known here, kept as text and not analysed: next-hop-interface-type"
    ]
    # A file that matches no format: reported with the reason, and status 1 when none loads.
    assert main(["--log-file", copy("not_a_flow_log.txt", tmp_path), "--analysis", "all"]) == 1
    assert "matches no flow log format" in capsys.readouterr().out


def test_the_command_lines_table_output_shows_the_notes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = copy("unknown_field.log", tmp_path)
    assert main(["--log-file", path, "--analysis", "traffic-summary"]) == 0
    assert (
        "note unknown_field.log: fields not known here, kept as text and not analysed: "
        "next-hop-interface-type" in capsys.readouterr().out
    )
