"""AnalysisResult: one analyzer's table of rows, with totals and an explicit truncation flag."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# What a result column holds, for comparing runs and laying out tables. A *measure* is a number
# aggregated over the row's group (counts, volumes, a detection's severity): it changes when the
# traffic changes. A *detail* describes the group without naming it (when it was seen, a
# finding's wording, which hosts it touched). Every other column is part of the row's *key*: the
# group itself (addresses, ports, protocol, action, a time bin, a finding's type and peer).
MEASURE_COLUMNS: frozenset[str] = frozenset(
    {
        "flows",
        "packets",
        "bytes",
        "count",
        "sources",
        "attempts",
        "established",
        "distinct_ports",
        "distinct_hosts",
        "peers",
        "bytes_sent",
        "bytes_received",
        "accepted",
        "rejected",
        "severity",
    }
)
DETAIL_COLUMNS: frozenset[str] = frozenset(
    {
        "first_seen",
        "last_seen",
        "title",
        "severity_label",
        "targets",
    }
)


def key_columns(columns: list[str]) -> list[str]:
    """The columns that name a row's group, in table order."""
    return [name for name in columns if name not in MEASURE_COLUMNS | DETAIL_COLUMNS]


@dataclass
class ResultTable:
    """A secondary table of a multi-table result (e.g. per-source totals, graph nodes)."""

    name: str
    title: str
    columns: list[str]
    rows: list[dict[str, Any]]
    total_groups: int
    truncated: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "columns": list(self.columns),
            "rows": [dict(row) for row in self.rows],
            "total_groups": self.total_groups,
            "truncated": self.truncated,
        }


@dataclass
class AnalysisResult:
    """Rows are plain JSON values; `total_groups` counts groups before top-N truncation.

    `rows` is the primary table; `tables` holds any further ones. `annotations` maps an
    address shown in the rows to labels about it (alias, kind, organisation), filled by
    analysis.enrich.
    """

    name: str
    title: str
    columns: list[str]
    rows: list[dict[str, Any]]
    total_groups: int
    truncated: bool
    summary: dict[str, Any] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    tables: list[ResultTable] = field(default_factory=list)
    annotations: dict[str, dict[str, Any]] = field(default_factory=dict)

    def table(self, name: str) -> ResultTable:
        return next(table for table in self.tables if table.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "columns": list(self.columns),
            "rows": [dict(row) for row in self.rows],
            "total_groups": self.total_groups,
            "truncated": self.truncated,
            "summary": dict(self.summary),
            "findings": list(self.findings),
            "tables": [table.to_dict() for table in self.tables],
            "annotations": {key: dict(value) for key, value in self.annotations.items()},
        }
