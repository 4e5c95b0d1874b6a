"""The Athena table over a flow log's S3 prefix: layouts, partitions, file formats, names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlglot
from sqlglot import exp

from analysis.athena.ddl import AthenaTable
from analysis.formats import DEFAULT_FORMAT, FlowFormat
from analysis.sources.base import PARQUET, TEXT
from analysis.sources.s3layout import S3Layout
from analysis.window import TimeWindow

ACCOUNT, REGION = "111122223333", "eu-west-1"


def table(*, hive: bool = False, hourly: bool = False, file_format: str = TEXT) -> AthenaTable:
    return AthenaTable(
        database="flowlogs",
        name="vpc_flows",
        bucket="flow-bucket",
        layout=S3Layout("team/", ACCOUNT, REGION, hive),
        flow_format=FlowFormat.of([*DEFAULT_FORMAT.names, "tcp-flags", "pkt-srcaddr"]),
        file_format=file_format,
        hourly=hourly,
    )


def properties(ddl: str) -> dict[str, str]:
    """TBLPROPERTIES of a DDL statement, read back by sqlglot's Hive parser."""
    tree = sqlglot.parse_one(ddl, read="hive")
    assert isinstance(tree, exp.Create)
    return {
        prop.name: prop.args["value"].this
        for prop in tree.find_all(exp.Property)
        if isinstance(prop.args.get("value"), exp.Literal)
    }


DEFAULT_PREFIX = f"s3://flow-bucket/team/AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/"
HIVE_PREFIX = (
    f"s3://flow-bucket/team/AWSLogs/aws-account-id={ACCOUNT}/aws-service=vpcflowlogs/"
    f"aws-region={REGION}/"
)


@pytest.mark.parametrize(
    ("hive", "hourly", "prefix", "java_format", "first", "unit"),
    [
        (False, False, DEFAULT_PREFIX, "yyyy/MM/dd", "2018/06/01", "DAYS"),
        (False, True, DEFAULT_PREFIX, "yyyy/MM/dd/HH", "2018/06/01/00", "HOURS"),
        (True, False, HIVE_PREFIX, "'year='yyyy'/month='MM'/day='dd", "year=2018/month=06/day=01",
         "DAYS"),
        (True, True, HIVE_PREFIX, "'year='yyyy'/month='MM'/day='dd'/hour='HH",
         "year=2018/month=06/day=01/hour=00", "HOURS"),
    ],
)  # fmt: skip
def test_it_projects_the_key_folders_of_each_layout(
    hive: bool, hourly: bool, prefix: str, java_format: str, first: str, unit: str
) -> None:
    ddl = table(hive=hive, hourly=hourly).create_table_sql()
    props = properties(ddl)
    assert props["projection.enabled"] == "true"
    assert props["projection.dt.type"] == "date"
    assert props["projection.dt.format"] == java_format
    assert props["projection.dt.range"] == f"{first},NOW"
    assert props["projection.dt.interval"] == "1"
    assert props["projection.dt.interval.unit"] == unit
    assert props["storage.location.template"] == prefix + "${dt}/"
    assert f'LOCATION "{prefix}"' in ddl
    assert "PARTITIONED BY (`dt` string)" in ddl


def test_the_partition_value_is_the_folder_aws_writes() -> None:
    moment = datetime(2024, 3, 5, 7, 59, tzinfo=UTC)
    layouts = {
        (False, False): "2024/03/05",
        (False, True): "2024/03/05/07",
        (True, False): "year=2024/month=03/day=05",
        (True, True): "year=2024/month=03/day=05/hour=07",
    }
    for (hive, hourly), folder in layouts.items():
        subject = table(hive=hive, hourly=hourly)
        assert subject.partition_value(moment) == folder
        # The same day folder the S3 source lists (plus the hour folder when hourly).
        key = (subject.location + folder + "/").removeprefix("s3://flow-bucket/")
        day_prefix = subject.layout.day_prefix(moment.date())
        assert key == day_prefix if not hourly else key.startswith(day_prefix)
        if hourly:
            assert subject.layout.hour_of(day_prefix, key) == 7


def test_text_tables_read_every_field_as_a_string_and_skip_the_header() -> None:
    ddl = table(file_format=TEXT).create_table_sql()
    tree = sqlglot.parse_one(ddl, read="hive")
    types = {col.name: col.args["kind"].sql(dialect="hive") for col in tree.find_all(exp.ColumnDef)}
    assert types == {name: "STRING" for name in table().flow_format.columns} | {"dt": "STRING"}
    assert properties(ddl)["skip.header.line.count"] == "1"
    assert "FIELDS TERMINATED BY ' '" in ddl


def test_parquet_tables_have_the_types_aws_writes() -> None:
    ddl = table(file_format=PARQUET).create_table_sql()
    tree = sqlglot.parse_one(ddl, read="hive")
    types = {col.name: col.args["kind"].sql(dialect="hive") for col in tree.find_all(exp.ColumnDef)}
    assert types["version"] == "INT"
    assert types["srcport"] == types["dstport"] == types["tcp_flags"] == "INT"
    assert types["protocol"] == "BIGINT"  # INT64 in AWS's Parquet files
    assert types["packets"] == types["bytes"] == types["start"] == types["end"] == "BIGINT"
    assert types["srcaddr"] == types["pkt_srcaddr"] == types["action"] == "STRING"
    assert "STORED AS PARQUET" in ddl
    assert "skip.header.line.count" not in properties(ddl)


def test_a_window_becomes_a_partition_range_with_slack() -> None:
    window = TimeWindow(
        datetime(2024, 3, 5, 0, 5, tzinfo=UTC), datetime(2024, 3, 7, 23, 50, tzinfo=UTC)
    )
    daily = table().partition_predicate(window)
    # 15 minutes of slack on each side: files of 4 March 23:50 and 8 March 00:05 count.
    assert daily == "dt >= '2024/03/04' AND dt <= '2024/03/08'"
    hourly = table(hive=True, hourly=True).partition_predicate(window, slack=timedelta(0))
    assert (
        hourly
        == "dt >= 'year=2024/month=03/day=05/hour=00' AND dt <= 'year=2024/month=03/day=07/hour=23'"
    )
    open_start = table().partition_predicate(TimeWindow(None, window.end), slack=timedelta(0))
    assert open_start == "dt <= '2024/03/07'"
    now = datetime(2024, 3, 9, 12, tzinfo=UTC)
    open_end = table().partition_predicate(TimeWindow(window.start, None), now=now)
    assert open_end == "dt >= '2024/03/04' AND dt <= '2024/03/09'"
    assert table().partition_predicate(None) == "TRUE"


def test_flows_reads_only_the_window_partitions_and_parses_as_trino() -> None:
    window = TimeWindow(datetime(2024, 3, 5, tzinfo=UTC), datetime(2024, 3, 6, tzinfo=UTC))
    sql = table(hive=True).flows_sql(window)
    tree = sqlglot.parse_one(sql, read="trino")
    assert "dt >= 'year=2024/month=03/day=04' AND dt <= 'year=2024/month=03/day=06'" in sql
    assert f'"end" >= {window.start_epoch}' in sql and f'"start" <= {window.end_epoch}' in sql
    names = [select.alias_or_name for select in tree.expressions]
    assert names[: len(table().flow_format)] == table().flow_format.columns
    assert set(names) == table().columns
    assert {"src_ip", "dst_ip", "pkt_src_ip", "src_family", "start_ts", "end_ts"} <= set(names)


def test_the_same_flow_log_reuses_its_table_and_a_changed_one_gets_another() -> None:
    def named(**changes: object) -> str:
        options: dict[str, object] = {
            "database": "flowlogs",
            "flow_log_id": "fl-0AB12",
            "bucket": "flow-bucket",
            "layout": S3Layout("", ACCOUNT, REGION, False),
            "flow_format": DEFAULT_FORMAT,
        }
        options.update(changes)
        return AthenaTable.for_flow_log(**options).name  # type: ignore[arg-type]

    assert named() == named()
    assert named().startswith("flowlogs_fl_0ab12_")
    assert len({named(), named(hourly=True), named(file_format=PARQUET),
                named(flow_format=FlowFormat.of([*DEFAULT_FORMAT.names, "tcp-flags"])),
                named(layout=S3Layout("", ACCOUNT, REGION, True))}) == 5  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"database": "Flow-Logs"}, "not a valid Athena name"),
        ({"name": "x;drop"}, "not a valid Athena name"),
        ({"bucket": "UPPER"}, "not an S3 bucket"),
        ({"layout": S3Layout("it's/", ACCOUNT, REGION, False)}, "quote"),
        ({"file_format": "json"}, "file format"),
    ],
)
def test_it_refuses_names_that_would_break_the_ddl(
    changes: dict[str, object], message: str
) -> None:
    options: dict[str, object] = {
        "database": "flowlogs",
        "name": "vpc_flows",
        "bucket": "flow-bucket",
        "layout": S3Layout("", ACCOUNT, REGION, False),
        "flow_format": DEFAULT_FORMAT,
    }
    options.update(changes)
    with pytest.raises(ValueError, match=message):
        AthenaTable(**options)  # type: ignore[arg-type]
