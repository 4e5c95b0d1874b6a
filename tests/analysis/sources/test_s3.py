"""The S3 source against moto: both key layouts, partition and window selection, downloads."""

from __future__ import annotations

import gzip
import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from analysis.aws import AwsError
from analysis.engine import FlowEngine
from analysis.sources import (
    ClientFactory,
    FetchCancelled,
    FetchRequest,
    S3FlowLogSource,
    SourceError,
    get_source,
)
from analysis.window import TimeWindow

from .builders import (
    ACCOUNT,
    BUCKET,
    FLOW_LOG_ID,
    REGION,
    create_bucket,
    day_folder,
    flow_key,
    gz_text,
    line,
)

DAY = datetime(2025, 3, 10, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: datetime = DAY) -> datetime:
    return day + timedelta(hours=hour, minutes=minute)


def put_files(s3: Any, stamps: list[datetime], **layout: Any) -> list[str]:
    """One small flow log file per stamp, its one record just before the stamp."""
    keys = []
    for stamp in stamps:
        key = flow_key(stamp, **layout)
        s3.put_object(Bucket=BUCKET, Key=key, Body=gz_text([line(int(stamp.timestamp()) - 60)]))
        keys.append(key)
    return keys


def recording(clients: ClientFactory, calls: list[dict[str, Any]]) -> ClientFactory:
    """The same clients, with a botocore hook noting each S3 list request's parameters."""

    def make(service: str, region: str) -> Any:
        client = clients(service, region)

        def note(params: dict[str, Any], **_: Any) -> None:
            calls.append(dict(params))

        client.meta.events.register("before-parameter-build.s3.ListObjectsV2", note)
        return client

    return make


def fetch(
    clients: ClientFactory, dest: Path, window: TimeWindow, **fields: Any
) -> tuple[Any, list[str]]:
    request = FetchRequest(window=window, bucket=BUCKET, region=REGION, **fields)
    result = S3FlowLogSource(clients=clients).fetch(request, dest_dir=str(dest))
    return result, [os.path.basename(path) for path in result.paths]


def names(keys: list[str]) -> list[str]:
    return [key.rsplit("/", 1)[-1] for key in keys]


def test_it_downloads_only_keys_stamped_in_the_window_widened_by_the_slack(
    s3: Any, clients: ClientFactory, tmp_path: Path
) -> None:
    create_bucket(s3)
    stamps = [at(8) + timedelta(minutes=5 * n) for n in range(72)]  # 08:00 .. 13:55
    keys = put_files(s3, stamps)
    # Other days hold files too; they must not even be listed.
    put_files(s3, [at(10, day=DAY - timedelta(days=1)), at(10, day=DAY + timedelta(days=1))])
    calls: list[dict[str, Any]] = []

    result, local = fetch(recording(clients, calls), tmp_path / "out", TimeWindow(at(10), at(11)))

    wanted = [
        key for key, stamp in zip(keys, stamps, strict=True) if at(9, 45) <= stamp <= at(11, 15)
    ]
    assert len(wanted) == 19
    assert local == names(wanted)
    read = result.read
    assert [item["key"] for item in read["objects"]] == wanted
    assert read["objects_count"] == 19
    assert read["objects_truncated"] is False
    assert {item["key"] for item in read["skipped"]} == set(keys) - set(wanted)
    assert read["skipped_count"] == 53
    assert read["skipped_by_reason"] == {"outside window": 53}
    day = day_folder(DAY, hive=False, hourly=False)
    assert [(call["Prefix"], call.get("Delimiter")) for call in calls] == [
        ("AWSLogs/", "/"),
        (day, "/"),
    ]
    assert read["list_requests"] == 2
    assert read["layouts"] == [
        {
            "account_id": ACCOUNT,
            "region": REGION,
            "layout": "default",
            "prefix": f"AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/",
        }
    ]
    assert read["window"] == {"start": at(10).isoformat(), "end": at(11).isoformat()}
    assert read["slack_seconds"] == 900
    first = read["objects"][0]
    head = s3.head_object(Bucket=BUCKET, Key=first["key"])
    assert (first["size"], first["etag"]) == (head["ContentLength"], head["ETag"])
    assert read["bytes"] == sum(item["size"] for item in read["objects"])
    # Each local file is byte for byte the object.
    body = s3.get_object(Bucket=BUCKET, Key=wanted[0])["Body"].read()
    assert Path(result.paths[0]).read_bytes() == body
    assert result.files[0].origin == f"s3://{BUCKET}/{wanted[0]}"
    assert result.format_for(result.paths[0]) is None


def test_the_slack_is_configurable(s3: Any, clients: ClientFactory, tmp_path: Path) -> None:
    create_bucket(s3)
    stamps = [at(9, 55), at(10), at(10, 30), at(11), at(11, 5)]
    keys = put_files(s3, stamps)

    _, local = fetch(clients, tmp_path, TimeWindow(at(10), at(11)), slack=timedelta(0))

    assert local == names(keys[1:4])


def test_hourly_hive_partitions_outside_the_window_are_not_listed(
    s3: Any, clients: ClientFactory, tmp_path: Path
) -> None:
    create_bucket(s3)
    stamps = [at(hour, minute) for hour in range(8, 14) for minute in (5, 35)] + [at(10, 58)]
    keys = put_files(s3, stamps, hive=True, hourly=True)
    calls: list[dict[str, Any]] = []

    # 10:20-10:40 widened by 15 minutes is 10:05-10:55: only the hour=10 folder is listed.
    result, local = fetch(recording(clients, calls), tmp_path, TimeWindow(at(10, 20), at(10, 40)))

    assert local == names(
        [flow_key(at(10, 5), hive=True, hourly=True), flow_key(at(10, 35), hive=True, hourly=True)]
    )
    assert [item["key"] for item in result.read["skipped"]] == [
        flow_key(at(10, 58), hive=True, hourly=True)
    ]
    day = day_folder(DAY, hive=True, hourly=False)
    assert day.endswith("/year=2025/month=03/day=10/")
    assert [(call["Prefix"], call.get("Delimiter")) for call in calls] == [
        ("AWSLogs/", "/"),
        (day, "/"),
        (f"{day}hour=10/", None),
    ]
    assert result.read["hour_prefixes_skipped"] == 5
    assert result.read["layouts"][0]["layout"] == "hive"
    assert set(keys) >= {item["key"] for item in result.read["objects"]}


def test_a_window_across_midnight_lists_both_days_and_only_their_touched_hours(
    s3: Any, clients: ClientFactory, tmp_path: Path
) -> None:
    create_bucket(s3)
    next_day = DAY + timedelta(days=1)
    stamps = [at(22, 30), at(23, 40), at(0, 20, next_day), at(1, 10, next_day)]
    keys = put_files(s3, stamps, hourly=True)
    calls: list[dict[str, Any]] = []

    result, local = fetch(
        recording(clients, calls), tmp_path, TimeWindow(at(23, 50), at(0, 10, next_day))
    )

    assert local == names(keys[1:3])
    first, second = (day_folder(day, hive=False, hourly=False) for day in (DAY, next_day))
    assert [call["Prefix"] for call in calls] == [
        "AWSLogs/",
        first,
        f"{first}23/",
        second,
        f"{second}00/",
    ]
    assert result.read["skipped_count"] == 0
    assert result.read["hour_prefixes_skipped"] == 2


def test_many_list_pages_are_all_read_and_the_description_says_when_it_is_cut(
    s3: Any, clients: ClientFactory, tmp_path: Path
) -> None:
    create_bucket(s3)
    stamps = [at(0, 15) + timedelta(minutes=n) for n in range(1200)]  # 00:15 .. 20:14
    keys = put_files(s3, stamps)
    calls: list[dict[str, Any]] = []

    # The window widened by the slack stays inside the day: one day prefix, two pages.
    result, local = fetch(recording(clients, calls), tmp_path, TimeWindow(at(0, 15), at(20)))

    assert local == names(keys)
    assert len(set(local)) == 1200
    read = result.read
    day = day_folder(DAY, hive=False, hourly=False)
    assert [call["Prefix"] for call in calls] == ["AWSLogs/", day, day]
    assert calls[2]["ContinuationToken"]
    assert read["list_requests"] == 3
    assert read["objects_count"] == 1200
    assert read["objects_truncated"] is True
    assert [item["key"] for item in read["objects"]] == keys[:1000]
    listed = {
        item["Key"]: item
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        for item in page["Contents"]
    }
    expected = hashlib.sha256()
    for key in keys:
        expected.update(f"{key} {listed[key]['ETag']} {listed[key]['Size']}\n".encode())
    assert read["objects_digest"] == expected.hexdigest()
    assert read["bytes"] == sum(os.path.getsize(path) for path in result.paths)
    # Every file holds the one record written for its stamp.
    records = [
        gzip.decompress(Path(path).read_bytes()).decode().splitlines()[1] for path in result.paths
    ]
    assert records == [line(int(stamp.timestamp()) - 60) for stamp in stamps]


def test_a_custom_format_from_the_gzip_header_reaches_the_engine(
    s3: Any, clients: ClientFactory, tmp_path: Path
) -> None:
    create_bucket(s3)
    header = "version interface-id srcaddr dstaddr dstport protocol packets bytes start end action log-status tcp-flags flow-direction"
    start = int(at(10).timestamp())
    body = gz_text(
        [
            f"5 eni-0a1 203.0.113.5 10.0.1.10 443 6 10 840 {start} {start + 20} ACCEPT OK 2 ingress",
            f"5 eni-0a1 10.0.1.10 203.0.113.5 40000 6 12 9000 {start} {start + 20} ACCEPT OK 18 egress",
        ],
        header=header,
    )
    s3.put_object(Bucket=BUCKET, Key=flow_key(at(10, 5)), Body=body)

    result, _ = fetch(clients, tmp_path, TimeWindow(at(10), at(10, 30)))

    assert result.load_groups() == [(None, result.paths)]
    with FlowEngine() as engine:
        engine.load_files(result.paths)
        rows = engine.connection.execute(
            "SELECT interface_id, dstport, tcp_flags, flow_direction, bytes FROM flows "
            "ORDER BY bytes"
        ).fetchall()
    assert rows == [("eni-0a1", 443, 2, "ingress", 840), ("eni-0a1", 40000, 18, "egress", 9000)]


def test_parquet_objects_are_downloaded_as_they_are(
    s3: Any, clients: ClientFactory, tmp_path: Path
) -> None:
    create_bucket(s3)
    made = tmp_path / "made.parquet"
    start = int(at(10).timestamp())
    duckdb.sql(
        f"COPY (SELECT 2 AS version, 'eni-0a1' AS interface_id, '10.0.1.10' AS srcaddr, "
        f"range AS bytes, {start} + range AS start FROM range(5)) "
        f"TO '{made}' (FORMAT parquet)"
    )
    parquet_key = flow_key(at(10, 5), suffix=".log.parquet")
    text_key = flow_key(at(10, 10))
    s3.put_object(Bucket=BUCKET, Key=parquet_key, Body=made.read_bytes())
    s3.put_object(Bucket=BUCKET, Key=text_key, Body=gz_text([line(start)]))

    result, local = fetch(clients, tmp_path / "out", TimeWindow(at(10), at(10, 30)))

    assert local == names([parquet_key, text_key])
    parquet = result.files[0]
    assert (parquet.content, parquet.flow_format) == ("parquet", None)
    assert Path(parquet.path).read_bytes() == made.read_bytes()
    assert result.parquet_paths == [parquet.path]
    assert result.load_groups() == [(None, [result.files[1].path])]
    assert result.read["files_by_content"] == {"parquet": 1, "text": 1}
    assert [item["content"] for item in result.read["objects"]] == ["parquet", "text"]
    rows = (
        duckdb.connect()
        .execute(
            f"SELECT interface_id, bytes, start FROM read_parquet('{parquet.path}') ORDER BY bytes"
        )
        .fetchall()
    )
    assert rows == [("eni-0a1", n, start + n) for n in range(5)]


def test_it_skips_other_flow_logs_and_files_that_are_not_flow_logs(
    s3: Any, clients: ClientFactory, tmp_path: Path
) -> None:
    create_bucket(s3)
    mine = put_files(s3, [at(10, 5)], prefix="vpc/logs/")[0]
    other = put_files(s3, [at(10, 10)], prefix="vpc/logs/", flow_log_id="fl-0ffff")[0]
    folder = day_folder(DAY, hive=False, hourly=False, prefix="vpc/logs/")
    s3.put_object(Bucket=BUCKET, Key=f"{folder}notes.txt", Body=b"not a log")

    result, local = fetch(
        clients,
        tmp_path,
        TimeWindow(at(10), at(10, 30)),
        prefix="/vpc/logs/",
        account_ids=(ACCOUNT,),
        hive_compatible=False,
        flow_log_ids=(FLOW_LOG_ID,),
    )

    assert local == names([mine])
    assert {(item["key"], item["reason"]) for item in result.read["skipped"]} == {
        (other, "other flow log"),
        (f"{folder}notes.txt", "not a flow log file"),
    }
    assert result.read["prefix"] == "vpc/logs/"
    # Accounts and layout given: no discovery listing of AWSLogs/.
    assert [item["prefix"] for item in result.read["prefixes_listed"]] == [folder]


def test_it_fails_loudly_when_no_flow_log_folder_is_found(
    s3: Any, clients: ClientFactory, tmp_path: Path
) -> None:
    create_bucket(s3)
    put_files(s3, [at(10)])

    with pytest.raises(SourceError, match="no flow log folders for 999999999999"):
        fetch(clients, tmp_path, TimeWindow(at(10), at(11)), account_ids=("999999999999",))
    with pytest.raises(SourceError, match="under s3://flow-logs-bucket/elsewhere/AWSLogs/"):
        fetch(clients, tmp_path, TimeWindow(at(10), at(11)), prefix="elsewhere")


def test_a_missing_bucket_is_an_aws_error(clients: ClientFactory, tmp_path: Path) -> None:
    with pytest.raises(AwsError) as caught:
        fetch(clients, tmp_path, TimeWindow(at(10), at(11)))
    assert caught.value.code == "NoSuchBucket"


def test_an_object_replaced_after_listing_is_refused_not_read(
    s3: Any, clients: ClientFactory, tmp_path: Path
) -> None:
    create_bucket(s3)
    key = put_files(s3, [at(10, 5)])[0]

    def replacing(service: str, region: str) -> Any:
        client = clients(service, region)

        def replace(**_: Any) -> None:
            s3.put_object(Bucket=BUCKET, Key=key, Body=gz_text([line(1), line(2)]))

        client.meta.events.register("before-call.s3.GetObject", replace)
        return client

    with pytest.raises(AwsError) as caught:
        fetch(replacing, tmp_path, TimeWindow(at(10), at(10, 30)))
    assert caught.value.code == "PreconditionFailed"
    assert key in caught.value.message
    assert os.listdir(tmp_path) == []


def test_cancel_stops_between_objects_and_says_what_was_read(
    s3: Any, clients: ClientFactory, tmp_path: Path
) -> None:
    create_bucket(s3)
    keys = put_files(s3, [at(10, 5 * n) for n in range(6)])
    dest = tmp_path / "out"
    messages: list[str] = []
    source = get_source("s3")
    assert source is S3FlowLogSource

    def cancel() -> bool:
        return dest.exists() and len(os.listdir(dest)) >= 2

    with pytest.raises(FetchCancelled) as caught:
        S3FlowLogSource(clients=clients, max_workers=1).fetch(
            FetchRequest(window=TimeWindow(at(10), at(11)), bucket=BUCKET, region=REGION),
            dest_dir=str(dest),
            progress=lambda message, _: messages.append(message),
            cancel=cancel,
        )

    assert sorted(os.listdir(dest)) == names(keys[:2])
    read = caught.value.read
    assert [item["key"] for item in read["objects"]] == keys[:2]
    assert (read["objects_count"], read["selected_count"]) == (2, 6)
    assert [m for m in messages if m.startswith("Downloading")] == [
        "Downloading 0 of 6 objects",
        "Downloading 1 of 6 objects",
        "Downloading 2 of 6 objects",
    ]


def test_parallel_downloads_give_the_same_files_in_stamp_order(
    s3: Any, clients: ClientFactory, tmp_path: Path
) -> None:
    create_bucket(s3)
    keys = put_files(s3, [at(10, n) for n in range(40)])
    fractions: list[float] = []

    result = S3FlowLogSource(clients=clients, max_workers=8).fetch(
        FetchRequest(window=TimeWindow(at(10), at(10, 39)), bucket=BUCKET, region=REGION),
        dest_dir=str(tmp_path),
        progress=lambda _, fraction: fractions.append(fraction),
    )

    assert [os.path.basename(path) for path in result.paths] == names(keys)
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".part")]


def test_a_window_without_start_lists_the_region_prefix_once(
    s3: Any, clients: ClientFactory, tmp_path: Path
) -> None:
    create_bucket(s3)
    keys = put_files(s3, [at(10, day=DAY - timedelta(days=40)), at(10), at(12)])
    calls: list[dict[str, Any]] = []

    _, local = fetch(recording(clients, calls), tmp_path, TimeWindow(None, at(11)))

    assert local == names(keys[:2])
    assert [(call["Prefix"], call.get("Delimiter")) for call in calls] == [
        ("AWSLogs/", "/"),
        (f"AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/", None),
    ]


def test_shards_deal_out_the_selected_objects_without_overlap_or_gap(
    s3: Any, clients: ClientFactory, tmp_path: Path
) -> None:
    create_bucket(s3)
    stamps = [at(8) + timedelta(minutes=5 * n) for n in range(40)]
    put_files(s3, stamps)
    window = TimeWindow(at(9), at(10, 30))
    whole, everything = fetch(clients, tmp_path / "whole", window)
    parts = [
        fetch(clients, tmp_path / f"shard{index}", window, shard_index=index, shard_count=3)
        for index in range(3)
    ]
    shards = [local for _, local in parts]
    assert sorted(name for local in shards for name in local) == sorted(everything)
    assert all(not set(a) & set(b) for a in shards for b in shards if a is not b)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert [result.read["shard"] for result, _ in parts] == [[0, 3], [1, 3], [2, 3]]
    assert whole.read["shard"] == [0, 1]


def test_a_shard_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ValueError, match="shard 3 of 3"):
        FetchRequest(
            window=TimeWindow(at(9), at(10)),
            bucket=BUCKET,
            region=REGION,
            shard_index=3,
            shard_count=3,
        )
