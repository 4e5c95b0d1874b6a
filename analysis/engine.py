"""FlowEngine: one DuckDB connection holding the `flows` table, its loader and analyzer runs."""

from __future__ import annotations

import os
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import duckdb

from analysis.formats import DEFAULT_FORMAT, FlowFormat
from analysis.lineparse import DERIVED_COLUMNS, MACROS_SQL, ParsePlan, parse_sql, quote_ident
from analysis.loadstats import (
    MAX_MALFORMED_SAMPLES,
    MAX_SKIPDATA_GAPS,
    CoverageGap,
    FileStats,
    LoadStats,
    MalformedLine,
)
from analysis.sanitize import sanitized_copy
from analysis.sniff import sniff_file
from analysis.window import TimeWindow

if TYPE_CHECKING:
    from analysis.analyzers.params import AnalysisParams
    from analysis.analyzers.result import AnalysisResult

ProgressCallback = Callable[[str, float], None]

FLOWS_TABLE = "flows"
_PARSED = "_parsed"


def _epoch_to_datetime(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class FlowEngine:
    """A DuckDB database (in memory when `database` is None) with a `flows` table.

    `flows` has one typed column per flow log field loaded so far (AWS names with
    underscores) plus src_ip/dst_ip (integers, see analysis.addresses), src_family/dst_family
    (4 or 6) and start_ts/end_ts (UTC timestamps). Every load appends to it.
    """

    def __init__(
        self,
        database: str | None = None,
        *,
        memory_limit: str | None = None,
        threads: int | None = None,
        temp_directory: str | None = None,
    ) -> None:
        self.database = database
        self._own_temp: tempfile.TemporaryDirectory[str] | None = None
        if temp_directory is None:
            # Somewhere to spill when the data does not fit in memory_limit.
            self._own_temp = tempfile.TemporaryDirectory(prefix="flowengine-")
            temp_directory = self._own_temp.name
        self.connection = duckdb.connect(database if database is not None else ":memory:")
        if memory_limit is not None:
            self.connection.execute("SET memory_limit = ?", [memory_limit])
        if threads is not None:
            self.connection.execute(f"SET threads = {int(threads)}")
        self.temp_directory = temp_directory
        self.connection.execute("SET temp_directory = ?", [temp_directory])
        # Line numbers come from row_number() over the read order; keep that order.
        self.connection.execute("SET preserve_insertion_order = true")
        self.connection.execute("SET enable_progress_bar = false")
        self.connection.execute(MACROS_SQL)
        self._ensure_flows_columns(DEFAULT_FORMAT)

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        self.connection.close()
        if self._own_temp is not None:
            self._own_temp.cleanup()
            self._own_temp = None

    def __enter__(self) -> FlowEngine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- schema ------------------------------------------------------------------------------

    def columns(self) -> list[str]:
        """Column names of `flows`, in table order."""
        rows = self.connection.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = ? AND table_schema = 'main' ORDER BY ordinal_position",
            [FLOWS_TABLE],
        ).fetchall()
        return [row[0] for row in rows]

    def _ensure_flows_columns(self, flow_format: FlowFormat) -> None:
        existing = set(self.columns())
        if not existing:
            definitions = [
                f"{quote_ident(field.column)} {field.sql_type}" for field in flow_format
            ] + [f"{name} {sql_type}" for name, sql_type in DERIVED_COLUMNS.items()]
            self.connection.execute(f"CREATE TABLE {FLOWS_TABLE} ({', '.join(definitions)})")
            return
        for field in flow_format:
            if field.column not in existing:
                self.connection.execute(
                    f"ALTER TABLE {FLOWS_TABLE} ADD COLUMN {quote_ident(field.column)} "
                    f"{field.sql_type}"
                )

    def record_count(self) -> int:
        row = self.connection.execute(f"SELECT count(*) FROM {FLOWS_TABLE}").fetchone()
        return int(row[0]) if row else 0

    # -- loading -----------------------------------------------------------------------------

    def load_files(
        self,
        paths: list[str],
        *,
        flow_format: FlowFormat | None = None,
        window: TimeWindow | None = None,
        progress: ProgressCallback | None = None,
    ) -> LoadStats:
        """Append the flow records of `paths` (plain or gzip text) to `flows`.

        The field order is `flow_format` if given, else the file's header line, else the AWS
        default (v2). Bad lines are counted and sampled, never fatal; a file that cannot be
        read at all (missing, damaged gzip) is recorded with its error and skipped whole.
        """
        stats = LoadStats()
        for index, path in enumerate(paths):
            name = os.path.basename(path)
            if progress is not None:
                progress(f"Reading {name}", index / max(len(paths), 1))
            self._load_file(str(path), flow_format, window, stats)
        if progress is not None:
            progress("Loaded", 1.0)
        return stats

    def _load_file(
        self,
        path: str,
        flow_format: FlowFormat | None,
        window: TimeWindow | None,
        stats: LoadStats,
    ) -> None:
        name = os.path.basename(path)
        try:
            size = Path(path).stat().st_size
            sniff = sniff_file(path)
        except OSError as error:
            stats.files.append(FileStats(path, name, 0, "none", "", False, error=str(error)))
            return
        fmt = flow_format or sniff.header_format or DEFAULT_FORMAT
        file_stats = FileStats(
            path, name, size, sniff.compression, str(fmt), sniff.header_line is not None
        )
        stats.files.append(file_stats)
        self._ensure_flows_columns(fmt)
        plan = ParsePlan(path, sniff.compression, fmt, sniff.header_line, window)
        try:
            self._load_plan(plan, fmt, file_stats, stats)
        except duckdb.InvalidInputException:
            # The reader refused some bytes or an over-long line: load a cleaned copy instead.
            os.makedirs(self.temp_directory, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=self.temp_directory) as scratch:
                clean = os.path.join(scratch, "clean.log")
                try:
                    sanitized_copy(path, clean, sniff.compression)
                except (OSError, EOFError, zlib.error) as error:
                    file_stats.error = f"cannot read {name}: {error}"
                    return
                self._load_plan(
                    replace(plan, path=clean, compression="none"), fmt, file_stats, stats
                )
        except duckdb.Error as error:
            file_stats.error = " ".join(str(error).split())[:500]

    def _load_plan(
        self, plan: ParsePlan, fmt: FlowFormat, file_stats: FileStats, stats: LoadStats
    ) -> None:
        """Parse one file into `_parsed`, append its good rows to `flows`, and count. Atomic."""
        con = self.connection
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {_PARSED} AS {parse_sql(plan)}")
            # Empty lines after the last line with content are the file's end, not data.
            con.execute(
                f"UPDATE {_PARSED} SET status = 'blank' WHERE reason = 'empty line' AND "
                f"line_no > (SELECT coalesce(max(line_no), 0) FROM {_PARSED} "
                f"WHERE reason IS DISTINCT FROM 'empty line')"
            )
            self._insert_ok_rows(fmt)
            self._collect_stats(fmt, file_stats, stats)
            con.execute(f"DROP TABLE {_PARSED}")
            con.execute("COMMIT")
        except duckdb.Error:
            con.execute("ROLLBACK")
            raise

    def _insert_ok_rows(self, fmt: FlowFormat) -> None:
        columns = [quote_ident(field.column) for field in fmt]
        values = list(columns)
        if fmt.has("srcaddr"):
            columns += ["src_ip", "src_family"]
            values += ["src_ip", "src_family"]
        if fmt.has("dstaddr"):
            columns += ["dst_ip", "dst_family"]
            values += ["dst_ip", "dst_family"]
        if fmt.has("start"):
            columns.append("start_ts")
            values.append('make_timestamp(CAST("start" AS BIGINT) * 1000000)')
        if fmt.has("end"):
            columns.append("end_ts")
            values.append('make_timestamp(CAST("end" AS BIGINT) * 1000000)')
        self.connection.execute(
            f"INSERT INTO {FLOWS_TABLE} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM {_PARSED} WHERE status = 'ok'"
        )

    def _collect_stats(self, fmt: FlowFormat, file_stats: FileStats, stats: LoadStats) -> None:
        con = self.connection
        counts: dict[str, int] = {
            status: int(count)
            for status, count in con.execute(
                f"SELECT status, count(*) FROM {_PARSED} GROUP BY status"
            ).fetchall()
        }
        ok = counts.get("ok", 0)
        stats.ok += ok
        stats.nodata += counts.get("nodata", 0)
        stats.skipdata += counts.get("skipdata", 0)
        stats.malformed += counts.get("malformed", 0)
        stats.filtered_out += counts.get("filtered", 0)
        lines = sum(n for status, n in counts.items() if status not in ("header", "blank"))
        stats.total += lines
        file_stats.lines = lines
        file_stats.records = ok

        room = MAX_MALFORMED_SAMPLES - len(stats.malformed_samples)
        if room > 0 and counts.get("malformed"):
            for line_no, reason, sample in con.execute(
                f"SELECT line_no, reason, sample FROM {_PARSED} WHERE status = 'malformed' "
                f"ORDER BY line_no LIMIT {room}"
            ).fetchall():
                stats.malformed_samples.append(
                    MalformedLine(file_stats.name, int(line_no), str(reason), str(sample))
                )

        room = MAX_SKIPDATA_GAPS - len(stats.skipdata_gaps)
        if room > 0 and counts.get("skipdata"):
            interface = "interface_id" if fmt.has("interface-id") else "NULL"
            start = '"start"' if fmt.has("start") else "NULL"
            end = '"end"' if fmt.has("end") else "NULL"
            for line_no, interface_id, gap_start, gap_end in con.execute(
                f"SELECT line_no, {interface}, {start}, {end} FROM {_PARSED} "
                f"WHERE status = 'skipdata' ORDER BY line_no LIMIT {room}"
            ).fetchall():
                stats.skipdata_gaps.append(
                    CoverageGap(
                        file_stats.name,
                        int(line_no),
                        interface_id,
                        _epoch_to_datetime(gap_start),
                        _epoch_to_datetime(gap_end),
                    )
                )

        if ok and fmt.has("start") and fmt.has("end"):
            row = con.execute(
                f'SELECT min("start"), max("end") FROM {_PARSED} WHERE status = \'ok\''
            ).fetchone()
            if row is not None:
                stats.note_seen(_epoch_to_datetime(row[0]), _epoch_to_datetime(row[1]))

    # -- analysis ----------------------------------------------------------------------------

    def run(
        self,
        name: str,
        params: AnalysisParams | dict[str, Any] | None = None,
    ) -> AnalysisResult:
        """Run the registered analyzer `name` over `flows`."""
        from analysis.analyzers import AnalysisParams, get_analyzer

        if params is None:
            params = AnalysisParams()
        elif isinstance(params, dict):
            params = AnalysisParams.from_dict(params)
        return get_analyzer(name).run(self, params)
