"""The Analyzer base class and the registry that finds analyzers by name."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, ClassVar, Protocol, TypeVar

import duckdb

from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.result import AnalysisResult
from analysis.analyzers.scope import ensure_packet_addresses
from analysis.engine import flows_schema
from analysis.formats import field_named


class HasConnection(Protocol):
    connection: duckdb.DuckDBPyConnection


FlowSource = HasConnection | duckdb.DuckDBPyConnection


# Runs one SELECT over `flows` and returns its rows: the local DuckDB connection, or another
# engine (Athena) whose values come back as DuckDB would give them, except that addresses may
# come back in that engine's form (see analysis.addresses.address_value).
FetchRows = Callable[[str], list[tuple[Any, ...]]]


def duckdb_rows(connection: duckdb.DuckDBPyConnection) -> FetchRows:
    def fetch(sql: str) -> list[tuple[Any, ...]]:
        return connection.execute(sql).fetchall()

    return fetch


def connection_of(source: FlowSource) -> duckdb.DuckDBPyConnection:
    """The DuckDB connection of a FlowEngine, or the connection itself."""
    if isinstance(source, duckdb.DuckDBPyConnection):
        return source
    return source.connection


def flow_columns(source: FlowSource) -> set[str]:
    """Column names of the `flows` table."""
    return {name for name, _ in flows_schema(connection_of(source))}


class Analyzer:
    """One analysis over the `flows` table: a name, a description and a `run` method.

    Subclasses set the class attributes and implement `analyze_rows`, or override `analyze`
    when the analysis needs steps only the local engine has; `run` first checks that the
    loaded logs have the fields the analysis needs and that the parameters give it its inputs
    (`is_applicable`). `optional_fields` are used when present (e.g. tcp-flags).
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    required_fields: ClassVar[tuple[str, ...]] = ()
    optional_fields: ClassVar[tuple[str, ...]] = ()
    needs: ClassVar[str] = ""  # the parameter input it needs, in words, for describe()
    order: ClassVar[int] = 100  # position in lists shown to users
    # Why only the local engine can run this analysis; empty when `analyze_rows` is its whole
    # definition, so any engine that answers SELECTs over `flows` (Athena) can run it too.
    local_only: ClassVar[str] = "it needs steps only the local DuckDB engine has"
    # Whether the SQL matches on the integer pkt_src_ip/pkt_dst_ip columns, which a `flows`
    # loaded by an older version lacks: `local_columns` then adds them first.
    packet_addresses: ClassVar[bool] = False

    def run(self, source: FlowSource, params: AnalysisParams) -> AnalysisResult:
        connection = connection_of(source)
        self.check_fields(connection)
        reason = self.missing_input(params)
        if reason is not None:
            raise ValueError(f"analysis {self.name!r} {reason}")
        return self.analyze(connection, params)

    def local_only_for(self, params: AnalysisParams) -> str | None:
        """Why only the local engine can run this analysis with these parameters (e.g.
        reference data too large to go inline in a query), or None."""
        return self.local_only or None

    def missing_input(self, params: AnalysisParams) -> str | None:
        """Why the parameters do not let this analysis run (e.g. "needs a port"), or None."""
        return None

    def is_applicable(self, params: AnalysisParams, columns: Collection[str]) -> str | None:
        """None when the analysis can run on logs with `columns` and these parameters, else why.

        `columns` are flows-table column names (underscores) or AWS field names (dashes).
        """
        present = {name.replace("-", "_") for name in columns}
        missing = [name for name in self.required_fields if field_named(name).column not in present]
        if missing:
            return f"needs flow log field(s) {', '.join(missing)}, which the logs do not have"
        return self.missing_input(params)

    def analyze(
        self, connection: duckdb.DuckDBPyConnection, params: AnalysisParams
    ) -> AnalysisResult:
        """The analysis on the local engine: `analyze_rows` over the connection's `flows`."""
        return self.analyze_rows(duckdb_rows(connection), params, self.local_columns(connection))

    def local_columns(self, connection: duckdb.DuckDBPyConnection) -> set[str]:
        """The flows columns `analyze` passes on (see `packet_addresses`)."""
        columns = flow_columns(connection)
        if self.packet_addresses:
            columns = ensure_packet_addresses(connection, columns)
        return columns

    def analyze_rows(
        self, fetch: FetchRows, params: AnalysisParams, columns: Collection[str]
    ) -> AnalysisResult:
        """The analysis as a fixed few SELECTs over `flows` (each through `fetch`) and Python
        over their rows; `columns` are the flows columns. Only when `local_only` is empty."""
        raise NotImplementedError(f"analysis {self.name!r} runs only locally: {self.local_only}")

    def check_fields(self, connection: duckdb.DuckDBPyConnection) -> None:
        present = flow_columns(connection)
        missing = [name for name in self.required_fields if field_named(name).column not in present]
        if missing:
            raise ValueError(
                f"analysis {self.name!r} needs flow log field(s) {', '.join(missing)}, "
                "which the loaded logs do not have"
            )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "required_fields": list(self.required_fields),
            "optional_fields": list(self.optional_fields),
            "needs": self.needs,
        }


_REGISTRY: dict[str, Analyzer] = {}

AnalyzerType = TypeVar("AnalyzerType", bound=type[Analyzer])


def register(cls: AnalyzerType) -> AnalyzerType:
    """Class decorator: make the analyzer available under its `name` (in definition order)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in _REGISTRY:
        raise ValueError(f"an analyzer named {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls()
    return cls


def get_analyzer(name: str) -> Analyzer:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"unknown analysis {name!r}; known analyses: "
            + ", ".join(analyzer.name for analyzer in all_analyzers())
        ) from None


def all_analyzers() -> list[Analyzer]:
    """Every registered analyzer, in display order."""
    return sorted(_REGISTRY.values(), key=lambda analyzer: (analyzer.order, analyzer.name))
