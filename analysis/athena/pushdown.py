"""Analyses run in Athena over a flow log's table: the same analyzer definitions as locally."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from analysis.analyzers import AnalysisParams, AnalysisResult, get_analyzer
from analysis.athena.ddl import AthenaTable
from analysis.athena.render import NotRenderable, local_only_reason, render
from analysis.athena.results import QueryExecutor, QueryResult
from analysis.window import TimeWindow


@dataclass
class AthenaAnalysis:
    """Runs analyzers in Athena for one table and time window, keeping every query it ran
    (`queries`: each one's id, rows, bytes scanned and time). Cancellation and the scan
    budget are the executor's (analysis.athena.client.AthenaClient)."""

    executor: QueryExecutor
    table: AthenaTable
    window: TimeWindow | None = None
    now: datetime | None = None
    queries: list[QueryResult] = field(default_factory=list)
    label: str = ""  # the analysis whose queries are running

    @property
    def columns(self) -> set[str]:
        return self.table.columns

    @property
    def flows_sql(self) -> str:
        return self.table.flows_sql(self.window, now=self.now)

    def _execute(self, sql: str, label: str) -> QueryResult:
        result = self.executor.execute(sql, label)
        self.queries.append(result)
        return result

    def prepare(self) -> None:
        """Create the database and the table if they do not exist (DDL scans nothing)."""
        self._execute(self.table.create_database_sql(), "ddl")
        self._execute(self.table.create_table_sql(), "ddl")

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        """One analyzer query (DuckDB SQL over `flows`) run in Athena, as Python rows."""
        return self._execute(render(sql, self.flows_sql), self.label).values()

    def cannot_run(self, name: str, params: AnalysisParams) -> str | None:
        """Why analysis `name` cannot run here (fields missing, input missing, local only)."""
        analyzer = get_analyzer(name)
        reason = analyzer.is_applicable(params, self.columns)
        if reason is not None:
            return reason
        local = local_only_reason(analyzer, params)
        return None if local is None else f"runs only in the local engine: {local}"

    def run(self, name: str, params: AnalysisParams) -> AnalysisResult:
        reason = self.cannot_run(name, params)
        if reason is not None:
            raise NotRenderable(f"analysis {name!r} {reason}")
        self.label = name
        try:
            return get_analyzer(name).analyze_rows(self.fetch, params, self.columns)
        finally:
            self.label = ""

    @property
    def bytes_scanned(self) -> int:
        return sum(query.bytes_scanned for query in self.queries)
