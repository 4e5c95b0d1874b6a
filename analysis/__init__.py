"""VPC flow log analysis engine: formats, loading into DuckDB, analyzers. No Django here."""

from analysis.analyzers import (
    AnalysisParams,
    AnalysisResult,
    Analyzer,
    all_analyzers,
    get_analyzer,
)
from analysis.engine import FlowEngine
from analysis.formats import DEFAULT_FORMAT, FlowFormat
from analysis.loadstats import LoadStats
from analysis.window import TimeWindow, parse_time

__all__ = [
    "DEFAULT_FORMAT",
    "AnalysisParams",
    "AnalysisResult",
    "Analyzer",
    "FlowEngine",
    "FlowFormat",
    "LoadStats",
    "TimeWindow",
    "all_analyzers",
    "get_analyzer",
    "parse_time",
]
