"""What one Athena query gave back, and its text values as the Python values DuckDB gives."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

_INTEGER_TYPES = {"tinyint", "smallint", "integer", "int", "bigint"}
_FLOAT_TYPES = {"double", "float", "real"}


@dataclass
class QueryResult:
    """The rows of one query as Athena's GetQueryResults gives them: every value as text
    (None for NULL), with each column's name and Athena type."""

    query_id: str
    columns: list[tuple[str, str]]
    rows: list[list[str | None]]
    bytes_scanned: int = 0
    engine_ms: int = 0
    state: str = "SUCCEEDED"
    sql: str = field(default="", repr=False)

    def values(self) -> list[tuple[Any, ...]]:
        """The rows with Python values (int, float, Decimal, bool, datetime, date, str)."""
        types = [kind for _, kind in self.columns]
        return [
            tuple(athena_value(text, kind) for text, kind in zip(row, types, strict=True))
            for row in self.rows
        ]


def athena_value(text: str | None, kind: str) -> Any:
    """One value of an Athena result (always text there) as the Python value of its type."""
    if text is None:
        return None
    base = kind.split("(", 1)[0].strip().lower()
    if base in _INTEGER_TYPES:
        return int(text)
    if base in _FLOAT_TYPES:
        return float(text)
    if base == "decimal":
        return Decimal(text)
    if base == "boolean":
        return text.lower() == "true"
    if base == "date":
        return date.fromisoformat(text)
    if base.startswith("timestamp"):
        return _timestamp(text, with_zone="with time zone" in kind.lower())
    return text


def _timestamp(text: str, *, with_zone: bool) -> datetime:
    """`2024-05-01 12:00:00.000` (naive, as DuckDB gives a TIMESTAMP) or, with a zone
    (`... UTC`), an aware UTC datetime."""
    value = text.strip()
    if with_zone:
        stamp, _, zone = value.rpartition(" ")
        if zone.upper() not in ("UTC", "Z", "+00:00"):
            raise ValueError(f"unexpected time zone in Athena timestamp {text!r}")
        return datetime.fromisoformat(stamp).replace(tzinfo=UTC)
    return datetime.fromisoformat(value)


class QueryExecutor(Protocol):
    """Runs one Athena (Trino) SELECT to the end and returns all its rows."""

    def execute(self, sql: str, label: str = "") -> QueryResult: ...
