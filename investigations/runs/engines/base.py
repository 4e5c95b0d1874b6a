"""What every engine gives the pipeline: the loaded flows, how the load went, what was read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
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


# Figures of an AWS fetch that add up over parts, and lists that are joined (see
# analysis.sources for what each source records).
_SUMMED = (
    "bytes",
    "events",
    "pages",
    "calls",
    "objects_count",
    "selected_count",
    "list_requests",
    "throttle_retries",
    "skipped_count",
    "sdk_retries",
)
_LISTED = ("objects", "files", "streams", "skipped")


@dataclass
class DataRead:
    """What a run read, as its `data_read` stores it (`to_dict`) and a flow cache entry keeps
    it next to its data (`from_dict` reads it back).

    `source` is the kind read ("file", "s3", "cloudwatch" or "athena"); `details` what the
    source itself records: for AWS the account, flow log, instance and role session, then the
    fetch's own figures and lists (analysis.sources); for uploads their files and format.
    The engines add `parts` (each part's own record, for a window fetched in parts), `cache`
    (how the flow cache served the run), `engine` (why it was chosen) and `athena` (its
    queries and cost); the pipeline the run's `suppression_rules`, `window` and, when flows
    were loaded, when the first and last of them was `seen`."""

    source: str
    details: dict[str, Any] = field(default_factory=dict)
    parts: list[DataRead] | None = None
    cache: dict[str, Any] | None = None
    engine: dict[str, Any] | None = None
    athena: dict[str, Any] | None = None
    suppression_rules: list[dict[str, Any]] | None = None
    window: list[str | None] | None = None
    seen: tuple[str | None, str | None] | None = None

    @classmethod
    def merge(cls, reads: list[DataRead]) -> DataRead:
        """What several parts read, as one record: the first part's, with totals added up,
        lists joined in part order, no shard, and each part's own record under `parts`."""
        details = dict(reads[0].details)
        for name in _SUMMED:
            if any(name in read.details for read in reads):
                details[name] = sum(int(read.details.get(name) or 0) for read in reads)
        for name in _LISTED:
            if any(isinstance(read.details.get(name), list) for read in reads):
                details[name] = [item for read in reads for item in (read.details.get(name) or [])]
        details.pop("shard", None)
        return replace(reads[0], details=details, parts=list(reads))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"source": self.source, **self.details}
        if self.parts is not None:
            data["parts"] = [part.to_dict() for part in self.parts]
        for name in ("cache", "engine", "athena", "suppression_rules", "window"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.seen is not None:
            data["first_seen"], data["last_seen"] = self.seen
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataRead:
        details = dict(data)
        parts = details.pop("parts", None)
        seen = None
        if "first_seen" in details or "last_seen" in details:
            seen = (details.pop("first_seen", None), details.pop("last_seen", None))
        return cls(
            source=details.pop("source", ""),
            parts=None if parts is None else [cls.from_dict(part) for part in parts],
            cache=details.pop("cache", None),
            engine=details.pop("engine", None),
            athena=details.pop("athena", None),
            suppression_rules=details.pop("suppression_rules", None),
            window=details.pop("window", None),
            seen=seen,
            details=details,
        )


@dataclass
class Loaded:
    """The run's flows, ready to analyse. `stats` is None where nothing was loaded here (Athena
    reads the data in place); `read` is what was read, as the run's `data_read` shows it.
    `refuses(analyzer, params)` says why an analysis cannot run on this source (or None).
    Used as a context manager: leaving it closes the source and tells the engine the outcome
    ("succeeded", "cancelled" or "failed")."""

    source: FlowSource
    stats: LoadStats | None
    read: DataRead
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
