"""The unvalidated DuckDB peer: a flow log file read straight into a table, then SQL.

What a DuckDB-based tool such as Tailpipe, or an analyst by hand, does with no validation:
`CREATE TABLE flows AS SELECT * FROM read_csv(...)` (integers BIGINT, the rest text, `-` as
NULL), then the eight core analyses as SQL over the text addresses. It checks nothing, names
no bad line and keeps no cache; `same_answers` proves that on a clean file it computes the
engine's answers, so the bench compares the price of the same work.
"""

from __future__ import annotations

import gzip
from typing import Any

import duckdb

from analysis.analyzers import AnalysisParams
from analysis.analyzers.grouped import OutputColumn, grouped_sql
from analysis.analyzers.params import MAX_TOP_N
from analysis.analyzers.time_series import MAX_BINS, auto_bin_seconds, iso_epoch
from analysis.engine import FlowEngine
from analysis.formats import FIELDS_BY_NAME, FieldKind
from analysis.lineparse import sql_string
from analysis.protocols import protocol_name

# The private ranges of analysis.analyzers.scope.PRIVATE_CIDRS, written over address text as
# an analyst would: 10/8, 172.16/12, 192.168/16, 100.64/10 and fc00::/7.
INTERNAL_MACRO = """
CREATE OR REPLACE MACRO peer_internal(a) AS (
  a LIKE '10.%' OR a LIKE '192.168.%'
  OR (a LIKE '172.%' AND TRY_CAST(split_part(a, '.', 2) AS INTEGER) BETWEEN 16 AND 31)
  OR (a LIKE '100.%' AND TRY_CAST(split_part(a, '.', 2) AS INTEGER) BETWEEN 64 AND 127)
  OR regexp_matches(lower(a), '^f[cd][0-9a-f]{2}:')
)
"""

SRC = OutputColumn("srcaddr", "srcaddr")
DST = OutputColumn("dstaddr", "dstaddr")
ACTION = OutputColumn("action", "action")
PROTOCOL = OutputColumn("protocol", "protocol")
DSTPORT = OutputColumn("dstport", "dstport")
SEEN = (
    OutputColumn("first_seen", 'MIN("start")'),
    OutputColumn("last_seen", 'MAX("end")'),
)
OK = "\"log-status\" = 'OK'"
EXTERNAL_SRC = "srcaddr IS NOT NULL AND NOT peer_internal(srcaddr)"
EXTERNAL_DST = "dstaddr IS NOT NULL AND NOT peer_internal(dstaddr)"


def load(connection: duckdb.DuckDBPyConnection, path: str) -> None:
    """The peer's load: one read_csv into a table, no check of any kind."""
    names = header_names(path)
    columns = ", ".join(
        f"'{name}': '"
        + (
            "BIGINT"
            if name in FIELDS_BY_NAME and FIELDS_BY_NAME[name].kind is FieldKind.INTEGER
            else "VARCHAR"
        )
        + "'"
        for name in names
    )
    connection.execute(
        f"CREATE TABLE flows AS SELECT * FROM read_csv({sql_string(path)}, delim = ' ', "
        "header = true, "
        f"nullstr = '-', columns = {{{columns}}})"
    )
    connection.execute(INTERNAL_MACRO)


def header_names(path: str) -> list[str]:
    """The field names of the header line of a plain or gzip file."""
    with open(path, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
    opener: Any = gzip.open if compressed else open
    with opener(path, "rt", encoding="ascii") as stream:
        return str(next(stream)).split()


def _grouped(
    connection: duckdb.DuckDBPyConnection,
    keys: tuple[OutputColumn, ...],
    condition: str,
    *,
    extras: tuple[OutputColumn, ...] = SEEN,
    source: str = "flows",
    rank: str = "flows",
    top_n: int,
) -> list[tuple[Any, ...]]:
    sql = grouped_sql(
        keys=keys, extras=extras, condition=condition, source=source, rank=rank, limit=top_n
    )
    return connection.execute(sql).fetchall()


def analyses(connection: duckdb.DuckDBPyConnection, top_n: int = 100) -> dict[str, Any]:
    """The eight core analyses over the peer's table, each as one or two SQL statements."""
    ssh = f"{OK} AND dstport = 22 AND protocol = 6"
    results: dict[str, Any] = {
        "traffic-summary": _grouped(connection, (PROTOCOL, ACTION), OK, extras=(), top_n=top_n),
        "ssh-inbound": _grouped(connection, (SRC, ACTION), ssh, top_n=top_n),
        "ssh-outbound": _grouped(
            connection, (DST, ACTION), f"{ssh} AND peer_internal(srcaddr)", top_n=top_n
        ),
        "external-inbound": _grouped(
            connection,
            (SRC, ACTION),
            f"{OK} AND peer_internal(dstaddr) AND {EXTERNAL_SRC}",
            top_n=top_n,
        ),
        "external-outbound": _grouped(
            connection,
            (DST, DSTPORT, ACTION),
            f"{OK} AND peer_internal(srcaddr) AND {EXTERNAL_DST}",
            top_n=top_n,
        ),
    }
    rejected = f"{OK} AND action = 'REJECT'"
    results["rejected"] = (
        _grouped(connection, (SRC, DST, DSTPORT, PROTOCOL), rejected, extras=(), top_n=top_n),
        _grouped(
            connection,
            (SRC,),
            rejected,
            extras=(
                OutputColumn("distinct_ports", "COUNT(DISTINCT dstport)"),
                OutputColumn("distinct_hosts", "COUNT(DISTINCT dstaddr)"),
                *SEEN,
            ),
            top_n=top_n,
        ),
    )
    ends = (
        f'(SELECT srcaddr AS ip, bytes AS sent, 0 AS received, packets, bytes, "start", "end" '
        f"FROM flows WHERE {OK} UNION ALL "
        f'SELECT dstaddr AS ip, 0 AS sent, bytes AS received, packets, bytes, "start", "end" '
        f"FROM flows WHERE {OK}) AS ends"
    )
    results["top-talkers"] = _grouped(
        connection,
        (OutputColumn("ip", "ip"),),
        "ip IS NOT NULL",
        extras=(
            OutputColumn("bytes_sent", "COALESCE(SUM(sent), 0)"),
            OutputColumn("bytes_received", "COALESCE(SUM(received), 0)"),
            *SEEN,
        ),
        source=ends,
        rank="bytes",
        top_n=top_n,
    )
    first, last = connection.execute(
        f'SELECT MIN("start"), MAX("start") FROM flows WHERE {OK} AND "start" IS NOT NULL'
    ).fetchone() or (None, None)
    series: list[tuple[Any, ...]] = []
    if first is not None:
        span = int(last) - int(first) + 1
        size = auto_bin_seconds(span)
        if -(-span // size) > MAX_BINS:
            size = auto_bin_seconds(span, MAX_BINS)
        series = connection.execute(
            f'SELECT "start" - "start" % {size} AS bin, action, COUNT(*), '
            "COALESCE(SUM(packets), 0), COALESCE(SUM(bytes), 0) FROM flows "
            f'WHERE {OK} AND "start" IS NOT NULL GROUP BY ALL ORDER BY bin, action'
        ).fetchall()
    results["time-series"] = series
    return results


def run(path: str, top_n: int = 100) -> dict[str, Any]:
    """Load `path` the peer's way in a new in-memory database and run the eight analyses."""
    with duckdb.connect(":memory:") as connection:
        load(connection, path)
        return analyses(connection, top_n)


# -- the proof that the peer answers what the engine answers ---------------------------------


def _peer_groups(rows: list[tuple[Any, ...]], keys: int, protocol_at: int | None = None) -> set:
    """(keys..., flows, packets, bytes, extras...) per group, the protocol (at `protocol_at`)
    named as the engine names it."""
    out = set()
    for row in rows:
        values = list(row[:-4])  # the last four are grouped_sql's totals
        if protocol_at is not None:
            values[protocol_at] = protocol_name(values[protocol_at])
        out.add(tuple(values))
    return out


def _engine_groups(rows: list[dict[str, Any]], columns: list[str], seen: bool) -> set:
    out = set()
    for row in rows:
        values = []
        for column in columns:
            value = row[column]
            if column in ("first_seen", "last_seen") and not seen:
                continue
            values.append(value)
        out.add(tuple(values))
    return out


def _iso_seen(groups: set, keys: int, extras_before_seen: int) -> set:
    """The peer's epoch first/last seen (the last two values) as the engine's ISO times."""
    out = set()
    at = keys + 3 + extras_before_seen
    for group in groups:
        values = list(group)
        values[at] = iso_epoch(values[at])
        values[at + 1] = iso_epoch(values[at + 1])
        out.add(tuple(values))
    return out


def same_answers(path: str) -> list[str]:
    """The analyses where the peer and the engine disagree over the clean file `path` (every
    group compared, not only the top 100: keys, flows, packets, bytes, first and last seen)."""
    peer = run(path, top_n=MAX_TOP_N)
    params = AnalysisParams(top_n=MAX_TOP_N)
    differences = []
    with FlowEngine() as engine:
        stats = engine.load_files([path])
        assert stats.files[0].method == "fast", stats.files[0]

        def compare(name: str, ours: set, theirs: set) -> None:
            if ours != theirs or not ours:
                differences.append(f"{name}: {len(ours ^ theirs)} groups differ")

        for name, keys, protocol_at in (
            ("traffic-summary", 2, 0),
            ("ssh-inbound", 2, None),
            ("ssh-outbound", 2, None),
            ("external-inbound", 2, None),
            ("external-outbound", 3, None),
        ):
            result = engine.run(name, params)
            theirs = _peer_groups(peer[name], keys, protocol_at)
            if name != "traffic-summary":
                theirs = _iso_seen(theirs, keys, 0)
            compare(name, _engine_groups(result.rows, result.columns, True), theirs)
        result = engine.run("rejected", params)
        compare(
            "rejected",
            _engine_groups(result.rows, result.columns, True),
            _peer_groups(peer["rejected"][0], 4, 3),
        )
        sources = result.tables[0]
        compare(
            "rejected per source",
            _engine_groups(sources.rows, sources.columns, True),
            _iso_seen(_peer_groups(peer["rejected"][1], 1), 1, 2),
        )
        result = engine.run("top-talkers", params)
        compare(
            "top-talkers",
            _engine_groups(result.rows, result.columns, True),
            _iso_seen(_peer_groups(peer["top-talkers"], 1), 1, 2),
        )
        result = engine.run("time-series", params)
        ours = {
            (row["time"], row["action"], row["flows"], row["packets"], row["bytes"])
            for row in result.rows
            if row["flows"]
        }
        theirs = {
            (iso_epoch(int(b)), action, int(f), int(p), int(s))
            for b, action, f, p, s in peer["time-series"]
        }
        compare("time-series", ours, theirs)
    return differences
