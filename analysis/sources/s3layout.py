"""Where VPC flow log files live in S3: the default and Hive-compatible key layouts, file names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from analysis.sources.base import PARQUET, TEXT

# `{account}_vpcflowlogs_{region}_{flow-log-id}_{YYYYMMDDTHHmmZ}_{hash}.log.gz` (or
# `.log.parquet`); the stamp is when AWS closed the file, in UTC, to the minute.
_FILE_NAME = re.compile(
    r"^(?P<account>\d{12})_vpcflowlogs_(?P<region>[a-z0-9-]+)_(?P<flow_log_id>fl-[0-9A-Za-z]+)_"
    r"(?P<stamp>\d{8}T\d{4}Z)_(?P<hash>[0-9A-Za-z]+)\.(?P<suffix>[A-Za-z0-9.]+)$"
)
_ACCOUNT_DEFAULT = re.compile(r"^(?P<account>\d{12})$")
_ACCOUNT_HIVE = re.compile(r"^aws-account-id=(?P<account>\d{12})$")
_HOUR_DEFAULT = re.compile(r"^(?P<hour>\d{2})$")
_HOUR_HIVE = re.compile(r"^hour=(?P<hour>\d{2})$")


def content_for_name(name: str) -> str | None:
    """TEXT for `.log`, `.gz` names, PARQUET for `.parquet`; None for anything else."""
    lowered = name.lower()
    if lowered.endswith(".parquet"):
        return PARQUET
    if lowered.endswith((".log.gz", ".gz", ".log")):
        return TEXT
    return None


@dataclass(frozen=True)
class FlowLogFileName:
    """What an AWS flow log file name says about its contents."""

    account_id: str
    region: str
    flow_log_id: str
    timestamp: datetime


def parse_file_name(name: str) -> FlowLogFileName | None:
    """The parts of an AWS flow log file name, or None if `name` is not one."""
    match = _FILE_NAME.match(name)
    if match is None:
        return None
    try:
        stamp = datetime.strptime(match.group("stamp"), "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return FlowLogFileName(
        match.group("account"), match.group("region"), match.group("flow_log_id"), stamp
    )


def parse_account_folder(name: str) -> tuple[str, bool] | None:
    """`123456789012` → (account, False); `aws-account-id=123456789012` → (account, True)."""
    for pattern, hive in ((_ACCOUNT_DEFAULT, False), (_ACCOUNT_HIVE, True)):
        match = pattern.match(name)
        if match:
            return match.group("account"), hive
    return None


def days_between(lo: datetime, hi: datetime) -> list[date]:
    first, last = lo.date(), hi.date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@dataclass(frozen=True)
class S3Layout:
    """The flow log files of one account and region under one bucket prefix (which is empty
    or ends with a slash), in the default or the Hive-compatible layout."""

    prefix: str
    account_id: str
    region: str
    hive: bool

    @property
    def name(self) -> str:
        return "hive" if self.hive else "default"

    @property
    def region_prefix(self) -> str:
        if self.hive:
            return (
                f"{self.prefix}AWSLogs/aws-account-id={self.account_id}/aws-service=vpcflowlogs/"
                f"aws-region={self.region}/"
            )
        return f"{self.prefix}AWSLogs/{self.account_id}/vpcflowlogs/{self.region}/"

    def day_prefix(self, day: date) -> str:
        if self.hive:
            return (
                f"{self.region_prefix}year={day.year:04d}/month={day.month:02d}/day={day.day:02d}/"
            )
        return f"{self.region_prefix}{day.year:04d}/{day.month:02d}/{day.day:02d}/"

    def hour_of(self, day_prefix: str, folder: str) -> int | None:
        """The hour of an hour folder (`HH/` or `hour=HH/`) found under `day_prefix`."""
        if not folder.startswith(day_prefix):
            return None
        tail = folder[len(day_prefix) :].rstrip("/")
        match = (_HOUR_HIVE if self.hive else _HOUR_DEFAULT).match(tail)
        if match is None:
            return None
        hour = int(match.group("hour"))
        return hour if 0 <= hour < 24 else None

    def to_dict(self) -> dict[str, str]:
        return {
            "account_id": self.account_id,
            "region": self.region,
            "layout": self.name,
            "prefix": self.region_prefix,
        }
