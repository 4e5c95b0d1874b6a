"""What every engine gives the pipeline: the loaded flows, how the load went, what was read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from analysis.analyzers import AnalysisParams
from analysis.analyzers.result import AnalysisResult
from analysis.athena.client import QueryCancelled
from analysis.loadstats import LoadStats
from investigations.runs.context import RunContext
from investigations.runs.progress import ANALYSE_SHARE, Progress, RunCancelled


class FlowSource(Protocol):
    """Where the analyzers run: a DuckDB `FlowEngine`, or Athena over the flow log's table."""

    def columns(self) -> list[str]: ...

    def run(self, name: str, params: AnalysisParams) -> AnalysisResult: ...


@dataclass
class Loaded:
    """The run's flows, ready to analyse. `stats` is None where nothing was loaded here (Athena
    reads the data in place); `read` is what was read, as the run's `data_read` shows it.
    `refuses(analyzer, params)` says why an analysis cannot run on this source (or None).
    Used as a context manager: leaving it closes the source and tells the engine the outcome
    ("succeeded", "cancelled" or "failed")."""

    source: FlowSource
    stats: LoadStats | None
    read: dict[str, Any]
    stage: str = "Analysing"
    share: tuple[int, int] = ANALYSE_SHARE
    refuses: Callable[[Any, AnalysisParams], str | None] = lambda analyzer, params: None
    on_close: Callable[[str], None] = lambda outcome: None
    skipped: dict[str, str] = field(default_factory=dict)

    def __enter__(self) -> Loaded:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            outcome = "succeeded"
        elif issubclass(kind, (RunCancelled, QueryCancelled)):
            outcome = "cancelled"
        else:
            outcome = "failed"
        self.on_close(outcome)


class Engine(Protocol):
    """A strategy for getting a run's flows somewhere they can be analysed."""

    name: str

    def load(self, ctx: RunContext, progress: Progress) -> Loaded: ...
