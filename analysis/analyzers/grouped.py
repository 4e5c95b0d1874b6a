"""GroupedAnalyzer: count, top-N rank and total the flows matching a condition, per group."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from analysis.addresses import address_value, int_to_ip
from analysis.analyzers.base import Analyzer, FetchRows
from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.result import AnalysisResult
from analysis.protocols import protocol_name


def address_text(value: Any) -> str | None:
    return None if value is None else int_to_ip(address_value(value))


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


RANK_MEASURES = ("flows", "packets", "bytes")


def rank_order(rank: str, keys: tuple[OutputColumn, ...]) -> list[str]:
    """ORDER BY terms: the rank measure, then flows or bytes, then the keys (stable)."""
    measures = [rank] + [name for name in ("flows", "bytes") if name != rank]
    return [f"{name} DESC" for name in measures] + [f'"{key.key}" ASC' for key in keys]


def grouped_sql(
    *,
    keys: tuple[OutputColumn, ...],
    extras: tuple[OutputColumn, ...] = (),
    condition: str = "TRUE",
    source: str = "flows",
    rank: str = "flows",
    limit: int | None = None,
) -> str:
    """Groups with their measures and totals, ranked, in SQL DuckDB and Trino both run.

    `source` is `flows` or a parenthesised subquery with an alias that has the columns the
    keys and measures use (packets, bytes, start_ts, end_ts...).
    """
    # Output names are quoted: some are SQL keywords ("table").
    key_sql = [f'{key.sql} AS "{key.key}"' for key in keys]
    aggregates = [f'{col.sql} AS "{col.key}"' for col in (*MEASURES, *extras)]
    outer = [f'"{col.key}"' for col in (*keys, *MEASURES, *extras)]
    group_by = f"    GROUP BY {', '.join(key.sql for key in keys)}\n" if keys else ""
    limit_sql = f"\nLIMIT {int(limit)}" if limit is not None else ""
    # The totals come from one aggregate over the groups, not window functions: a window
    # over every group materialises and sorts them all, where ORDER BY ... LIMIT keeps a top-N.
    return (
        f"WITH grouped_rows AS (\n"
        f"    SELECT {', '.join(key_sql + aggregates)}\n"
        f"    FROM {source}\n"
        f"    WHERE {condition}\n"
        f"{group_by}"
        f")\n"
        f"SELECT {', '.join(f'grouped_rows.{name}' for name in outer)},\n"
        "       totals.total_groups, totals.total_flows, totals.total_packets,\n"
        "       totals.total_bytes\n"
        "FROM grouped_rows CROSS JOIN (\n"
        "    SELECT COUNT(*) AS total_groups, SUM(flows) AS total_flows,\n"
        "           SUM(packets) AS total_packets, SUM(bytes) AS total_bytes\n"
        "    FROM grouped_rows\n"
        ") AS totals\n"
        f"ORDER BY {', '.join(rank_order(rank, keys))}"
        f"{limit_sql}"
    )


@dataclass
class GroupedRows:
    """Rows of a grouped query, with the number of groups and totals before truncation."""

    columns: list[str]
    rows: list[dict[str, Any]]
    total_groups: int
    flows: int
    packets: int
    bytes: int

    @property
    def truncated(self) -> bool:
        return self.total_groups > len(self.rows)

    def totals(self) -> dict[str, int]:
        return {"flows": self.flows, "packets": self.packets, "bytes": self.bytes}


def run_grouped(
    fetch: FetchRows,
    *,
    keys: tuple[OutputColumn, ...],
    extras: tuple[OutputColumn, ...] = (),
    condition: str = "TRUE",
    source: str = "flows",
    rank: str = "flows",
    limit: int | None = None,
) -> GroupedRows:
    """Run grouped_sql and convert its rows to plain JSON values."""
    outputs = (*keys, *MEASURES, *extras)
    sql = grouped_sql(
        keys=keys, extras=extras, condition=condition, source=source, rank=rank, limit=limit
    )
    fetched = fetch(sql)
    rows = [
        {col.key: col.convert(value) for col, value in zip(outputs, record, strict=False)}
        for record in fetched
    ]
    total_groups = int(fetched[0][len(outputs)]) if fetched else 0
    totals = fetched[0][len(outputs) + 1 :] if fetched else (0, 0, 0)
    return GroupedRows(
        columns=[col.key for col in outputs],
        rows=rows,
        total_groups=total_groups,
        flows=int(totals[0] or 0),
        packets=int(totals[1] or 0),
        bytes=int(totals[2] or 0),
    )


class GroupedAnalyzer(Analyzer):
    """Subclasses name their group keys, extra aggregates and WHERE condition.

    Keys and extras may depend on the columns the logs have (`group_keys`, `extra_columns`);
    `rank` fixes the ranking measure for analyses defined by one (top-external: bytes).
    """

    keys: ClassVar[tuple[OutputColumn, ...]] = ()
    extras: ClassVar[tuple[OutputColumn, ...]] = ()
    rank: ClassVar[str | None] = None
    local_only = ""
    packet_addresses = True

    def condition(self, params: AnalysisParams, columns: Collection[str] = frozenset()) -> str:
        """SQL boolean over `flows` selecting the records to count."""
        return "TRUE"

    def group_keys(
        self, params: AnalysisParams, columns: Collection[str]
    ) -> tuple[OutputColumn, ...]:
        return self.keys

    def extra_columns(
        self, params: AnalysisParams, columns: Collection[str]
    ) -> tuple[OutputColumn, ...]:
        return self.extras

    def source(self, params: AnalysisParams, columns: Collection[str]) -> str:
        """The relation to group: `flows`, or a subquery over it."""
        return "flows"

    def rank_measure(self, params: AnalysisParams) -> str:
        return self.rank or params.rank_by

    def summarize(self, params: AnalysisParams, columns: Collection[str]) -> dict[str, Any]:
        """Extra summary entries (scope, notes); none by default."""
        return {}

    def analyze_rows(
        self, fetch: FetchRows, params: AnalysisParams, columns: Collection[str]
    ) -> AnalysisResult:
        return self.grouped_result(fetch, params, columns, self.source(params, columns))

    def grouped_result(
        self, fetch: FetchRows, params: AnalysisParams, columns: Collection[str], source: str
    ) -> AnalysisResult:
        """The analysis over relation `source` (see `source`)."""
        grouped = run_grouped(
            fetch,
            keys=self.group_keys(params, columns),
            extras=self.extra_columns(params, columns),
            condition=self.condition(params, columns),
            source=source,
            rank=self.rank_measure(params),
            limit=params.top_n,
        )
        summary = {
            **grouped.totals(),
            "groups": grouped.total_groups,
            "rank_by": self.rank_measure(params),
            "top_n": params.top_n,
            **self.summarize(params, columns),
        }
        return AnalysisResult(
            name=self.name,
            title=self.title,
            columns=grouped.columns,
            rows=grouped.rows,
            total_groups=grouped.total_groups,
            truncated=grouped.truncated,
            summary=summary,
        )
