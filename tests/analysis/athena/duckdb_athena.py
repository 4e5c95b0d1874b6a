"""A local stand-in for Athena: Trino SQL translated back to DuckDB by sqlglot, run over a table
holding the flow-log lines as Athena's table over the same files would hold them."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import duckdb
import sqlglot

from analysis.athena.ddl import PARTITION_COLUMN, AthenaTable, hive_type
from analysis.athena.results import QueryResult
from analysis.formats import looks_like_header
from analysis.sources.base import TEXT

_ATHENA_TYPES = {
    "TINYINT": "tinyint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "HUGEINT": "bigint",  # DuckDB sums BIGINTs into HUGEINT; Trino keeps BIGINT
    "UBIGINT": "bigint",
    "DOUBLE": "double",
    "FLOAT": "real",
    "BOOLEAN": "boolean",
    "VARCHAR": "varchar",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone",
}


def athena_type(duckdb_type: str) -> str:
    if duckdb_type.startswith("DECIMAL"):
        return "decimal"
    return _ATHENA_TYPES[duckdb_type]


def athena_text(value: Any) -> str | None:
    """A value as GetQueryResults writes it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        text = value.replace(tzinfo=None).isoformat(sep=" ", timespec="milliseconds")
        return f"{text} UTC" if value.tzinfo is not None else text
    if isinstance(value, Decimal | int | float | str):
        return str(value)
    raise TypeError(f"no Athena text for {value!r}")


class DuckDBAthena:
    """Executes what AthenaAnalysis sends: DDL is recorded, each SELECT is checked to parse as
    Trino, translated to DuckDB and run; results come back as Athena's text values."""

    def __init__(self, table: AthenaTable, lines: list[str], *, dt: str = "2023/11/14") -> None:
        self.table = table
        self.sent: list[str] = []
        self._cte = ""
        # One thread: the tables hold a few dozen rows, and on a busy machine a pool of
        # threads per tiny query costs more than it saves.
        self.connection = duckdb.connect(config={"threads": 1})
        self.connection.execute(f'CREATE SCHEMA "{table.database}"')
        text = table.file_format == TEXT
        columns = [
            f'"{field.column}" {"VARCHAR" if text else _duckdb_type(table, field.column)}'
            for field in table.flow_format
        ]
        self.connection.execute(
            f"CREATE TABLE {table.qualified_name} ({', '.join(columns)}, "
            f"{PARTITION_COLUMN} VARCHAR)"
        )
        width = len(table.flow_format)
        rows = []
        for line in lines:
            if looks_like_header(line):
                continue  # skip.header.line.count = 1
            # Athena's text reader: split on the delimiter, missing fields NULL, extras ignored.
            fields: list[Any] = line.split(" ")[:width]
            fields += [None] * (width - len(fields))
            if not text:
                fields = [None if item == "-" else item for item in fields]
            rows.append([*fields, dt])
        if rows:
            marks = ", ".join("?" for _ in range(width + 1))
            self.connection.executemany(
                f"INSERT INTO {table.qualified_name} VALUES ({marks})", rows
            )

    def execute(self, sql: str, label: str = "") -> QueryResult:
        self.sent.append(sql)
        query_id = str(uuid.uuid4())
        if sql.lstrip().upper().startswith("CREATE"):
            return QueryResult(query_id, [], [], sql=sql)
        cursor = self.connection.execute(self._local_sql(sql))
        fetched = cursor.fetchall()
        description = cursor.description or []
        columns = [(str(item[0]), athena_type(str(item[1]))) for item in description]
        rows = [[athena_text(value) for value in row] for row in fetched]
        return QueryResult(query_id, columns, rows, bytes_scanned=1000, sql=sql)

    def _local_sql(self, sql: str) -> str:
        """The query in DuckDB's dialect. Parsing 13 kB of `flows` CTE takes sqlglot a tenth of
        a second, so each distinct CTE is translated once and materialized as table `flows`;
        the query after it is checked and translated once per distinct text (`trino_to_duckdb`).
        Queries with CTEs of their own were sent whole before, so DuckDB recomputed the 13 kB
        address-parsing CTE in every one of them: 0.8 s a query, most of the pushdown tests'
        time (the suite's slowest file, 860 s of CI time, now about 60 s)."""
        if not sql.startswith("WITH flows AS ("):
            return trino_to_duckdb(sql)
        # The CTE ends at the first line that is ")" alone: followed by the query, or by ","
        # and the query's own CTEs (which then keep their WITH).
        ends = [(sql.find(end), end) for end in _CTE_ENDS if end in sql]
        if not ends:
            return trino_to_duckdb(sql)
        at, end = min(ends)
        cte, query = sql[:at], sql[at + len(end) :]
        if end == _CTE_ENDS[1]:
            query = f"WITH {query}"
        if cte != self._cte:
            local = trino_to_duckdb(cte.removeprefix("WITH flows AS ("))
            self.connection.execute(f"CREATE OR REPLACE TEMP TABLE flows AS {local}")
            self._cte = cte
        return trino_to_duckdb(query)


_CTE_ENDS = ("\n)\n", "\n),\n")


@functools.lru_cache(maxsize=4096)
def trino_to_duckdb(sql: str) -> str:
    """Trino SQL, checked to parse as Trino, in DuckDB's dialect. The translation depends on
    the text alone, and the pushdown tests send the same queries over tables of several
    formats and windows: sqlglot parses each distinct text once per test process (parsing and
    generating took most of those tests' time). The parsed tree is not kept, so the generator
    may work on it in place instead of on a deep copy."""
    return sqlglot.parse_one(sql, read="trino").sql(dialect="duckdb", copy=False)


def _duckdb_type(table: AthenaTable, column: str) -> str:
    field = next(field for field in table.flow_format if field.column == column)
    return {"int": "INTEGER", "bigint": "BIGINT", "string": "VARCHAR"}[
        hive_type(field, table.file_format)
    ]
