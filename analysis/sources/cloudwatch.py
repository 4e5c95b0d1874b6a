"""The CloudWatch Logs source: FilterLogEvents over a flow log's group, to local gzip text."""

from __future__ import annotations

import gzip
import math
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from analysis.aws import AwsError
from analysis.formats import FlowFormat
from analysis.sources.base import (
    CancelCallback,
    ClientFactory,
    FetchedFile,
    FetchRequest,
    FetchResult,
    FlowLogSource,
    ListedItems,
    ProgressCallback,
    SourceError,
    check_cancel,
    register,
    report,
    require,
)

# Error codes CloudWatch Logs answers when it wants the caller to slow down or come back.
RETRYABLE_CODES = frozenset(
    {"ThrottlingException", "TooManyRequestsException", "ServiceUnavailableException"}
)
MAX_STREAMS_PER_CALL = 100  # FilterLogEvents' limit on logStreamNames
MAX_EVENTS_PER_PAGE = 10_000  # FilterLogEvents' largest `limit`
DEFAULT_MAX_RETRIES = 8
DEFAULT_BASE_DELAY = 0.5
DEFAULT_MAX_DELAY = 30.0
DEFAULT_EVENTS_PER_FILE = 1_000_000


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**(attempt-1))]."""
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return rng.uniform(0, ceiling)


def _ms(moment: datetime) -> int:
    return math.floor(moment.timestamp() * 1000)


class _CallStats:
    def __init__(self) -> None:
        self.calls = 0
        self.throttle_retries = 0
        self.sdk_retries = 0
        self.retries_by_code: Counter[str] = Counter()


class _EventWriter:
    """One message a line into gzip files of at most `per_file` events each."""

    def __init__(self, dest_dir: str, per_file: int, flow_format: FlowFormat, origin: str):
        self.dest_dir = dest_dir
        self.per_file = per_file
        self.flow_format = flow_format
        self.origin = origin
        self.files: list[FetchedFile] = []
        self.counts: list[tuple[int, int]] = []  # (events, bytes) per file
        self._out: IO[str] | None = None
        self._path = ""
        self._events = 0
        self._bytes = 0

    def write(self, message: str) -> int:
        if self._out is None or self._events >= self.per_file:
            self._roll()
        assert self._out is not None
        # One event is one record: a stray line break must not split it in two.
        line = message.rstrip("\r\n").replace("\r", " ").replace("\n", " ")
        self._out.write(line + "\n")
        size = len(line.encode("utf-8"))
        self._events += 1
        self._bytes += size
        return size

    def _roll(self) -> None:
        self.close()
        self._path = os.path.join(self.dest_dir, f"cloudwatch-{len(self.files) + 1:04d}.log.gz")
        # Kept open across writes; `close()` (in the caller's `finally`) closes it.
        self._out = gzip.open(  # noqa: SIM115
            self._path, "wt", encoding="utf-8", newline="\n", compresslevel=5
        )
        self._events = 0
        self._bytes = 0

    def close(self) -> None:
        if self._out is None:
            return
        self._out.close()
        self._out = None
        self.files.append(
            FetchedFile(
                path=self._path,
                content="text",
                flow_format=self.flow_format,
                bytes=os.path.getsize(self._path),
                origin=self.origin,
            )
        )
        self.counts.append((self._events, self._bytes))


@register
class CloudWatchFlowLogSource(FlowLogSource):
    """Reads a flow log's CloudWatch Logs group with FilterLogEvents, every page to the end.

    Only the streams of `request.interface_ids` are read when given (a flow log names each
    stream after its interface, e.g. `eni-0abc...` or `eni-0abc...-all`; they are found with
    DescribeLogStreams by prefix), else every stream. Events are selected by their timestamp
    in the window widened by `request.slack` on both sides; the engine keeps the records that
    overlap the window itself; an open bound is not sent, so the group's retention limits the
    read instead. Throttling answers are retried up to `max_retries` times per
    call with exponential backoff and full jitter, and counted.
    """

    kind = "cloudwatch"
    title = "CloudWatch Logs"
    description = "Flow log records in a CloudWatch Logs group, one stream per interface."

    def __init__(
        self,
        *,
        clients: ClientFactory | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        events_per_file: int = DEFAULT_EVENTS_PER_FILE,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(clients=clients)
        if max_retries < 0:
            raise ValueError(f"max_retries must not be negative, got {max_retries}")
        if events_per_file < 1:
            raise ValueError(f"events_per_file must be at least 1, got {events_per_file}")
        self.max_retries = max_retries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.events_per_file = events_per_file
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret

    def fetch(
        self,
        request: FetchRequest,
        *,
        dest_dir: str,
        progress: ProgressCallback | None = None,
        cancel: CancelCallback | None = None,
    ) -> FetchResult:
        require(
            "CloudWatch",
            {"a log group": request.log_group, "the flow log's region": request.region},
        )
        try:
            flow_format = request.flow_format
        except ValueError as error:
            raise SourceError(f"bad flow log format: {error}") from error
        os.makedirs(dest_dir, exist_ok=True)
        logs = self.client("logs", request.region)
        window = request.window
        start_ms = None if window.start is None else _ms(window.start - request.slack)
        end_ms = None if window.end is None else _ms(window.end + request.slack)
        if request.sharded:
            if start_ms is None or end_ms is None:
                raise SourceError("a sharded CloudWatch fetch needs a window with both ends")
            # FilterLogEvents includes both ends: each shard gets a disjoint part of the range.
            start_ms, end_ms = request.shard_range_ms(start_ms, end_ms)
        stats = _CallStats()
        writer = _EventWriter(
            dest_dir, self.events_per_file, flow_format, f"cloudwatch:{request.log_group}"
        )
        per_stream: dict[str, list[int]] = {}
        totals = {"events": 0, "bytes": 0, "pages": 0}
        streams: list[str] | None = None
        missing: list[str] = []

        def read() -> dict[str, Any]:
            listed = ListedItems()
            for name in sorted(per_stream):
                events, size = per_stream[name]
                listed.add({"name": name, "events": events, "bytes": size}, f"{name} {events}")
            return {
                "source": self.kind,
                "log_group": request.log_group,
                "region": request.region,
                "window": window.to_dict(),
                "slack_seconds": request.slack.total_seconds(),
                "start_ms": start_ms,
                "end_ms": end_ms,
                "shard": [request.shard_index, request.shard_count],
                "log_format": str(flow_format),
                "interface_ids": list(request.interface_ids),
                "streams_requested": streams,
                "interfaces_without_stream": missing,
                **listed.describe("streams"),
                "events": totals["events"],
                "bytes": totals["bytes"],
                "pages": totals["pages"],
                "calls": stats.calls,
                "throttle_retries": stats.throttle_retries,
                "retries_by_code": dict(stats.retries_by_code),
                "sdk_retries": stats.sdk_retries,
                "files": [
                    {"file": os.path.basename(item.path), "events": events, "bytes": item.bytes}
                    for item, (events, _) in zip(writer.files, writer.counts, strict=True)
                ],
            }

        try:
            if request.interface_ids:
                report(progress, "Finding the interfaces' log streams", 0.0)
                streams, missing = self._streams_of(
                    logs, request.log_group, request.interface_ids, stats, cancel, read
                )
                chunks: list[list[str] | None] = [
                    streams[i : i + MAX_STREAMS_PER_CALL]
                    for i in range(0, len(streams), MAX_STREAMS_PER_CALL)
                ]
            else:
                chunks = [None]
            for number, chunk in enumerate(chunks):
                kwargs: dict[str, Any] = {
                    "logGroupName": request.log_group,
                    "limit": MAX_EVENTS_PER_PAGE,
                }
                if start_ms is not None:
                    kwargs["startTime"] = start_ms
                if end_ms is not None:
                    kwargs["endTime"] = end_ms
                if chunk is not None:
                    kwargs["logStreamNames"] = chunk
                token: str | None = None
                while True:
                    check_cancel(cancel, read)
                    if token:
                        kwargs["nextToken"] = token
                    response = self._call(
                        logs.filter_log_events,
                        stats,
                        "logs:FilterLogEvents",
                        cancel,
                        read,
                        **kwargs,
                    )
                    totals["pages"] += 1
                    for event in response.get("events", []):
                        size = writer.write(str(event.get("message", "")))
                        counts = per_stream.setdefault(str(event.get("logStreamName", "")), [0, 0])
                        counts[0] += 1
                        counts[1] += size
                        totals["events"] += 1
                        totals["bytes"] += size
                    report(
                        progress,
                        f"Read {totals['events']} events in {totals['pages']} pages",
                        number / len(chunks),
                    )
                    token = response.get("nextToken")
                    if not token:
                        break
        finally:
            writer.close()
        report(progress, f"Read {totals['events']} events", 1.0)
        return FetchResult(kind=self.kind, files=list(writer.files), read=read())

    def _streams_of(
        self,
        logs: Any,
        group: str,
        interface_ids: tuple[str, ...],
        stats: _CallStats,
        cancel: CancelCallback | None,
        read: Callable[[], dict[str, Any]],
    ) -> tuple[list[str], list[str]]:
        """The streams of each interface (named after it, maybe with a `-all`/`-accept`/
        `-reject` suffix), and the interfaces that have none."""
        streams: list[str] = []
        missing: list[str] = []
        for interface_id in interface_ids:
            found = False
            token: str | None = None
            while True:
                check_cancel(cancel, read)
                kwargs: dict[str, Any] = {
                    "logGroupName": group,
                    "logStreamNamePrefix": interface_id,
                }
                if token:
                    kwargs["nextToken"] = token
                response = self._call(
                    logs.describe_log_streams,
                    stats,
                    "logs:DescribeLogStreams",
                    cancel,
                    read,
                    **kwargs,
                )
                for stream in response.get("logStreams", []):
                    name = str(stream.get("logStreamName", ""))
                    # `eni-0a1` must not pick up `eni-0a12`'s stream.
                    if name == interface_id or name.startswith(f"{interface_id}-"):
                        streams.append(name)
                        found = True
                token = response.get("nextToken")
                if not token:
                    break
            if not found:
                missing.append(interface_id)
        return list(dict.fromkeys(streams)), missing

    def _call(
        self,
        method: Callable[..., dict[str, Any]],
        stats: _CallStats,
        operation: str,
        cancel: CancelCallback | None,
        read: Callable[[], dict[str, Any]],
        **kwargs: Any,
    ) -> dict[str, Any]:
        attempt = 0
        while True:
            stats.calls += 1
            try:
                response = method(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                error = AwsError.from_exception(exc, operation=operation)
                if error.code not in RETRYABLE_CODES or attempt >= self.max_retries:
                    if error.code in RETRYABLE_CODES:
                        error = AwsError(
                            error.code,
                            f"{error.message} (still refused after {attempt} retries)",
                            operation=operation,
                        )
                    raise error from exc
                attempt += 1
                stats.throttle_retries += 1
                stats.retries_by_code[error.code] += 1
                self.sleep(backoff_delay(attempt, self.base_delay, self.max_delay, self.rng))
                check_cancel(cancel, read)
                continue
            stats.sdk_retries += int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0))
            return response
