"""GroupedAnalyzer: count, top-N rank and total the flows matching a condition, per group."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import duckdb

from analysis.addresses import int_to_ip
from analysis.analyzers.base import Analyzer
from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.result import AnalysisResult
from analysis.protocols import protocol_name


def address_text(value: Any) -> str | None:
    return None if value is None else int_to_ip(int(value))


def iso_time(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (
            value.replace(tzinfo=UTC).isoformat()
            if value.tzinfo is None
            else (value.astimezone(UTC).isoformat())
        )
    return str(value)


def plain_int(value: Any) -> int | None:
    return None if value is None else int(value)


def plain_text(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class OutputColumn:
    """A result column: its row key, the SQL that computes it, and how to make it plain JSON."""

    key: str
    sql: str
    convert: Callable[[Any], Any] = plain_text


# Group keys that analyzers share; the SQL is column names Trino also has.
SRCADDR = OutputColumn("srcaddr", "src_ip", address_text)
DSTADDR = OutputColumn("dstaddr", "dst_ip", address_text)
SRCPORT = OutputColumn("srcport", "srcport", plain_int)
DSTPORT = OutputColumn("dstport", "dstport", plain_int)
PROTOCOL = OutputColumn("protocol", "protocol", protocol_name)
ACTION = OutputColumn("action", "action", plain_text)

MEASURES: tuple[OutputColumn, ...] = (
    OutputColumn("flows", "COUNT(*)", plain_int),
    OutputColumn("packets", "COALESCE(SUM(packets), 0)", plain_int),
    OutputColumn("bytes", "COALESCE(SUM(bytes), 0)", plain_int),
)
FIRST_SEEN = OutputColumn("first_seen", "MIN(start_ts)", iso_time)
LAST_SEEN = OutputColumn("last_seen", "MAX(end_ts)", iso_time)


class GroupedAnalyzer(Analyzer):
    """Subclasses name their group keys, extra aggregates and WHERE condition."""

    keys: ClassVar[tuple[OutputColumn, ...]] = ()
    extras: ClassVar[tuple[OutputColumn, ...]] = ()

    def condition(self, params: AnalysisParams) -> str:
        """SQL boolean over `flows` selecting the records to count."""
        return "TRUE"

    def build_sql(self, params: AnalysisParams) -> str:
        """Top-N groups with window totals, in SQL both DuckDB and Athena/Trino run."""
        key_sql = [f"{key.sql} AS {key.key}" for key in self.keys]
        aggregates = [f"{col.sql} AS {col.key}" for col in (*MEASURES, *self.extras)]
        outer = [col.key for col in (*self.keys, *MEASURES, *self.extras)]
        first, second = ("bytes", "flows") if params.rank_by == "bytes" else ("flows", "bytes")
        order = [f"{first} DESC", f"{second} DESC"] + [f"{key.key} ASC" for key in self.keys]
        return (
            f"SELECT {', '.join(outer)},\n"
            "       COUNT(*) OVER () AS total_groups,\n"
            "       SUM(flows) OVER () AS total_flows,\n"
            "       SUM(packets) OVER () AS total_packets,\n"
            "       SUM(bytes) OVER () AS total_bytes\n"
            f"FROM (\n"
            f"    SELECT {', '.join(key_sql + aggregates)}\n"
            f"    FROM flows\n"
            f"    WHERE {self.condition(params)}\n"
            f"    GROUP BY {', '.join(key.sql for key in self.keys)}\n"
            f") AS grouped\n"
            f"ORDER BY {', '.join(order)}\n"
            f"LIMIT {int(params.top_n)}"
        )

    def analyze(
        self, connection: duckdb.DuckDBPyConnection, params: AnalysisParams
    ) -> AnalysisResult:
        outputs = (*self.keys, *MEASURES, *self.extras)
        cursor = connection.execute(self.build_sql(params))
        fetched = cursor.fetchall()
        rows = [
            {col.key: col.convert(value) for col, value in zip(outputs, record, strict=False)}
            for record in fetched
        ]
        total_groups = int(fetched[0][len(outputs)]) if fetched else 0
        totals = fetched[0][len(outputs) + 1 :] if fetched else (0, 0, 0)
        summary = {
            "flows": int(totals[0] or 0),
            "packets": int(totals[1] or 0),
            "bytes": int(totals[2] or 0),
            "groups": total_groups,
            "rank_by": params.rank_by,
            "top_n": params.top_n,
        }
        return AnalysisResult(
            name=self.name,
            title=self.title,
            columns=[col.key for col in outputs],
            rows=rows,
            total_groups=total_groups,
            truncated=total_groups > len(rows),
            summary=summary,
        )
