"""AnalysisResult: one analyzer's table of rows, with totals and an explicit truncation flag."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class AnalysisResult:
    """Rows are plain JSON values; `total_groups` counts groups before top-N truncation."""

    name: str
    title: str
    columns: list[str]
    rows: list[dict[str, Any]]
    total_groups: int
    truncated: bool
    summary: dict[str, Any] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)

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
        }
