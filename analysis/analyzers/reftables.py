"""Reference data from AnalysisParams (CIDR ranges, port tags) as a relation the analyzers join:
a DuckDB temp table in the local engine, or an inline VALUES relation any engine runs."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from analysis.addresses import cidr_bounds
from analysis.lineparse import sql_string

CIDR_TABLE = "ref_cidrs"
LOOKUP_TABLE = "ref_lookup"
# Range bounds are addresses: named like the address columns so that analysis.athena.render
# writes them in Athena's form (hex strings).
RANGE_COLUMNS = ("lo_ip", "hi_ip")
CIDR_COLUMNS = ("table_name", "cidr", "label", *RANGE_COLUMNS)
LOOKUP_COLUMNS = ("dstport", "protocol", "tag")
# An inline relation travels in the query text: Athena takes at most 256 KB of it, of which
# the `flows` CTE and the analyzer's own SQL take some 20 KB.
INLINE_MAX_ROWS = 4_000
INLINE_MAX_BYTES = 160_000

# Labels shown first, in this order; any others follow in their own order.
LABEL_ORDER = ("provider", "service", "region", "country", "city", "postal", "label")


def label_text(labels: dict[str, str]) -> str:
    """One display string for an entry's labels: values joined by " / ", empty ones skipped."""
    keys = [key for key in LABEL_ORDER if key in labels] + [
        key for key in labels if key not in LABEL_ORDER
    ]
    return " / ".join(labels[key] for key in keys if labels[key])


def _insert_values(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    casts: Sequence[str],
    rows: Iterable[Sequence[str]],
) -> None:
    """Insert text rows in one statement: each column goes in as one list parameter.

    (Loading code, so DuckDB-only: unnest of list parameters. Large VALUES lists or one
    statement per row take seconds for 10,000 rows; this takes milliseconds.)
    """
    columns: list[list[str]] = [[] for _ in casts]
    for row in rows:
        for values, value in zip(columns, row, strict=True):
            values.append(value)
    if not columns or not columns[0]:
        return
    select = ", ".join(f"CAST(unnest(?) AS {cast})" for cast in casts)
    connection.execute(f"INSERT INTO {table} SELECT {select}", columns)


@dataclass(frozen=True)
class _Prefix:
    lo: int
    hi: int
    cidr: str
    label: str


def flatten(prefixes: list[_Prefix]) -> list[tuple[int, int, _Prefix]]:
    """Disjoint (lo, hi, prefix) segments where each address maps to its longest prefix.

    CIDR blocks are either nested or disjoint, so one sweep with a stack of the blocks that
    enclose the current position gives, between consecutive boundaries, the innermost one.
    Matching then needs no ranking: an address lies in at most one segment per table.
    """
    ordered = sorted(prefixes, key=lambda prefix: (prefix.lo, -prefix.hi))
    segments: list[tuple[int, int, _Prefix]] = []
    stack: list[_Prefix] = []
    cursor = 0

    def emit(start: int, end: int, prefix: _Prefix) -> None:
        if start <= end:
            segments.append((start, end, prefix))

    for prefix in ordered:
        if stack and stack[-1].lo == prefix.lo and stack[-1].hi == prefix.hi:
            continue  # the same block twice: the first one stands
        while stack and stack[-1].hi < prefix.lo:
            top = stack.pop()
            emit(cursor, top.hi, top)
            cursor = top.hi + 1
        if stack:
            emit(cursor, prefix.lo - 1, stack[-1])
        stack.append(prefix)
        cursor = prefix.lo
    while stack:
        top = stack.pop()
        emit(cursor, top.hi, top)
        cursor = top.hi + 1
    return segments


def _segment_rows(tables: list[dict[str, Any]]) -> Iterable[tuple[str, ...]]:
    for table in tables:
        prefixes = []
        for cidr, labels in table["entries"]:
            network = ipaddress.ip_network(cidr)
            lo, hi = cidr_bounds(network)
            prefixes.append(_Prefix(lo, hi, str(network), label_text(labels)))
        for lo, hi, prefix in flatten(prefixes):
            yield (table["name"], prefix.cidr, prefix.label, str(lo), str(hi))


def _values(rows: list[str], columns: tuple[str, ...]) -> str:
    return f"(SELECT * FROM (VALUES {', '.join(rows)}) AS ref({', '.join(columns)}))"


def _too_large(what: str, rows: int, text: str | None) -> str | None:
    if rows > INLINE_MAX_ROWS:
        return (
            f"its {what} has {rows:,} rows, more than the {INLINE_MAX_ROWS:,} a query can "
            "carry inline"
        )
    if text is not None and len(text.encode()) > INLINE_MAX_BYTES:
        return (
            f"its {what} takes {len(text.encode()):,} bytes of SQL, more than the "
            f"{INLINE_MAX_BYTES:,} a query can carry inline"
        )
    return None


def cidr_values(tables: list[dict[str, Any]]) -> str:
    """The rows load_cidr_tables loads, as an inline VALUES relation (no temp table)."""
    rows = [
        f"({sql_string(name)}, {sql_string(cidr)}, {sql_string(label)}, "
        f"CAST('{lo}' AS UHUGEINT), CAST('{hi}' AS UHUGEINT))"
        for name, cidr, label, lo, hi in _segment_rows(tables)
    ]
    return _values(rows, CIDR_COLUMNS)


def cidr_inline_reason(tables: list[dict[str, Any]]) -> str | None:
    """Why the CIDR tables cannot go inline in a query (too large), or None."""
    count = sum(1 for _ in _segment_rows(tables))  # ranges, after longest-prefix splitting
    return _too_large("CIDR tables", count, None) or _too_large(
        "CIDR tables", count, cidr_values(tables)
    )


def lookup_values(rows: list[tuple[int, int, str]]) -> str:
    """The rows load_lookup_table loads, as an inline VALUES relation (no temp table)."""
    return _values(
        [f"({int(port)}, {int(protocol)}, {sql_string(tag)})" for port, protocol, tag in rows],
        LOOKUP_COLUMNS,
    )


def lookup_inline_reason(rows: list[tuple[int, int, str]]) -> str | None:
    """Why the lookup table cannot go inline in a query (too large), or None."""
    return _too_large("lookup table", len(rows), None) or _too_large(
        "lookup table", len(rows), lookup_values(rows)
    )


def load_cidr_tables(connection: duckdb.DuckDBPyConnection, tables: list[dict[str, Any]]) -> str:
    """(Re)create the temp table of disjoint CIDR segments with integer bounds; returns its name.

    Each row is a stretch of addresses whose longest matching prefix in `table_name` is
    `cidr` (labelled `label`).
    """
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE {CIDR_TABLE} (table_name VARCHAR, cidr VARCHAR, "
        "label VARCHAR, lo_ip UHUGEINT, hi_ip UHUGEINT)"
    )
    _insert_values(
        connection,
        CIDR_TABLE,
        ("VARCHAR", "VARCHAR", "VARCHAR", "UHUGEINT", "UHUGEINT"),
        _segment_rows(tables),
    )
    return CIDR_TABLE


def load_lookup_table(
    connection: duckdb.DuckDBPyConnection, rows: list[tuple[int, int, str]]
) -> str:
    """(Re)create the temp table of (dstport, protocol, tag); returns its name."""
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE {LOOKUP_TABLE} "
        "(dstport INTEGER, protocol INTEGER, tag VARCHAR)"
    )
    _insert_values(
        connection,
        LOOKUP_TABLE,
        ("INTEGER", "INTEGER", "VARCHAR"),
        ((str(port), str(protocol), tag) for port, protocol, tag in rows),
    )
    return LOOKUP_TABLE


def best_match_sql(ips: str, reference: str = CIDR_TABLE) -> str:
    """SQL relation (table_name, cidr, label, ip): per table, the longest prefix holding each ip.

    `ips` is a relation with one column `ip` of distinct integer addresses; `reference` the
    segments (load_cidr_tables' table, or cidr_values). They are disjoint, so a plain range
    join gives one row per table and ip.
    """
    return (
        "(SELECT r.table_name, r.cidr, r.label, d.ip "
        f"FROM {ips} AS d JOIN {reference} AS r ON d.ip BETWEEN r.lo_ip AND r.hi_ip)"
    )
