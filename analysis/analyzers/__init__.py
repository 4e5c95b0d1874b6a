"""Analyzers over the `flows` table, found by name through a registry."""

# The analyzer modules are imported for their @register side effect.
from analysis.analyzers import ssh_inbound, traffic_summary  # noqa: F401
from analysis.analyzers.base import Analyzer, all_analyzers, get_analyzer, register
from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.result import AnalysisResult

__all__ = [
    "AnalysisParams",
    "AnalysisResult",
    "Analyzer",
    "all_analyzers",
    "get_analyzer",
    "register",
]
