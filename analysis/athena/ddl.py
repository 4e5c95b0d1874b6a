"""The Athena table over one flow log's S3 prefix, and the `flows` relation over it in Trino SQL.

The table uses partition projection on one string partition column, `dt`, whose values are the
key folders AWS writes (`2024/05/01[/13]` or `year=2024/month=05/day=01[/hour=13]`), so
a time window becomes a `dt BETWEEN` predicate and Athena lists only those folders. Its columns
are the flow log's own fields (from its LogFormat), typed as AWS documents them.

`flows` derives the columns the local loader adds (analysis.lineparse.DERIVED_COLUMNS), with one
difference: Trino has no 128-bit integer, so an address column (src_ip, dst_ip, pkt_src_ip,
pkt_dst_ip) holds the same number as 32 lowercase hex digits; their text order is the numeric
order, so range tests work unchanged once their literals are hex (see analysis.athena.render).
Rows are those the local loader keeps: malformed records (by the loader's field checks), NODATA
and SKIPDATA records and records outside the time window are left out. Unlike the local loader,
Athena does not count or show them, and it ignores extra fields at the end of a text line.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from analysis.formats import FieldKind, FlowField, FlowFormat
from analysis.lineparse import _IPV6_RE, sql_string
from analysis.sources.base import DEFAULT_SLACK, PARQUET, TEXT
from analysis.sources.s3layout import S3Layout
from analysis.window import TimeWindow

PARTITION_COLUMN = "dt"
# VPC flow logs could be delivered to S3 from mid-2018: projection starts there by default.
FIRST_DAY = date(2018, 6, 1)
ADDRESS_COLUMNS = {
    "srcaddr": "src_ip",
    "dstaddr": "dst_ip",
    "pkt-srcaddr": "pkt_src_ip",
    "pkt-dstaddr": "pkt_dst_ip",
}
FAMILY_COLUMNS = {"srcaddr": "src_family", "dstaddr": "dst_family"}
TIME_COLUMNS = {"start": "start_ts", "end": "end_ts"}
# AWS writes `protocol` as INT64 in its Parquet files (Athena's Parquet reader needs the
# exact type); every other field has the type analysis.formats gives it.
PARQUET_TYPES = {"protocol": "bigint"}
_HIVE_TYPES = {"INTEGER": "int", "BIGINT": "bigint", "VARCHAR": "string"}
MAX_EPOCH = 253402300799  # as the local loader: later times cannot be timestamps
# ... and, as its exact parser, a later start or end is in milliseconds (read as seconds).
MAX_EPOCH_MILLIS = MAX_EPOCH * 1000 + 999
IDENTIFIER_RE = re.compile(r"^[a-z0-9_]{1,255}$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4_RE = r"^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$"
_IPV6_PATTERN = sql_string("^(" + _IPV6_RE + ")$")  # the loader's IPv6 shapes, anchored
_HEX = "0123456789abcdef"
_IPV4_MAPPED_PREFIX = "0" * 20 + "ffff"


def check_identifier(value: str, what: str) -> str:
    """Athena database and table names: lowercase letters, digits and underscores."""
    if not IDENTIFIER_RE.match(value):
        raise ValueError(
            f"{what} {value!r} is not a valid Athena name: use lowercase letters, digits and "
            "underscores (at most 255)"
        )
    return value


def hive_type(field: FlowField, file_format: str) -> str:
    """Text tables read every field as a string, so `flows` can tell '-' from a bad value
    (Athena's text reader would make both NULL); Parquet columns have AWS's types."""
    if file_format == TEXT:
        return "string"
    return PARQUET_TYPES.get(field.name, _HIVE_TYPES[field.sql_type])


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class AthenaTable:
    """One flow log's files as an Athena table: where they are, their layout and fields."""

    database: str
    name: str
    bucket: str
    layout: S3Layout
    flow_format: FlowFormat
    file_format: str = TEXT  # TEXT (space-separated, one header line per file) or PARQUET
    hourly: bool = False
    first_day: date = FIRST_DAY

    def __post_init__(self) -> None:
        check_identifier(self.database, "database")
        check_identifier(self.name, "table")
        if not _BUCKET_RE.match(self.bucket):
            raise ValueError(f"not an S3 bucket name: {self.bucket!r}")
        if any(char in self.layout.region_prefix for char in "'\\\"`$"):
            raise ValueError(f"S3 prefix {self.layout.region_prefix!r} has a quote character")
        if self.file_format not in (TEXT, PARQUET):
            raise ValueError(f"file format must be {TEXT} or {PARQUET}, got {self.file_format!r}")

    @classmethod
    def for_flow_log(
        cls,
        *,
        database: str,
        flow_log_id: str,
        bucket: str,
        layout: S3Layout,
        flow_format: FlowFormat,
        file_format: str = TEXT,
        hourly: bool = False,
    ) -> AthenaTable:
        """The table for a flow log, named after it and a digest of everything the DDL says,
        so the same flow log reuses its table and a changed one gets a new table."""
        identity = "|".join(
            [
                bucket,
                layout.region_prefix,
                str(flow_format),
                file_format,
                "hourly" if hourly else "daily",
            ]
        )
        digest = hashlib.sha256(identity.encode()).hexdigest()[:10]
        stem = re.sub(r"[^a-z0-9]+", "_", flow_log_id.lower()).strip("_")[:60] or "flowlog"
        return cls(
            database=database,
            name=f"flowlogs_{stem}_{digest}",
            bucket=bucket,
            layout=layout,
            flow_format=flow_format,
            file_format=file_format,
            hourly=hourly,
        )

    # -- the table --------------------------------------------------------------------------

    @property
    def qualified_name(self) -> str:
        return f"{_quoted(self.database)}.{_quoted(self.name)}"

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.layout.region_prefix}"

    @property
    def java_date_format(self) -> str:
        """The partition folder format, as Athena's date projection (Java) reads it."""
        if self.layout.hive:
            text = "'year='yyyy'/month='MM'/day='dd"
            return text + "'/hour='HH" if self.hourly else text
        return "yyyy/MM/dd/HH" if self.hourly else "yyyy/MM/dd"

    def partition_value(self, moment: datetime) -> str:
        """The `dt` value (key folder) that holds files written at `moment` (UTC)."""
        moment = moment.astimezone(UTC) if moment.tzinfo else moment
        if self.layout.hive:
            text = f"year={moment:%Y}/month={moment:%m}/day={moment:%d}"
            return text + f"/hour={moment:%H}" if self.hourly else text
        return f"{moment:%Y/%m/%d/%H}" if self.hourly else f"{moment:%Y/%m/%d}"

    def create_database_sql(self) -> str:
        return f"CREATE DATABASE IF NOT EXISTS `{self.database}`"

    def create_table_sql(self) -> str:
        """CREATE EXTERNAL TABLE (Hive DDL, as Athena runs it) with partition projection."""
        columns = ",\n".join(
            f"  `{field.column}` {hive_type(field, self.file_format)}" for field in self.flow_format
        )
        start = datetime(self.first_day.year, self.first_day.month, self.first_day.day)
        properties = {
            "projection.enabled": "true",
            f"projection.{PARTITION_COLUMN}.type": "date",
            f"projection.{PARTITION_COLUMN}.format": self.java_date_format,
            f"projection.{PARTITION_COLUMN}.range": f"{self.partition_value(start)},NOW",
            f"projection.{PARTITION_COLUMN}.interval": "1",
            f"projection.{PARTITION_COLUMN}.interval.unit": "HOURS" if self.hourly else "DAYS",
            "storage.location.template": f"{self.location}${{{PARTITION_COLUMN}}}/",
        }
        if self.file_format == TEXT:
            storage = "ROW FORMAT DELIMITED FIELDS TERMINATED BY ' '\nSTORED AS TEXTFILE"
            properties = {"skip.header.line.count": "1", **properties}
        else:
            storage = "STORED AS PARQUET"
        tblproperties = ",\n".join(
            f"  {_ddl_string(key)} = {_ddl_string(value)}" for key, value in properties.items()
        )
        return (
            f"CREATE EXTERNAL TABLE IF NOT EXISTS `{self.database}`.`{self.name}` (\n"
            f"{columns}\n)\n"
            f"PARTITIONED BY (`{PARTITION_COLUMN}` string)\n"
            f"{storage}\n"
            f"LOCATION {_ddl_string(self.location)}\n"
            f"TBLPROPERTIES (\n{tblproperties}\n)"
        )

    # -- the flows relation -----------------------------------------------------------------

    @property
    def columns(self) -> set[str]:
        """Column names of the `flows` relation (the fields and the derived columns)."""
        names = set(self.flow_format.columns)
        for field in self.flow_format:
            for derived in (ADDRESS_COLUMNS, FAMILY_COLUMNS, TIME_COLUMNS):
                if field.name in derived:
                    names.add(derived[field.name])
        return names

    def partition_predicate(
        self,
        window: TimeWindow | None,
        *,
        now: datetime | None = None,
        slack: timedelta = DEFAULT_SLACK,
    ) -> str:
        """Trino SQL: the key folders a window's files can be in (widened by `slack`, as the
        S3 source widens it, because a file lands in the folder of when it was written)."""
        if window is None:
            return "TRUE"
        hi = (window.end or now or datetime.now(UTC)) + slack
        terms = [f"{PARTITION_COLUMN} <= {sql_string(self.partition_value(hi))}"]
        if window.start is not None:
            lo = window.start - slack
            terms.insert(0, f"{PARTITION_COLUMN} >= {sql_string(self.partition_value(lo))}")
        return " AND ".join(terms)

    def flows_sql(
        self,
        window: TimeWindow | None = None,
        *,
        now: datetime | None = None,
        slack: timedelta = DEFAULT_SLACK,
    ) -> str:
        """Trino SELECT giving the rows and columns of the local `flows` table for `window`.

        Rows the local loader would call malformed are left out by the same field checks
        (shape, range, start <= end), as far as Athena lets them be seen: it ignores the
        fields of a text line beyond the table's columns.
        """
        fmt = self.flow_format
        scanned, checks = [], []
        for field in fmt:
            value, check = _typed_and_check(field, self.file_format)
            scanned.append(f"{value} AS {_quoted(field.column)}")
            checks.append(check)
        addresses = [field for field in fmt if field.name in ADDRESS_COLUMNS]
        for field in addresses:
            scanned.append(f"lower(NULLIF({_quoted(field.column)}, '-')) AS {_text(field)}")
        scanned.append(f"({' AND '.join(checks)}) AS _fields_ok")

        parts = [_quoted(field.column) for field in fmt] + ["_fields_ok"]
        for field in addresses:
            text = _text(field)
            parts += [
                f"{_ipv4_test(text)} AS {_text(field, 'v4')}",
                f"regexp_like({text}, {_IPV6_PATTERN}) AS {_text(field, 'v6')}",
                f"CASE WHEN strpos({text}, '::') > 0 THEN split_part({text}, '::', 1) "
                f"ELSE {text} END AS {_text(field, 'l')}",
                f"CASE WHEN strpos({text}, '::') > 0 THEN split_part({text}, '::', 2) "
                f"ELSE '' END AS {_text(field, 'r')}",
                text,
            ]

        final = [_quoted(field.column) for field in fmt]
        for field in addresses:
            final.append(f"{_hex_sql(field)} AS {ADDRESS_COLUMNS[field.name]}")
            if field.name in FAMILY_COLUMNS:
                final.append(
                    f"CAST(CASE WHEN {_text(field, 'v4')} THEN 4 WHEN {_text(field, 'v6')} "
                    f"THEN 6 END AS TINYINT) AS {FAMILY_COLUMNS[field.name]}"
                )
        for field in fmt:
            if field.name in TIME_COLUMNS:
                final.append(
                    f"date_add('second', {_quoted(field.column)}, "
                    f"TIMESTAMP '1970-01-01 00:00:00') AS {TIME_COLUMNS[field.name]}"
                )

        kept = ["COALESCE(_fields_ok, FALSE)"]
        kept += [
            f"({_text(field)} IS NULL OR {_text(field, 'v4')} OR {_text(field, 'v6')})"
            for field in addresses
        ]
        if fmt.has("start") and fmt.has("end"):
            kept.append('COALESCE("start" <= "end", TRUE)')
        if window is not None and fmt.has("start") and fmt.has("end"):
            # The local loader's rule: a record is outside when it ends before the window or
            # starts after it (an unknown time keeps it).
            if window.start_epoch is not None:
                kept.append(f'("end" IS NULL OR "end" >= {window.start_epoch})')
            if window.end_epoch is not None:
                kept.append(f'("start" IS NULL OR "start" <= {window.end_epoch})')
        if fmt.has("log-status"):
            kept.append("log_status NOT IN ('NODATA', 'SKIPDATA')")
        partitions = self.partition_predicate(window, now=now, slack=slack)
        return (
            f"SELECT {', '.join(final)}\n"
            f"FROM (\n"
            f"  SELECT {', '.join(parts)}\n"
            f"  FROM (\n"
            f"    SELECT {', '.join(scanned)}\n"
            f"    FROM {self.qualified_name}\n"
            f"    WHERE {partitions}\n"
            f"  ) AS scanned\n"
            f") AS split\n"
            f"WHERE {' AND '.join(kept)}"
        )


def _ddl_string(value: str) -> str:
    """A Hive DDL string literal. Double quotes, because the Hive-layout date format holds
    single quotes; Hive escapes with backslashes, so neither may occur in the value."""
    if '"' in value or "\\" in value:
        raise ValueError(f"cannot quote {value!r} for Athena DDL")
    return f'"{value}"'


def _typed_and_check(field: FlowField, file_format: str) -> tuple[str, str]:
    """SQL for one field: its typed value, and a test that the loader would accept it.

    Text tables hold every field as the text of the line (so '-' and garbage differ);
    Parquet columns are typed already, with NULL where AWS writes no value.
    """
    column = _quoted(field.column)
    hi = MAX_EPOCH_MILLIS if field.name in TIME_COLUMNS else field.maximum
    if field.kind is FieldKind.INTEGER:
        sql_type = "BIGINT" if field.sql_type == "BIGINT" else "INTEGER"
        if file_format == PARQUET:
            in_range = f" AND {column} <= {hi}" if hi is not None else ""
            value = f"CAST({column} AS {sql_type})"
            if field.name in TIME_COLUMNS:
                value = _seconds(value)
            return value, f"({column} IS NULL OR ({column} >= 0{in_range}))"
        number = f"TRY_CAST({column} AS BIGINT)"
        in_range = f"{number} <= {hi}" if hi is not None else f"{number} IS NOT NULL"
        value = f"TRY_CAST(NULLIF({column}, '-') AS {sql_type})"
        if field.name in TIME_COLUMNS:
            value = _seconds(value)
        return (
            value,
            f"({column} = '-' OR (regexp_like({column}, '^[0-9]{{1,19}}$') AND {in_range}))",
        )
    present = "TRUE" if file_format == PARQUET else f"{column} IS NOT NULL"
    if field.kind is FieldKind.ACTION:
        return (
            f"NULLIF({column}, '-')",
            f"({column} IS NULL OR {column} IN ('ACCEPT', 'REJECT', '-'))"
            if file_format == PARQUET
            else f"{column} IN ('ACCEPT', 'REJECT', '-')",
        )
    if field.kind is FieldKind.LOG_STATUS:
        return f"NULLIF({column}, '-')", f"{column} IN ('OK', 'NODATA', 'SKIPDATA')"
    if field.kind is FieldKind.ADDRESS:
        return f"NULLIF({column}, '-')", present  # the address itself is checked later
    check = "TRUE" if file_format == PARQUET else f"{column} <> ''"
    return f"NULLIF({column}, '-')", check


def _seconds(value: str) -> str:
    """SQL: a start or end in seconds, given in seconds or (past year 9999) milliseconds."""
    # floor() and the cast keep it whole where `/` divides exactly.
    return (
        f"CASE WHEN {value} > {MAX_EPOCH} THEN CAST(floor({value} / 1000) AS BIGINT) "
        f"ELSE {value} END"
    )


def _text(field: FlowField, part: str = "") -> str:
    return f"_{field.column}{'_' + part if part else ''}"


def _octet(text: str, index: int) -> str:
    return f"TRY_CAST(split_part({text}, '.', {index}) AS INTEGER)"


def _ipv4_test(text: str) -> str:
    octets = " AND ".join(f"{_octet(text, index)} <= 255" for index in range(1, 5))
    return f"(regexp_like({text}, {sql_string(_IPV4_RE)}) AND {octets})"


def _hex_digit(number: str) -> str:
    return f"substr('{_HEX}', CAST({number} AS INTEGER) + 1, 1)"


def _groups(text: str) -> str:
    """SQL: how many colon-separated groups `text` has (0 for '')."""
    colons = f"length({text}) - length(replace({text}, ':', ''))"
    return f"(CASE WHEN {text} = '' THEN 0 ELSE {colons} + 1 END)"


def _padded_groups(text: str) -> str:
    """SQL: each group of `text` padded to 4 hex digits, concatenated."""
    pieces = [
        f"CASE WHEN {_groups(text)} >= {index} "
        f"THEN lpad(split_part({text}, ':', {index}), 4, '0') ELSE '' END"
        for index in range(1, 9)
    ]
    return "(" + " || ".join(pieces) + ")"


def _hex_sql(field: FlowField) -> str:
    """SQL: the address of `field` as 32 hex digits (IPv4 mapped into ::ffff:0:0/96), or NULL."""
    text = _text(field)
    octets = []
    for index in range(1, 5):
        octet = _octet(text, index)
        octets += [_hex_digit(f"floor({octet} / 16)"), _hex_digit(f"{octet} % 16")]
    ipv4 = f"'{_IPV4_MAPPED_PREFIX}' || " + " || ".join(octets)
    left, right = _text(field, "l"), _text(field, "r")
    width = f"greatest(0, 32 - 4 * ({_groups(left)} + {_groups(right)}))"
    zeros = f"lpad('', CAST({width} AS INTEGER), '0')"
    ipv6 = f"{_padded_groups(left)} || {zeros} || {_padded_groups(right)}"
    return f"CASE WHEN {_text(field, 'v4')} THEN {ipv4} WHEN {_text(field, 'v6')} THEN {ipv6} END"
