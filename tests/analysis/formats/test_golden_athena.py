"""The documented formats through Athena: the table over a flow log's files, built from its
LogFormat, gives the rows the local loader gives (checked on a local stand-in for Athena)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from analysis.athena.ddl import AthenaTable
from analysis.engine import FlowEngine
from analysis.formats import FlowFormat
from analysis.sources.base import TEXT
from analysis.sources.s3layout import S3Layout
from tests.analysis.athena.duckdb_athena import DuckDBAthena

DATA = Path(__file__).parent / "data"


def table_for(fmt: FlowFormat) -> AthenaTable:
    return AthenaTable.for_flow_log(
        database="flowlogs",
        flow_log_id="fl-0123456789abcdef0",
        bucket="flow-bucket",
        layout=S3Layout("logs/", "111122223333", "us-east-1", False),
        flow_format=fmt,
        file_format=TEXT,
    )


def plain(value: Any, column: str) -> Any:
    """A value of either side as one comparable value (Athena: text; addresses in hex)."""
    if value is None:
        return None
    if column.endswith("_ip"):
        return int(value, 16) if isinstance(value, str) else int(value)
    if column.endswith("_ts"):
        return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


@pytest.mark.parametrize(
    "name",
    [
        "vpc_v10_all_fields.log",
        "transit_gateway.log",
        "nat_gateway.log",
        "unknown_field.log",
        "millisecond_times.log",
    ],
)
def test_athena_gives_the_rows_the_local_loader_gives(name: str) -> None:
    path = DATA / name
    lines = path.read_text().splitlines()
    # As the portal gets it from AWS: the flow log's LogFormat, new fields included.
    log_format = " ".join(f"${{{token}}}" for token in lines[0].split())
    fmt = FlowFormat.parse(log_format, allow_unknown=True)
    table = table_for(fmt)
    create = table.create_table_sql()
    for flow_field in fmt:
        assert f"`{flow_field.column}` string" in create
    athena = DuckDBAthena(table, lines)
    remote = athena.execute(table.flows_sql())
    with FlowEngine() as engine:
        stats = engine.load_files([str(path)])
        cursor = engine.connection.execute("SELECT * FROM flows")
        names = [column[0] for column in cursor.description]
        local = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert len(remote.rows) == stats.ok == len(local)
    compared = [column for column, _ in remote.columns if column in names]
    assert {"start_ts", "src_ip"} <= set(compared)

    def key(row: dict[str, Any]) -> tuple[str, ...]:
        return tuple(repr(plain(row[column], column)) for column in compared)

    remote_rows = [
        dict(zip([c for c, _ in remote.columns], row, strict=True)) for row in remote.rows
    ]
    assert sorted(map(key, remote_rows)) == sorted(map(key, local))
