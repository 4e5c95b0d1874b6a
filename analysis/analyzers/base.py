"""The Analyzer base class and the registry that finds analyzers by name."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, TypeVar

import duckdb

from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.result import AnalysisResult
from analysis.formats import field_named


class HasConnection(Protocol):
    connection: duckdb.DuckDBPyConnection


FlowSource = HasConnection | duckdb.DuckDBPyConnection


def connection_of(source: FlowSource) -> duckdb.DuckDBPyConnection:
    """The DuckDB connection of a FlowEngine, or the connection itself."""
    if isinstance(source, duckdb.DuckDBPyConnection):
        return source
    return source.connection


class Analyzer:
    """One analysis over the `flows` table: a name, a description and a `run` method.

    Subclasses set the class attributes and implement `analyze`; `run` first checks that the
    loaded logs have the fields the analysis needs.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    required_fields: ClassVar[tuple[str, ...]] = ()
    order: ClassVar[int] = 100  # position in lists shown to users

    def run(self, source: FlowSource, params: AnalysisParams) -> AnalysisResult:
        connection = connection_of(source)
        self.check_fields(connection)
        return self.analyze(connection, params)

    def analyze(
        self, connection: duckdb.DuckDBPyConnection, params: AnalysisParams
    ) -> AnalysisResult:
        raise NotImplementedError

    def check_fields(self, connection: duckdb.DuckDBPyConnection) -> None:
        present = {
            row[0]
            for row in connection.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'flows' AND table_schema = 'main'"
            ).fetchall()
        }
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
