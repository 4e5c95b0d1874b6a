"""AWS VPC flow log formats: the known fields, their column types and a log's field order."""

from __future__ import annotations

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

    @property
    def column(self) -> str:
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


# Every field AWS documents for flow log versions 2 to 8, in AWS documentation order.
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
)

FIELDS_BY_NAME: dict[str, FlowField] = {field.name: field for field in KNOWN_FIELDS}


def field_named(name: str) -> FlowField:
    """Return the known field called `name` (AWS spelling; underscores are accepted too)."""
    key = name.strip().replace("_", "-")
    try:
        return FIELDS_BY_NAME[key]
    except KeyError:
        raise ValueError(
            f"unknown flow log field {name!r}; known fields: {', '.join(FIELDS_BY_NAME)}"
        ) from None


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
            if field.name in seen:
                raise ValueError(f"flow log field {field.name!r} appears twice in the format")
            seen.add(field.name)

    @classmethod
    def of(cls, names: Iterable[str]) -> FlowFormat:
        return cls(tuple(field_named(name) for name in names))

    @classmethod
    def parse(cls, log_format: str) -> FlowFormat:
        """Read an AWS LogFormat string such as `${version} ${srcaddr} ...`."""
        names: list[str] = []
        for token in log_format.split():
            if not (token.startswith("${") and token.endswith("}")) or len(token) < 4:
                raise ValueError(
                    f"bad LogFormat token {token!r}: expected fields written as ${{field-name}}"
                )
            names.append(token[2:-1])
        if not names:
            raise ValueError("empty LogFormat string")
        return cls.of(names)

    @classmethod
    def from_header(cls, header: str) -> FlowFormat:
        """Read the header line of an S3 flow log file (`version account-id ...`)."""
        names = header.split()
        if not names:
            raise ValueError("empty flow log header line")
        return cls.of(names)

    @property
    def names(self) -> list[str]:
        return [field.name for field in self.fields]

    @property
    def columns(self) -> list[str]:
        return [field.column for field in self.fields]

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
    """True when every token of `line` is a known field name (the first line of S3 files)."""
    tokens = line.split()
    return bool(tokens) and all(token in FIELDS_BY_NAME for token in tokens)


DEFAULT_FORMAT = FlowFormat.of(FlowFormat.DEFAULT_SPEC.split())
