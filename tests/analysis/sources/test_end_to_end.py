"""Fetch → FlowEngine.load_files → traffic-summary, for demo data sent through S3 and CloudWatch."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from analysis.demo import INSTANCES, generate
from analysis.engine import FlowEngine
from analysis.sources import ClientFactory, FetchRequest, FetchResult, get_source
from analysis.window import TimeWindow

from .builders import BUCKET, HEADER, REGION, create_bucket, flow_key, put_events

FIVE_MINUTES = 300


def demo_lines(path: Path, *, end: datetime, hours: int) -> list[str]:
    generate(path, lines=3000, end=end, hours=hours, header=True)
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER
    return lines[1:]


def ok_flows(lines: list[str], window: TimeWindow, eni: str | None = None) -> int:
    """Records the engine must keep: status OK and overlapping the window."""
    count = 0
    for text in lines:
        fields = text.split()
        if fields[13] != "OK" or (eni is not None and fields[2] != eni):
            continue
        start, end = int(fields[10]), int(fields[11])
        if window.overlaps(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)):
            count += 1
    return count


def summary_of(paths_and_formats: list[tuple[Any, list[str]]], window: TimeWindow) -> Any:
    with FlowEngine() as engine:
        for flow_format, paths in paths_and_formats:
            engine.load_files(paths, flow_format=flow_format, window=window)
        return engine.run("traffic-summary", {})


def fetched_summary(result: FetchResult, window: TimeWindow) -> Any:
    # What was read is stored with the run as JSON.
    assert json.loads(json.dumps(result.read)) == result.read
    return summary_of(result.load_groups(), window)


@pytest.fixture
def s3_demo(s3: Any, tmp_path: Path) -> tuple[Path, list[str], list[str], datetime]:
    """The demo's records, cut into files the way S3 delivery does: one per 5 minutes of
    record end times, stamped at the end of those 5 minutes, in hourly Hive partitions."""
    end = datetime(2025, 3, 10, 12, tzinfo=UTC)
    demo = tmp_path / "demo.log"
    lines = demo_lines(demo, end=end, hours=2)
    buckets: dict[int, list[str]] = defaultdict(list)
    for text in lines:
        record_end = int(text.split()[11])
        buckets[math.ceil(record_end / FIVE_MINUTES) * FIVE_MINUTES].append(text)
    create_bucket(s3)
    keys = []
    for stamp, chunk in sorted(buckets.items()):
        key = flow_key(datetime.fromtimestamp(stamp, UTC), hive=True, hourly=True)
        s3.put_object(Bucket=BUCKET, Key=key, Body=("\n".join([HEADER, *chunk]) + "\n").encode())
        keys.append(key)
    return demo, lines, keys, end


def test_s3_fetch_gives_the_same_traffic_summary_as_the_original_file(
    s3_demo: tuple[Path, list[str], list[str], datetime], clients: ClientFactory, tmp_path: Path
) -> None:
    demo, lines, keys, end = s3_demo
    window = TimeWindow(end - timedelta(hours=2), end)

    result = get_source("s3")(clients=clients).fetch(
        FetchRequest(window=window, bucket=BUCKET, region=REGION),
        dest_dir=str(tmp_path / "fetched"),
    )

    assert result.read["objects_count"] == len(keys)
    fetched = fetched_summary(result, window)
    direct = summary_of([(None, [str(demo)])], window)
    assert fetched.rows == direct.rows
    assert fetched.summary["flows"] == ok_flows(lines, window) > 2900
    assert {(row["protocol"], row["action"]) for row in fetched.rows} >= {
        ("tcp", "ACCEPT"),
        ("tcp", "REJECT"),
        ("udp", "ACCEPT"),
    }


def test_s3_fetch_of_part_of_the_day_reads_fewer_files_and_loses_no_flow_in_the_window(
    s3_demo: tuple[Path, list[str], list[str], datetime], clients: ClientFactory, tmp_path: Path
) -> None:
    demo, lines, keys, end = s3_demo
    window = TimeWindow(end - timedelta(minutes=80), end - timedelta(minutes=40))

    result = get_source("s3")(clients=clients).fetch(
        FetchRequest(window=window, bucket=BUCKET, region=REGION),
        dest_dir=str(tmp_path / "fetched"),
    )

    # 40 minutes plus 15 on each side: stamps 10:25 to 11:35, 15 of the 24 files.
    assert (result.read["objects_count"], len(keys)) == (15, 24)
    fetched = fetched_summary(result, window)
    assert fetched.rows == summary_of([(None, [str(demo)])], window).rows
    assert fetched.summary["flows"] == ok_flows(lines, window) > 0


def test_cloudwatch_fetch_gives_the_same_traffic_summary_as_the_original_file(
    logs: Any, clients: ClientFactory, tmp_path: Path
) -> None:
    # Within moto's 14 days: the demo ends at the start of this hour.
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    demo = tmp_path / "demo.log"
    lines = demo_lines(demo, end=end, hours=3)
    group = "/vpc/demo"
    logs.create_log_group(logGroupName=group)
    by_stream: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for text in lines:
        fields = text.split()
        by_stream[f"{fields[2]}-all"].append((int(fields[10]) * 1000, text))
    for stream, events in by_stream.items():
        put_events(logs, group, stream, events)
    source = get_source("cloudwatch")(clients=clients)
    window = TimeWindow(end - timedelta(hours=2), end - timedelta(minutes=30))

    everything = source.fetch(
        FetchRequest(window=window, log_group=group, region=REGION),
        dest_dir=str(tmp_path / "all"),
    )
    web = next(item for item in INSTANCES if item.name == "web")
    one = source.fetch(
        FetchRequest(
            window=window, log_group=group, region=REGION, interface_ids=(web.interface_id,)
        ),
        dest_dir=str(tmp_path / "web"),
    )

    fetched = fetched_summary(everything, window)
    assert fetched.rows == summary_of([(None, [str(demo)])], window).rows
    assert fetched.summary["flows"] == ok_flows(lines, window) > 1000
    assert (
        fetched_summary(one, window).summary["flows"]
        == ok_flows(lines, window, web.interface_id)
        > 100
    )
    assert [item["name"] for item in one.read["streams"]] == [f"{web.interface_id}-all"]
    assert everything.read["streams_count"] == len(by_stream)
