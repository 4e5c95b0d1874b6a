"""The source registry, FetchRequest (round trip, from a discovered flow log) and formats."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from analysis.aws import normalize_flow_log
from analysis.formats import DEFAULT_FORMAT, FlowFormat
from analysis.sources import (
    CloudWatchFlowLogSource,
    FetchRequest,
    FileFlowLogSource,
    FlowLogSource,
    S3FlowLogSource,
    SourceError,
    all_sources,
    get_source,
    parse_log_format,
    register,
    source_kind_for,
)
from analysis.sources.base import ListedItems
from analysis.window import TimeWindow

WINDOW = TimeWindow(datetime(2025, 3, 10, 10, tzinfo=UTC), datetime(2025, 3, 10, 11, tzinfo=UTC))


def test_sources_are_found_by_kind() -> None:
    assert get_source("file") is FileFlowLogSource
    assert get_source("s3") is S3FlowLogSource
    assert get_source("cloudwatch") is CloudWatchFlowLogSource
    assert [source.kind for source in all_sources()] == ["cloudwatch", "file", "s3"]
    assert S3FlowLogSource.describe()["title"] == "Amazon S3"
    with pytest.raises(ValueError, match="known sources: cloudwatch, file, s3"):
        get_source("athena")


def test_a_second_source_of_the_same_kind_is_refused() -> None:
    class Other(FlowLogSource):
        kind = "s3"

    with pytest.raises(ValueError, match="already registered"):
        register(Other)
    assert get_source("s3") is S3FlowLogSource


def test_an_aws_source_without_a_client_factory_says_so(tmp_path: object) -> None:
    with pytest.raises(SourceError, match="needs a client factory"):
        S3FlowLogSource().fetch(
            FetchRequest(window=WINDOW, bucket="b", region="eu-west-1"), dest_dir=str(tmp_path)
        )


def test_a_request_survives_a_json_round_trip() -> None:
    original = FetchRequest(
        window=WINDOW,
        bucket="logs",
        prefix="/vpc/",
        region="eu-west-1",
        account_ids=["123456789012"],  # type: ignore[arg-type]
        hive_compatible=True,
        interface_ids=("eni-0a1", "eni-0a1", " "),
        slack=timedelta(minutes=5),
    )

    data = json.loads(json.dumps(original.to_dict()))

    assert data["prefix"] == "vpc/"
    assert data["interface_ids"] == ["eni-0a1"]
    assert data["slack"] == 300
    assert data["window"] == {
        "start": "2025-03-10T10:00:00+00:00",
        "end": "2025-03-10T11:00:00+00:00",
    }
    assert FetchRequest.from_dict(data) == original
    with pytest.raises(ValueError, match="unknown fetch request fields: colour"):
        FetchRequest.from_dict({**data, "colour": "red"})
    with pytest.raises(ValueError, match="slack must not be negative"):
        FetchRequest(slack=timedelta(seconds=-1))


def test_a_request_is_built_from_a_discovered_flow_log() -> None:
    s3_log = normalize_flow_log(
        {
            "FlowLogId": "fl-0abc",
            "ResourceId": "vpc-1",
            "LogDestinationType": "s3",
            "LogDestination": "arn:aws:s3:::central-logs/vpc",
            "LogFormat": "${version} ${srcaddr} ${dstaddr}",
            "DestinationOptions": {"HiveCompatiblePartitions": True, "PerHourPartition": True},
        },
        "eu-west-1",
    )
    cw_log = normalize_flow_log(
        {"FlowLogId": "fl-0def", "ResourceId": "eni-1", "LogGroupName": "/vpc/flows"},
        "us-east-1",
    )

    s3_request = FetchRequest.for_flow_log(s3_log, window=WINDOW)
    cw_request = FetchRequest.for_flow_log(cw_log, window=WINDOW, interface_ids=["eni-1"])

    assert source_kind_for(s3_log) == "s3"
    assert (s3_request.bucket, s3_request.prefix, s3_request.region) == (
        "central-logs",
        "vpc/",
        "eu-west-1",
    )
    assert (s3_request.hive_compatible, s3_request.flow_log_ids) == (True, ("fl-0abc",))
    assert s3_request.flow_format.names == ["version", "srcaddr", "dstaddr"]
    assert source_kind_for(cw_log) == "cloudwatch"
    assert (cw_request.log_group, cw_request.region, cw_request.interface_ids) == (
        "/vpc/flows",
        "us-east-1",
        ("eni-1",),
    )
    assert cw_request.flow_format == DEFAULT_FORMAT
    with pytest.raises(SourceError, match="kinesis-data-firehose"):
        source_kind_for({"destination_type": "kinesis-data-firehose"})


def test_log_formats_are_read_from_a_log_format_a_header_or_nothing() -> None:
    assert parse_log_format("") == DEFAULT_FORMAT
    assert parse_log_format("${version} ${tcp-flags}") == FlowFormat.of(["version", "tcp-flags"])
    assert parse_log_format("version tcp-flags") == FlowFormat.of(["version", "tcp-flags"])
    # A field AWS added that is not known here is kept as text; a name no field has is not.
    assert parse_log_format("${version} ${colour}").unknown_names == ["colour"]
    with pytest.raises(ValueError, match="unknown flow log field"):
        parse_log_format("${Colour!}")


def test_listed_items_keep_the_first_entries_and_count_and_digest_them_all() -> None:
    listed = ListedItems(limit=2)
    for n in range(5):
        listed.add({"n": n}, str(n))
    other = ListedItems(limit=10)
    for n in range(5):
        other.add({"n": n}, str(n))

    described = listed.describe("things")

    assert described["things"] == [{"n": 0}, {"n": 1}]
    assert (described["things_count"], described["things_truncated"]) == (5, True)
    assert described["things_digest"] == other.digest
    assert other.truncated is False
