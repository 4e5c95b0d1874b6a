"""VPC flow log analysis engine: formats, loading into DuckDB, analyzers. No Django here.

The names below are imported on first use, so a command line that only parses its arguments
(`flowlogs analyze --help`) never pays for DuckDB and the analyzers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_EXPORTS = {
    "AnalysisParams": "analysis.analyzers",
    "AnalysisResult": "analysis.analyzers",
    "Analyzer": "analysis.analyzers",
    "all_analyzers": "analysis.analyzers",
    "get_analyzer": "analysis.analyzers",
    "FlowEngine": "analysis.engine",
    "DEFAULT_FORMAT": "analysis.formats",
    "FlowFormat": "analysis.formats",
    "LoadStats": "analysis.loadstats",
    "TimeWindow": "analysis.window",
    "parse_time": "analysis.window",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'analysis' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


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
