"""The CloudWatch Logs source against moto: paging, stream restriction, throttling, cancel."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from analysis.aws import AwsError
from analysis.engine import FlowEngine
from analysis.formats import DEFAULT_FORMAT, FlowFormat
from analysis.sources import (
    ClientFactory,
    CloudWatchFlowLogSource,
    FetchCancelled,
    FetchRequest,
    get_source,
)
from analysis.window import TimeWindow

from .builders import REGION, line, put_events

GROUP = "/vpc/flow-logs"


@pytest.fixture
def now() -> datetime:
    # PutLogEvents in moto drops events older than 14 days: all test data is relative to now.
    return datetime.now(UTC).replace(microsecond=0)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def lines_of(paths: list[str]) -> list[str]:
    found: list[str] = []
    for path in paths:
        with gzip.open(path, "rt", encoding="utf-8") as stream:
            found.extend(stream.read().splitlines())
    return found


def hooked(clients: ClientFactory, operation: str, handler: Any) -> ClientFactory:
    """The same clients with a real botocore `before-call` hook on one Logs operation."""

    def make(service: str, region: str) -> Any:
        client = clients(service, region)
        client.meta.events.register(f"before-call.logs.{operation}", handler)
        return client

    return make


def noting(clients: ClientFactory, calls: list[dict[str, Any]]) -> ClientFactory:
    def make(service: str, region: str) -> Any:
        client = clients(service, region)

        def note(params: dict[str, Any], **_: Any) -> None:
            calls.append(dict(params))

        client.meta.events.register("before-parameter-build.logs.FilterLogEvents", note)
        return client

    return make


def request(window: TimeWindow, **fields: Any) -> FetchRequest:
    return FetchRequest(window=window, log_group=GROUP, region=REGION, **fields)


def test_every_page_is_read_and_every_event_comes_back(
    logs: Any, clients: ClientFactory, tmp_path: Path, now: datetime
) -> None:
    logs.create_log_group(logGroupName=GROUP)
    base = now - timedelta(hours=2)
    events = [
        (ms(base) + n * 100, line(int(base.timestamp()) + n // 10, packets=n))
        for n in range(25_000)
    ]
    put_events(logs, GROUP, "eni-0a1-all", events)
    calls: list[dict[str, Any]] = []

    result = CloudWatchFlowLogSource(clients=noting(clients, calls), events_per_file=10_000).fetch(
        request(TimeWindow(base, now)), dest_dir=str(tmp_path)
    )

    assert sorted(lines_of(result.paths)) == sorted(message for _, message in events)
    read = result.read
    assert (read["events"], read["pages"], read["calls"]) == (25_000, 3, 3)
    assert [call.get("nextToken") is not None for call in calls] == [False, True, True]
    assert read["streams"] == [
        {"name": "eni-0a1-all", "events": 25_000, "bytes": sum(len(m) for _, m in events)}
    ]
    assert read["bytes"] == sum(len(message) for _, message in events)
    assert [item["events"] for item in read["files"]] == [10_000, 10_000, 5_000]
    assert read["streams_requested"] is None
    assert read["throttle_retries"] == 0
    assert (read["start_ms"], read["end_ms"]) == (
        ms(base - timedelta(minutes=15)),
        ms(now + timedelta(minutes=15)),
    )
    assert all(item.flow_format == DEFAULT_FORMAT for item in result.files)


def test_only_the_target_interfaces_streams_are_read(
    logs: Any, clients: ClientFactory, tmp_path: Path, now: datetime
) -> None:
    logs.create_log_group(logGroupName=GROUP)
    start = int((now - timedelta(hours=1)).timestamp())
    for stream, count in (
        ("eni-aaa-all", 3),
        ("eni-aaa1-all", 4),
        ("eni-bbb-all", 5),
        ("eni-ccc", 2),
    ):
        eni = stream.removesuffix("-all")
        put_events(
            logs,
            GROUP,
            stream,
            [(start * 1000 + n, line(start + n, eni=eni)) for n in range(count)],
        )
    calls: list[dict[str, Any]] = []

    result = CloudWatchFlowLogSource(clients=noting(clients, calls)).fetch(
        request(
            TimeWindow(now - timedelta(hours=2), now),
            interface_ids=("eni-aaa", "eni-ccc", "eni-ddd"),
        ),
        dest_dir=str(tmp_path),
    )

    got = lines_of(result.paths)
    assert sorted(got) == sorted(
        [line(start + n, eni="eni-aaa") for n in range(3)]
        + [line(start + n, eni="eni-ccc") for n in range(2)]
    )
    assert [call["logStreamNames"] for call in calls] == [["eni-aaa-all", "eni-ccc"]]
    read = result.read
    assert read["streams_requested"] == ["eni-aaa-all", "eni-ccc"]
    assert read["interfaces_without_stream"] == ["eni-ddd"]
    assert [(item["name"], item["events"]) for item in read["streams"]] == [
        ("eni-aaa-all", 3),
        ("eni-ccc", 2),
    ]
    assert read["events"] == 5


def test_more_than_100_streams_are_asked_for_in_chunks_of_100(
    logs: Any, clients: ClientFactory, tmp_path: Path, now: datetime
) -> None:
    logs.create_log_group(logGroupName=GROUP)
    start = int((now - timedelta(hours=1)).timestamp())
    enis = [f"eni-{n:08x}" for n in range(150)]
    for eni in enis:
        put_events(logs, GROUP, f"{eni}-all", [(start * 1000, line(start, eni=eni))])
    calls: list[dict[str, Any]] = []

    result = CloudWatchFlowLogSource(clients=noting(clients, calls)).fetch(
        request(TimeWindow(now - timedelta(hours=2), now), interface_ids=enis),
        dest_dir=str(tmp_path),
    )

    assert [len(call["logStreamNames"]) for call in calls] == [100, 50]
    assert sorted(lines_of(result.paths)) == sorted(line(start, eni=eni) for eni in enis)
    assert result.read["streams_count"] == 150
    assert result.read["interfaces_without_stream"] == []


def test_only_events_stamped_in_the_widened_window_are_read(
    logs: Any, clients: ClientFactory, tmp_path: Path, now: datetime
) -> None:
    logs.create_log_group(logGroupName=GROUP)
    minutes = [180, 86, 84, 60, 6, 4]  # before now
    events = [(ms(now - timedelta(minutes=m)), f"event {m}") for m in minutes]
    put_events(logs, GROUP, "eni-0a1-all", events)

    # 70 to 20 minutes ago, widened by 15 minutes: 85 to 5 minutes ago.
    result = CloudWatchFlowLogSource(clients=clients).fetch(
        request(TimeWindow(now - timedelta(minutes=70), now - timedelta(minutes=20))),
        dest_dir=str(tmp_path),
    )

    assert sorted(lines_of(result.paths)) == ["event 6", "event 60", "event 84"]


def throttle_first(codes: list[str]) -> Any:
    """A before-call hook that answers the next calls with these error codes, then lets through."""
    remaining = list(codes)

    def handler(**_: Any) -> None:
        if remaining:
            code = remaining.pop(0)
            raise ClientError(
                {"Error": {"Code": code, "Message": "Rate exceeded"}}, "FilterLogEvents"
            )

    return handler


def test_throttling_is_retried_with_backoff_and_counted(
    logs: Any, clients: ClientFactory, tmp_path: Path, now: datetime
) -> None:
    logs.create_log_group(logGroupName=GROUP)
    start = int((now - timedelta(hours=1)).timestamp())
    put_events(logs, GROUP, "eni-0a1-all", [(start * 1000 + n, line(start + n)) for n in range(7)])
    codes = ["ThrottlingException", "TooManyRequestsException", "ServiceUnavailableException"]
    sleeps: list[float] = []
    source = CloudWatchFlowLogSource(
        clients=hooked(clients, "FilterLogEvents", throttle_first(codes)),
        sleep=sleeps.append,
        base_delay=1.0,
        max_delay=3.0,
    )

    result = source.fetch(
        request(TimeWindow(now - timedelta(hours=2), now)), dest_dir=str(tmp_path)
    )

    assert sorted(lines_of(result.paths)) == sorted(line(start + n) for n in range(7))
    read = result.read
    assert (read["events"], read["pages"], read["calls"], read["throttle_retries"]) == (7, 1, 4, 3)
    assert read["retries_by_code"] == {code: 1 for code in codes}
    assert len(sleeps) == 3
    # Full jitter under a ceiling that doubles from base_delay up to max_delay.
    assert [0 <= delay <= cap for delay, cap in zip(sleeps, (1.0, 2.0, 3.0), strict=True)] == [
        True,
        True,
        True,
    ]


def test_it_gives_up_after_max_retries_and_says_so(
    logs: Any, clients: ClientFactory, tmp_path: Path, now: datetime
) -> None:
    logs.create_log_group(logGroupName=GROUP)
    sleeps: list[float] = []
    source = CloudWatchFlowLogSource(
        clients=hooked(clients, "FilterLogEvents", throttle_first(["ThrottlingException"] * 10)),
        sleep=sleeps.append,
        max_retries=2,
    )

    with pytest.raises(AwsError) as caught:
        source.fetch(request(TimeWindow(now - timedelta(hours=1), now)), dest_dir=str(tmp_path))

    assert caught.value.code == "ThrottlingException"
    assert "after 2 retries" in caught.value.message
    assert len(sleeps) == 2


def test_other_errors_are_not_retried(
    clients: ClientFactory, tmp_path: Path, now: datetime
) -> None:
    sleeps: list[float] = []

    with pytest.raises(AwsError) as caught:
        CloudWatchFlowLogSource(clients=clients, sleep=sleeps.append).fetch(
            request(TimeWindow(now - timedelta(hours=1), now)), dest_dir=str(tmp_path)
        )

    assert caught.value.code == "ResourceNotFoundException"
    assert sleeps == []


def test_a_custom_log_format_goes_with_the_files_to_the_engine(
    logs: Any, clients: ClientFactory, tmp_path: Path, now: datetime
) -> None:
    logs.create_log_group(logGroupName=GROUP)
    start = int((now - timedelta(hours=1)).timestamp())
    log_format = "${interface-id} ${srcaddr} ${dstaddr} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${flow-direction}"
    messages = [
        f"eni-0a1 203.0.113.5 10.0.1.10 22 6 3 180 {start} {start + 9} REJECT OK ingress",
        f"eni-0a1 10.0.1.10 198.51.100.7 443 6 8 4000 {start + 1} {start + 9} ACCEPT OK egress",
    ]
    put_events(logs, GROUP, "eni-0a1-all", [(start * 1000 + n, m) for n, m in enumerate(messages)])

    result = get_source("cloudwatch")(clients=clients).fetch(
        request(TimeWindow(now - timedelta(hours=2), now), log_format=log_format),
        dest_dir=str(tmp_path),
    )

    expected = FlowFormat.parse(log_format)
    assert result.load_groups() == [(expected, result.paths)]
    assert result.read["log_format"] == str(expected)
    with FlowEngine() as engine:
        for flow_format, paths in result.load_groups():
            engine.load_files(paths, flow_format=flow_format)
        rows = engine.connection.execute(
            "SELECT dstport, action, flow_direction, bytes FROM flows ORDER BY bytes"
        ).fetchall()
    assert rows == [(22, "REJECT", "ingress", 180), (443, "ACCEPT", "egress", 4000)]


def test_cancel_stops_between_pages_and_says_what_was_read(
    logs: Any, clients: ClientFactory, tmp_path: Path, now: datetime
) -> None:
    logs.create_log_group(logGroupName=GROUP)
    start = int((now - timedelta(hours=1)).timestamp())
    enis = [f"eni-{n:08x}" for n in range(101)]
    for eni in enis:
        put_events(logs, GROUP, eni, [(start * 1000, line(start, eni=eni))])
    pages: list[str] = []

    with pytest.raises(FetchCancelled) as caught:
        CloudWatchFlowLogSource(clients=clients).fetch(
            request(TimeWindow(now - timedelta(hours=2), now), interface_ids=enis),
            dest_dir=str(tmp_path),
            progress=lambda message, _: (
                pages.append(message) if message.startswith("Read ") else None
            ),
            cancel=lambda: len(pages) >= 1,
        )

    read = caught.value.read
    assert (read["pages"], read["events"], read["streams_count"]) == (1, 100, 100)
    assert len(lines_of([str(path) for path in sorted(tmp_path.glob("*.log.gz"))])) == 100


def test_shards_split_the_event_range_so_every_event_is_read_exactly_once(
    logs: Any, clients: ClientFactory, tmp_path: Path, now: datetime
) -> None:
    logs.create_log_group(logGroupName=GROUP)
    base = now - timedelta(hours=2)
    # Events on every millisecond around the shard boundaries and a spread over two hours.
    events = [(ms(base) + n * 997, line(int(base.timestamp()) + n, packets=n)) for n in range(7000)]
    put_events(logs, GROUP, "eni-0a1-all", events)
    window = TimeWindow(base, now)
    whole = CloudWatchFlowLogSource(clients=clients).fetch(
        request(window), dest_dir=str(tmp_path / "whole")
    )
    results = [
        CloudWatchFlowLogSource(clients=clients).fetch(
            request(window, shard_index=index, shard_count=4),
            dest_dir=str(tmp_path / f"shard{index}"),
        )
        for index in range(4)
    ]
    pieces = [lines_of(result.paths) for result in results]
    assert sorted(line for piece in pieces for line in piece) == sorted(lines_of(whole.paths))
    assert sum(result.read["events"] for result in results) == len(events)
    ranges = [(result.read["start_ms"], result.read["end_ms"]) for result in results]
    assert ranges[0][0] == whole.read["start_ms"] and ranges[-1][1] == whole.read["end_ms"]
    assert all(ranges[i][1] + 1 == ranges[i + 1][0] for i in range(3))  # touching, not sharing


def test_a_sharded_fetch_needs_both_ends_of_the_window(
    clients: ClientFactory, tmp_path: Path, now: datetime
) -> None:
    from analysis.sources import SourceError

    with pytest.raises(SourceError, match="both ends"):
        CloudWatchFlowLogSource(clients=clients).fetch(
            request(TimeWindow(now - timedelta(hours=1), None), shard_index=1, shard_count=2),
            dest_dir=str(tmp_path),
        )
