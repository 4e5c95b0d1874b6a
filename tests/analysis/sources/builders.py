"""Test data for the source tests: flow log lines, S3 keys in both layouts, gzip bodies."""

from __future__ import annotations

import gzip
from datetime import datetime
from typing import Any

REGION = "eu-west-1"
ACCOUNT = "123456789012"
HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status"
)
FLOW_LOG_ID = "fl-0123456789abcdef0"
BUCKET = "flow-logs-bucket"


def line(
    start: int,
    *,
    eni: str = "eni-0a1",
    src: str = "203.0.113.5",
    dst: str = "10.0.1.10",
    dport: int = 443,
    protocol: int = 6,
    packets: int = 10,
    size: int = 840,
    action: str = "ACCEPT",
) -> str:
    """One default-format (v2) record lasting 30 seconds."""
    return (
        f"2 {ACCOUNT} {eni} {src} {dst} 40000 {dport} {protocol} {packets} {size} "
        f"{start} {start + 30} {action} OK"
    )


def gz_text(lines: list[str], *, header: str | None = HEADER) -> bytes:
    text = "".join(f"{item}\n" for item in ([header] if header else []) + lines)
    return gzip.compress(text.encode("ascii"), mtime=0)


def day_folder(stamp: datetime, *, hive: bool, hourly: bool, prefix: str = "") -> str:
    if hive:
        base = (
            f"{prefix}AWSLogs/aws-account-id={ACCOUNT}/aws-service=vpcflowlogs/"
            f"aws-region={REGION}/year={stamp:%Y}/month={stamp:%m}/day={stamp:%d}/"
        )
        return base + (f"hour={stamp:%H}/" if hourly else "")
    base = f"{prefix}AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/{stamp:%Y/%m/%d}/"
    return base + (f"{stamp:%H}/" if hourly else "")


def flow_key(
    stamp: datetime,
    *,
    hive: bool = False,
    hourly: bool = False,
    prefix: str = "",
    flow_log_id: str = FLOW_LOG_ID,
    tag: str = "a1b2c3d4",
    suffix: str = ".log.gz",
) -> str:
    """The key AWS gives a file closed at `stamp`."""
    name = f"{ACCOUNT}_vpcflowlogs_{REGION}_{flow_log_id}_{stamp:%Y%m%dT%H%MZ}_{tag}{suffix}"
    return day_folder(stamp, hive=hive, hourly=hourly, prefix=prefix) + name


def create_bucket(s3: Any, bucket: str = BUCKET) -> None:
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})


def put_events(logs: Any, group: str, stream: str, events: list[tuple[int, str]]) -> None:
    """Create the stream if needed and put (timestamp ms, message) events, in time order."""
    existing = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream)
    if stream not in {item["logStreamName"] for item in existing["logStreams"]}:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    ordered = sorted(events)
    for first in range(0, len(ordered), 5000):
        batch = ordered[first : first + 5000]
        response = logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": ms, "message": message} for ms, message in batch],
        )
        # moto drops events over 14 days old or 2 hours ahead without failing the call.
        assert "rejectedLogEventsInfo" not in response, response["rejectedLogEventsInfo"]
