"""Analyzers over the `flows` table, found by name through a registry."""

# The analyzer modules are imported for their @register side effect.
from analysis.analyzers import (  # noqa: F401
    cidr_connections,
    detections,
    external,
    graph,
    origins,
    ports,
    rejected,
    ssh_inbound,
    ssh_outbound,
    tag_mapping,
    time_series,
    top_talkers,
    traffic_summary,
)
from analysis.analyzers.base import (
    Analyzer,
    all_analyzers,
    get_analyzer,
    register,
)
from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.result import AnalysisResult, ResultTable

__all__ = [
    "AnalysisParams",
    "AnalysisResult",
    "Analyzer",
    "ResultTable",
    "all_analyzers",
    "get_analyzer",
    "register",
]
