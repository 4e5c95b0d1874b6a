"""AWS flow log formats (VPC and Transit Gateway): the known fields, their column types and a
log's field order. A field AWS adds later, named in a header line or a LogFormat, is kept as
text under a column of its own (`extra_<name>`) and ignored by the analyses."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar


class FieldKind(Enum):
    """How a field's text is checked and typed at load time."""

    INTEGER = "integer"
    ADDRESS = "address"
    ACTION = "action"
    LOG_STATUS = "log_status"
    TEXT = "text"


@dataclass(frozen=True)
class FlowField:
    """One AWS flow log field: its AWS name, DuckDB column name, type and first log version."""

    name: str
    kind: FieldKind
    sql_type: str
    version: int
    minimum: int | None = None
    maximum: int | None = None
    known: bool = True

    @property
    def column(self) -> str:
        """The `flows` column: the AWS name with underscores; an unknown field's is prefixed
        so that it can never take the name of a column the loader or the analyses use."""
        column = self.name.replace("-", "_")
        return column if self.known else UNKNOWN_COLUMN_PREFIX + column

    @property
    def parquet_column(self) -> str:
        """The column name AWS writes in its Parquet files (underscores for hyphens)."""
        return self.name.replace("-", "_")


def _int(
    name: str,
    version: int,
    sql_type: str = "BIGINT",
    lo: int = 0,
    hi: int | None = None,
) -> FlowField:
    return FlowField(name, FieldKind.INTEGER, sql_type, version, lo, hi)


def _text(name: str, version: int) -> FlowField:
    return FlowField(name, FieldKind.TEXT, "VARCHAR", version)


# Every field AWS documents for VPC flow log versions 2 to 10, in AWS documentation order,
# then the fields only Transit Gateway flow logs have (their version 6 format).
KNOWN_FIELDS: tuple[FlowField, ...] = (
    _int("version", 2, "INTEGER", 0, 255),
    _text("account-id", 2),
    _text("interface-id", 2),
    FlowField("srcaddr", FieldKind.ADDRESS, "VARCHAR", 2),
    FlowField("dstaddr", FieldKind.ADDRESS, "VARCHAR", 2),
    _int("srcport", 2, "INTEGER", 0, 65535),
    _int("dstport", 2, "INTEGER", 0, 65535),
    _int("protocol", 2, "INTEGER", 0, 255),
    _int("packets", 2),
    _int("bytes", 2),
    _int("start", 2),
    _int("end", 2),
    FlowField("action", FieldKind.ACTION, "VARCHAR", 2),
    FlowField("log-status", FieldKind.LOG_STATUS, "VARCHAR", 2),
    _text("vpc-id", 3),
    _text("subnet-id", 3),
    _text("instance-id", 3),
    _int("tcp-flags", 3, "INTEGER", 0, 65535),
    _text("type", 3),
    FlowField("pkt-srcaddr", FieldKind.ADDRESS, "VARCHAR", 3),
    FlowField("pkt-dstaddr", FieldKind.ADDRESS, "VARCHAR", 3),
    _text("region", 4),
    _text("az-id", 4),
    _text("sublocation-type", 4),
    _text("sublocation-id", 4),
    _text("pkt-src-aws-service", 5),
    _text("pkt-dst-aws-service", 5),
    _text("flow-direction", 5),
    _int("traffic-path", 5, "INTEGER", 0, 255),
    _text("ecs-cluster-arn", 7),
    _text("ecs-cluster-name", 7),
    _text("ecs-container-instance-arn", 7),
    _text("ecs-container-instance-id", 7),
    _text("ecs-container-id", 7),
    _text("ecs-second-container-id", 7),
    _text("ecs-service-name", 7),
    _text("ecs-task-definition-arn", 7),
    _text("ecs-task-arn", 7),
    _text("ecs-task-id", 7),
    _text("reject-reason", 8),
    _text("resource-id", 9),
    # 0 cleartext, 1 Nitro (layer 3), 2 TLS (layer 7), 3 both; `-` when not known.
    _int("encryption-status", 10, "INTEGER", 0, 255),
    # Transit Gateway flow logs.
    _text("resource-type", 6),
    _text("tgw-id", 6),
    _text("tgw-attachment-id", 6),
    _text("tgw-src-vpc-account-id", 6),
    _text("tgw-dst-vpc-account-id", 6),
    _text("tgw-src-vpc-id", 6),
    _text("tgw-dst-vpc-id", 6),
    _text("tgw-src-subnet-id", 6),
    _text("tgw-dst-subnet-id", 6),
    _text("tgw-src-eni", 6),
    _text("tgw-dst-eni", 6),
    _text("tgw-src-az-id", 6),
    _text("tgw-dst-az-id", 6),
    _text("tgw-pair-attachment-id", 6),
    _int("packets-lost-no-route", 6),
    _int("packets-lost-blackhole", 6),
    _int("packets-lost-mtu-exceeded", 6),
    _int("packets-lost-ttl-expired", 6),
)

FIELDS_BY_NAME: dict[str, FlowField] = {field.name: field for field in KNOWN_FIELDS}

# The default format of a Transit Gateway flow log (all its fields, in AWS's order).
TRANSIT_GATEWAY_SPEC = (
    "version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id "
    "tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id "
    "tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id tgw-pair-attachment-id srcaddr dstaddr "
    "srcport dstport protocol packets bytes start end log-status type packets-lost-no-route "
    "packets-lost-blackhole packets-lost-mtu-exceeded packets-lost-ttl-expired tcp-flags region "
    "flow-direction pkt-src-aws-service pkt-dst-aws-service"
)

UNKNOWN_COLUMN_PREFIX = "extra_"
# What a field name AWS might add looks like: lowercase words joined by hyphens.
_FIELD_NAME_RE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_MAX_FIELD_NAME = 64


def is_field_name(token: str) -> bool:
    """True when `token` is spelled like an AWS flow log field (known or not)."""
    key = token.replace("_", "-")
    return len(key) <= _MAX_FIELD_NAME and _FIELD_NAME_RE.fullmatch(key) is not None


def field_named(name: str, *, allow_unknown: bool = False) -> FlowField:
    """Return the known field called `name` (AWS spelling; underscores are accepted too).

    With `allow_unknown`, a name spelled like an AWS field but not known here (one AWS added
    later) becomes a text field; any other name is refused."""
    key = name.strip().replace("_", "-")
    field = FIELDS_BY_NAME.get(key)
    if field is not None:
        return field
    if allow_unknown and is_field_name(key):
        return FlowField(key, FieldKind.TEXT, "VARCHAR", 0, known=False)
    raise ValueError(f"unknown flow log field {name!r}; known fields: {', '.join(FIELDS_BY_NAME)}")


@dataclass(frozen=True)
class FlowFormat:
    """The ordered fields of one flow log, as set by its LogFormat or its header line."""

    fields: tuple[FlowField, ...]

    DEFAULT_SPEC: ClassVar[str] = (
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
        "start end action log-status"
    )

    def __post_init__(self) -> None:
        if not self.fields:
            raise ValueError("a flow log format needs at least one field")
        seen: set[str] = set()
        for field in self.fields:
            if field.column in seen:
                raise ValueError(f"flow log field {field.name!r} appears twice in the format")
            seen.add(field.column)

    @classmethod
    def of(cls, names: Iterable[str], *, allow_unknown: bool = False) -> FlowFormat:
        return cls(tuple(field_named(name, allow_unknown=allow_unknown) for name in names))

    @classmethod
    def parse(cls, log_format: str, *, allow_unknown: bool = False) -> FlowFormat:
        """Read an AWS LogFormat string such as `${version} ${srcaddr} ...` (with
        `allow_unknown`, as AWS reports it: fields not known here are kept as text)."""
        names: list[str] = []
        for token in log_format.split():
            if not (token.startswith("${") and token.endswith("}")) or len(token) < 4:
                raise ValueError(
                    f"bad LogFormat token {token!r}: expected fields written as ${{field-name}}"
                )
            names.append(token[2:-1])
        if not names:
            raise ValueError("empty LogFormat string")
        return cls.of(names, allow_unknown=allow_unknown)

    @classmethod
    def from_text(cls, text: str) -> FlowFormat:
        """A format a person typed: an AWS LogFormat (`${version} ${srcaddr} ...`) or the field
        names as a header line lists them. Every field must be known (a typo is an error)."""
        if "${" in text:
            return cls.parse(text)
        names = text.split()
        if not names:
            raise ValueError("empty flow log format")
        return cls.of(names)

    @property
    def log_format(self) -> str:
        """The format as an AWS LogFormat string."""
        return " ".join(f"${{{name}}}" for name in self.names)

    @classmethod
    def from_header(cls, header: str) -> FlowFormat:
        """Read the header line of an S3 flow log file (`version account-id ...`); a field
        not known here is kept as text (see `unknown_names`)."""
        names = header.split()
        if not names:
            raise ValueError("empty flow log header line")
        return cls.of(names, allow_unknown=True)

    @property
    def names(self) -> list[str]:
        return [field.name for field in self.fields]

    @property
    def columns(self) -> list[str]:
        return [field.column for field in self.fields]

    @property
    def unknown_names(self) -> list[str]:
        """The fields not known here (kept as text, ignored by the analyses)."""
        return [field.name for field in self.fields if not field.known]

    @property
    def is_transit_gateway(self) -> bool:
        """A Transit Gateway flow log: it has fields only those have."""
        return any(field.name.startswith(("tgw-", "packets-lost-")) for field in self.fields)

    def has(self, name: str) -> bool:
        return any(field.name == name for field in self.fields)

    def index_of(self, name: str) -> int:
        """0-based position of field `name` in this format."""
        return self.names.index(name)

    def to_log_format(self) -> str:
        return " ".join(f"${{{name}}}" for name in self.names)

    def __iter__(self) -> Iterator[FlowField]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __str__(self) -> str:
        return " ".join(self.names)


def looks_like_header(line: str) -> bool:
    """True when `line` is a header (the first line of S3 files): every token is spelled like
    a field name, and at least half of them are fields known here."""
    tokens = line.split()
    if not tokens or not all(is_field_name(token) for token in tokens):
        return False
    known = sum(token.replace("_", "-") in FIELDS_BY_NAME for token in tokens)
    return known >= 1 and 2 * known >= len(tokens)


DEFAULT_FORMAT = FlowFormat.of(FlowFormat.DEFAULT_SPEC.split())
TRANSIT_GATEWAY_FORMAT = FlowFormat.of(TRANSIT_GATEWAY_SPEC.split())
