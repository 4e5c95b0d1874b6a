"""S3 key layouts and flow log file names."""

from __future__ import annotations

from datetime import UTC, date, datetime

from analysis.sources.s3layout import (
    S3Layout,
    content_for_name,
    days_between,
    parse_account_folder,
    parse_file_name,
)


def test_a_flow_log_file_name_gives_its_flow_log_and_stamp() -> None:
    parsed = parse_file_name(
        "123456789012_vpcflowlogs_eu-west-1_fl-0123456789abcdef0_20250310T1005Z_a1b2c3d4.log.gz"
    )
    assert parsed is not None
    assert (parsed.account_id, parsed.region, parsed.flow_log_id) == (
        "123456789012",
        "eu-west-1",
        "fl-0123456789abcdef0",
    )
    assert parsed.timestamp == datetime(2025, 3, 10, 10, 5, tzinfo=UTC)
    assert parse_file_name("notes.txt") is None
    assert (
        parse_file_name("123456789012_vpcflowlogs_eu-west-1_fl-1_20251310T1005Z_a.log.gz") is None
    )


def test_contents_are_known_by_suffix() -> None:
    assert [content_for_name(name) for name in ("a.log.gz", "a.log.parquet", "a.log", "a.txt")] == [
        "text",
        "parquet",
        "text",
        None,
    ]


def test_both_layouts_give_aws_prefixes() -> None:
    default = S3Layout("logs/", "123456789012", "eu-west-1", hive=False)
    hive = S3Layout("", "123456789012", "eu-west-1", hive=True)
    day = date(2025, 3, 9)

    assert default.day_prefix(day) == "logs/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2025/03/09/"
    assert hive.day_prefix(day) == (
        "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/"
        "year=2025/month=03/day=09/"
    )
    assert default.hour_of(default.day_prefix(day), default.day_prefix(day) + "07/") == 7
    assert hive.hour_of(hive.day_prefix(day), hive.day_prefix(day) + "hour=23/") == 23
    assert hive.hour_of(hive.day_prefix(day), hive.day_prefix(day) + "07/") is None
    assert parse_account_folder("123456789012") == ("123456789012", False)
    assert parse_account_folder("aws-account-id=123456789012") == ("123456789012", True)
    assert parse_account_folder("elasticloadbalancing") is None


def test_days_between_covers_both_ends() -> None:
    assert days_between(
        datetime(2025, 2, 28, 23, 50, tzinfo=UTC), datetime(2025, 3, 1, 0, 10, tzinfo=UTC)
    ) == [date(2025, 2, 28), date(2025, 3, 1)]
