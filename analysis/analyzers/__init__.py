"""Analyzers over the `flows` table, found by name through a registry."""

from analysis.analyzers.base import Analyzer, all_analyzers, get_analyzer, register
from analysis.analyzers.params import AnalysisParams
from analysis.analyzers.result import AnalysisResult

# Imported for their @register side effect; this order is the display order.
from analysis.analyzers import traffic_summary, ssh_inbound  # noqa: E402, I001, F401

__all__ = [
    "AnalysisParams",
    "AnalysisResult",
    "Analyzer",
    "all_analyzers",
    "get_analyzer",
    "register",
]
