"""Reference data from AnalysisParams as DuckDB temp tables: CIDR ranges and port tags."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from analysis.addresses import cidr_bounds

CIDR_TABLE = "ref_cidrs"
LOOKUP_TABLE = "ref_lookup"

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


def load_cidr_tables(connection: duckdb.DuckDBPyConnection, tables: list[dict[str, Any]]) -> str:
    """(Re)create the temp table of disjoint CIDR segments with integer bounds; returns its name.

    Each row is a stretch of addresses whose longest matching prefix in `table_name` is
    `cidr` (labelled `label`).
    """
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE {CIDR_TABLE} (table_name VARCHAR, cidr VARCHAR, "
        "label VARCHAR, lo UHUGEINT, hi UHUGEINT)"
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


def best_match_sql(ips: str) -> str:
    """SQL relation (table_name, cidr, label, ip): per table, the longest prefix holding each ip.

    `ips` is a relation with one column `ip` of distinct integer addresses. The segments of
    load_cidr_tables are disjoint, so a plain range join gives one row per table and ip.
    """
    return (
        "(SELECT r.table_name, r.cidr, r.label, d.ip "
        f"FROM {ips} AS d JOIN {CIDR_TABLE} AS r ON d.ip BETWEEN r.lo AND r.hi)"
    )
