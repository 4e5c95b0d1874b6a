"""FlowEngine: one DuckDB connection holding the `flows` table, its loader and analyzer runs."""

from __future__ import annotations

import errno
import os
import tempfile
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import duckdb

from analysis import subscription
from analysis.chunks import (
    GzipTooLarge,
    TextScan,
    nondigit_bytes,
    scan_gzip_file,
    scan_plain_file,
)
from analysis.formats import (
    DEFAULT_FORMAT,
    FIELDS_BY_NAME,
    FieldKind,
    FlowFormat,
    field_named,
    is_field_name,
)
from analysis.lineparse import (
    DERIVED_COLUMNS,
    FAST_PATH_ERROR,
    MACROS_SQL,
    PACKET_ADDRESS_COLUMNS,
    ParsePlan,
    fast_addresses_sql,
    fast_insert_columns,
    fast_parquet_sql,
    fast_read_sql,
    fast_rows_sql,
    fast_survey_sql,
    fast_window_test,
    looks_like_record,
    parquet_lines_sql,
    parse_sql,
    quote_ident,
    sql_string,
)
from analysis.loadstats import (
    MAX_MALFORMED_SAMPLES,
    MAX_SKIPDATA_GAPS,
    CoverageGap,
    FileStats,
    LoadStats,
    MalformedLine,
)
from analysis.sanitize import has_carriage_return, sanitized_copy
from analysis.sniff import FileSniff, sniff_file
from analysis.window import TimeWindow

if TYPE_CHECKING:
    from analysis.analyzers.params import AnalysisParams
    from analysis.analyzers.result import AnalysisResult

ProgressCallback = Callable[[str, float], None]

FLOWS_TABLE = "flows"
SNAPSHOT_FLOWS = "flows.duckdb"
_SNAPSHOT_ALIAS = "flow_snapshot"
_PARSED = "_parsed"
_FAST_ADDRESSES = "_fast_addresses"
_FAST_SURVEY = "_fast_survey"
_ARROW_SOURCE = "_arrow_source"


def _parsed_gzip(path: str, fmt: FlowFormat, header: bool, stop: threading.Event) -> Any:
    """A gzip file to be read through pyarrow (analysis.arrowread), or None without pyarrow or
    for a one-field format (the fast path refuses those)."""
    if len(fmt) < 2:
        return None
    try:
        from analysis import arrowread
    except ImportError:  # pragma: no cover - pyarrow is a declared dependency
        return None
    return arrowread.ParsedGzip(path, fmt, skip_header=header, stop=stop)


def _epoch_to_datetime(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


# How often a long fast-path load reports progress (records so far) while DuckDB reads.
PROGRESS_POLL_SECONDS = 1.0
# Below this many rows a file's integer byte count writes values out (cheap to plan) rather than
# comparing them with powers of ten (cheap to run).
SMALL_LOAD_ROWS = 100_000


class NeedsExactParser(Exception):
    """The fast path cannot vouch for this file: load it with the exact line parser."""


class LoadCancelled(Exception):
    """The caller's cancel check said stop while files were loading: between files, or in the
    middle of one (its statement interrupted and rolled back, so nothing of it is kept)."""


class EngineStorageError(OSError):
    """DuckDB ran out of memory and scratch space, or could not write it, while loading.

    The portal's storage is at fault, not the file: the load stops here rather than record the
    file as unreadable and go on without its records."""


# OSError numbers that say the scratch space is unusable, whatever was being read.
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT}
_STORAGE_MESSAGES = {
    "No space left on device": errno.ENOSPC,
    "Read-only file system": errno.EROFS,
    "Disk quota exceeded": errno.EDQUOT,
}


def storage_failure(error: BaseException) -> EngineStorageError | None:
    """The storage error behind `error`, or None when `error` is about the data."""
    if isinstance(error, EngineStorageError):
        return error
    if isinstance(error, duckdb.OutOfMemoryException):
        return EngineStorageError(
            errno.ENOMEM,
            "the flow data outgrew the engine's memory limit and its scratch space "
            "(raise ENGINE_MEMORY_LIMIT or free space in the data directory)",
        )
    if isinstance(error, OSError) and error.errno in _STORAGE_ERRNOS:
        return EngineStorageError(error.errno, error.strerror or os.strerror(error.errno))
    if isinstance(error, duckdb.IOException):
        for message, number in _STORAGE_MESSAGES.items():
            if message in str(error):
                return EngineStorageError(number, message)
    return None


def _file_error(error: BaseException, path: str, name: str) -> str:
    """What to record for a file that cannot be read: the reason, with the server's path to
    it replaced by its name."""
    failure = storage_failure(error)
    if failure is not None:
        raise failure from error
    return " ".join(str(error).replace(path, name).split())[:500]


def _note_unknown_fields(fmt: FlowFormat, file_stats: FileStats) -> None:
    unknown = fmt.unknown_names
    if unknown:
        file_stats.notes.append(
            "fields not known here, kept as text and not analysed: " + ", ".join(unknown)
        )


def _format_problem(
    sniff: FileSniff, fmt: FlowFormat, *, given: bool, what: str = "line"
) -> str | None:
    """Why a text file is no flow log of format `fmt`, or None when it may be: one of its
    first records must have the format's shape (a file of malformed lines stays readable, and
    is reported line by line, as long as one of its first lines is a record)."""
    if sniff.header_line is not None or not sniff.first_lines:
        return None
    if any(looks_like_record(line, fmt) for line in sniff.first_lines):
        return None
    first = sniff.first_lines[0]
    sample = first if len(first) <= 120 else first[:117] + "..."
    count = len(sniff.first_lines)
    lines = f"its first {what} is not" if count == 1 else f"none of its first {count} {what}s is"
    if given:
        return f"matches no flow log format: {lines} a record of the format given ({sample!r})"
    tokens = first.split()
    if tokens and all(is_field_name(token) for token in tokens):
        unknown = [token for token in tokens if token.replace("_", "-") not in FIELDS_BY_NAME]
        return (
            "matches no flow log format: its first line reads like a header but names fields "
            f"not known here ({', '.join(unknown[:8])})"
        )
    return (
        f"matches no flow log format: no header line naming its fields, and {lines} a "
        f"default-format (version 2) record ({sample!r}); give its format if it is a custom one"
    )


def _status_rows(lines: list[tuple[int, str]], fmt: FlowFormat) -> list[tuple[int, list[str]]]:
    """(line number, fields) of the lines whose log-status field is NODATA or SKIPDATA.

    DuckDB read their integers leniently and the byte counts leave them out, so their
    integer fields are checked here, as the exact parser would: `-` or 1 to 19 digits."""
    if not fmt.has("log-status"):
        return []
    status_at = fmt.index_of("log-status")
    integers = [at for at, flow_field in enumerate(fmt) if flow_field.kind is FieldKind.INTEGER]
    rows = []
    for line_no, text in lines:
        fields = text.split(" ")
        if len(fields) != len(fmt) or fields[status_at] not in ("NODATA", "SKIPDATA"):
            continue
        for at in integers:
            if fields[at] != "-" and not (fields[at].isdigit() and len(fields[at]) <= 19):
                raise NeedsExactParser(f"line {line_no}: {fields[at]!r} is not an integer")
        rows.append((line_no, fields))
    return rows


@dataclass
class _FastCounts:
    """What the fast path found in one file, merged into LoadStats only once it committed."""

    lines: int = 0
    ok: int = 0
    nodata: int = 0
    skipdata: int = 0
    filtered: int = 0
    first: int | None = None
    last: int | None = None
    gaps: list[tuple[int, str | None, int | None, int | None]] = dataclass_field(
        default_factory=list
    )

    def add_range(self, first: int | None, last: int | None) -> None:
        if first is not None and (self.first is None or first < self.first):
            self.first = first
        if last is not None and (self.last is None or last > self.last):
            self.last = last


def flows_schema(
    connection: duckdb.DuckDBPyConnection, *, catalog: str | None = None
) -> list[tuple[str, str]]:
    """(name, type) of each column of `flows`, in table order: the connection's own table, or
    the one in the attached database `catalog` (DuckDB lists every attached database's tables
    together). Empty when there is no such table."""
    rows = connection.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = COALESCE(?, current_database()) AND table_schema = 'main' "
        "AND table_name = ? ORDER BY ordinal_position",
        [catalog, FLOWS_TABLE],
    ).fetchall()
    return [(str(name), str(sql_type)) for name, sql_type in rows]


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
        read_only: bool = False,
        max_gzip_ratio: float | None = None,
    ) -> None:
        self.database = database
        self.read_only = read_only
        # A gzip text file that inflates to more than this many times its size is not loaded
        # (recorded as unreadable): a gzip bomb stops there, not when the disk is full.
        self.max_gzip_ratio = max_gzip_ratio
        # Clean files take DuckDB's parallel reader; tests switch it off to compare paths.
        self.fast_path = True
        # While a file loads on the fast path: the rows before it and its lines scanned so far
        # (see records_so_far).
        self._loading_from: int | None = None
        self._lines_scanned = 0
        self._file_progress: Callable[[], None] | None = None
        # While load_files runs: the caller's "stop now?" check (see LoadCancelled).
        self._cancel: Callable[[], bool] | None = None
        self._own_temp: tempfile.TemporaryDirectory[str] | None = None
        if temp_directory is None:
            # Somewhere to spill when the data does not fit in memory_limit.
            self._own_temp = tempfile.TemporaryDirectory(prefix="flowengine-")
            temp_directory = self._own_temp.name
        self.temp_directory = temp_directory
        try:
            self.connection = duckdb.connect(
                database if database is not None else ":memory:", read_only=read_only
            )
        except BaseException as error:
            self._cleanup_temp()
            # A full or read-only disk is the storage's fault (said without the file's path).
            failure = storage_failure(error)
            if failure is not None:
                raise failure from error
            raise
        try:
            if memory_limit is not None:
                self.connection.execute("SET memory_limit = ?", [memory_limit])
            if threads is not None:
                self.connection.execute(f"SET threads = {int(threads)}")
            self.connection.execute("SET temp_directory = ?", [temp_directory])
            # Row order does not matter to analyses; the exact parser turns it on while it
            # numbers lines with row_number() over the read order.
            self.connection.execute("SET preserve_insertion_order = false")
            self.connection.execute("SET enable_progress_bar = false")
            self.connection.execute(MACROS_SQL)
            if not read_only:
                self._ensure_flows_columns(DEFAULT_FORMAT)
        except BaseException as error:
            self.close()
            failure = storage_failure(error)
            if failure is not None:
                raise failure from error
            raise

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        self.connection.close()
        self._cleanup_temp()

    def _cleanup_temp(self) -> None:
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
        return [name for name, _ in flows_schema(self.connection)]

    def _ensure_flows_columns(self, flow_format: FlowFormat) -> None:
        existing = set(self.columns())
        wanted = [(field.column, field.sql_type) for field in flow_format] + [
            (column, "UHUGEINT")
            for name, column in PACKET_ADDRESS_COLUMNS.items()
            if flow_format.has(name)
        ]
        if not existing:
            definitions = [f"{quote_ident(name)} {sql_type}" for name, sql_type in wanted] + [
                f"{name} {sql_type}" for name, sql_type in DERIVED_COLUMNS.items()
            ]
            self.connection.execute(f"CREATE TABLE {FLOWS_TABLE} ({', '.join(definitions)})")
            return
        for name, sql_type in wanted:
            if name not in existing:
                self.connection.execute(
                    f"ALTER TABLE {FLOWS_TABLE} ADD COLUMN {quote_ident(name)} {sql_type}"
                )

    def records_so_far(self) -> int:
        """The rows of `flows`; while a file loads on the fast path, the rows before it plus
        the lines of it read so far (its exact count replaces them when it is done). Safe to
        call from a progress callback during a load: it does not query DuckDB then."""
        if self._loading_from is not None:
            return self._loading_from + self._lines_scanned
        return self.record_count()

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
        cancel: Callable[[], bool] | None = None,
    ) -> LoadStats:
        """Append the flow records of `paths` (plain or gzip text) to `flows`.

        The field order is `flow_format` if given, else the file's header line, else the AWS
        default (v2). Bad lines are counted and sampled, never fatal; a file that cannot be
        read at all (missing, damaged gzip) is recorded with its error and skipped whole.
        Raises EngineStorageError when memory and scratch space run out: that is no fault of
        the file, and going on without its records would hide the loss.

        `cancel` is asked before each file and about every PROGRESS_POLL_SECONDS while one
        loads; once it says True, the statement running is interrupted and LoadCancelled is
        raised (the rows of the file being read are rolled back; earlier files' stay).
        """
        stats = LoadStats()
        self._cancel = cancel
        try:
            for index, path in enumerate(paths):
                self._check_cancel()
                name = os.path.basename(path)
                fraction = index / max(len(paths), 1)
                if progress is not None:
                    progress(f"Reading {name}", fraction)
                    # A long file also reports while it loads, so records so far move.
                    self._file_progress = partial(progress, f"Reading {name}", fraction)
                try:
                    self._load_file(str(path), flow_format, window, stats)
                finally:
                    self._file_progress = None
            self._check_cancel()
        finally:
            self._cancel = None
        if progress is not None:
            progress("Loaded", 1.0)
        return stats

    def _check_cancel(self) -> None:
        if self._cancel is not None and self._cancel():
            raise LoadCancelled

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
            error_text = _file_error(error, path, name)
            stats.files.append(FileStats(path, name, 0, "none", "", False, error=error_text))
            return
        if sniff.is_parquet:
            self._load_parquet(path, size, window, stats)
            return
        if sniff.cloudwatch:
            self._load_cloudwatch(path, size, sniff.compression, flow_format, window, stats)
            return
        fmt = flow_format or sniff.header_format or DEFAULT_FORMAT
        file_stats = FileStats(
            path, name, size, sniff.compression, str(fmt), sniff.header_line is not None
        )
        stats.files.append(file_stats)
        problem = _format_problem(sniff, fmt, given=flow_format is not None)
        if problem is not None:
            file_stats.error = problem
            return
        _note_unknown_fields(fmt, file_stats)
        self._load_text(path, sniff.compression, sniff.header_line, fmt, window, file_stats, stats)

    def _load_text(
        self,
        path: str,
        compression: str,
        header_line: str | None,
        fmt: FlowFormat,
        window: TimeWindow | None,
        file_stats: FileStats,
        stats: LoadStats,
    ) -> None:
        """Load a text file of records, fast when it is clean, else line by line."""
        limit = self._gzip_limit(path) if compression == "gzip" else None
        try:
            self._load_text_within(
                path, compression, header_line, fmt, window, file_stats, stats, limit
            )
        except GzipTooLarge as error:
            file_stats.error = (
                f"not loaded: {error} ({self.max_gzip_ratio:g} times its compressed size), "
                "which flow logs never need; a gzip bomb?"
            )

    def _gzip_limit(self, path: str) -> int | None:
        if self.max_gzip_ratio is None:
            return None
        return int(self.max_gzip_ratio * max(os.path.getsize(path), 1))

    def _load_text_within(
        self,
        path: str,
        compression: str,
        header_line: str | None,
        fmt: FlowFormat,
        window: TimeWindow | None,
        file_stats: FileStats,
        stats: LoadStats,
        limit: int | None,
    ) -> None:
        name = file_stats.name
        self._ensure_flows_columns(fmt)
        if self.fast_path and self._load_fast_text(
            path, compression, header_line is not None, fmt, window, file_stats, stats, limit
        ):
            return
        self._check_cancel()
        plan = ParsePlan(path, compression, fmt, header_line, window)
        try:
            # The reader ends a line at any CR: a file holding CRs is loaded from a copy where
            # only LF ends a line (see analysis/sanitize.py).
            needs_copy = has_carriage_return(path, compression, max_bytes=limit)
        except (OSError, EOFError, zlib.error):
            needs_copy = False  # the direct read below reports what is wrong with the file
        if not needs_copy:
            try:
                self._load_plan(plan, fmt, file_stats, stats)
                return
            except duckdb.InvalidInputException:
                pass  # The reader refused some bytes or an over-long line: load a cleaned copy.
            except duckdb.Error as error:
                file_stats.error = _file_error(error, path, name)
                return
        os.makedirs(self.temp_directory, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.temp_directory) as scratch:
            clean = os.path.join(scratch, "clean.log")
            try:
                sanitized_copy(path, clean, compression, max_bytes=limit)
            except (OSError, EOFError, zlib.error) as error:
                file_stats.error = f"cannot read {name}: {_file_error(error, path, name)}"
                return
            self._check_cancel()
            try:
                self._load_plan(
                    replace(plan, path=clean, compression="none"), fmt, file_stats, stats
                )
            except duckdb.Error as error:
                file_stats.error = _file_error(error, clean, name)

    def _load_cloudwatch(
        self,
        path: str,
        size: int,
        compression: str,
        flow_format: FlowFormat | None,
        window: TimeWindow | None,
        stats: LoadStats,
    ) -> None:
        """Load a CloudWatch Logs subscription export: its log events' messages are the
        records (in `flow_format`, else the default format), read from a text copy."""
        name = os.path.basename(path)
        fmt = flow_format or DEFAULT_FORMAT
        file_stats = FileStats(path, name, size, compression, str(fmt), False)
        file_stats.container = "cloudwatch"
        stats.files.append(file_stats)
        os.makedirs(self.temp_directory, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.temp_directory) as scratch:
            events = os.path.join(scratch, "events.log")
            try:
                read = subscription.extract_records(path, events, compression)
            except subscription.NotASubscriptionExport as error:
                file_stats.error = f"cannot read {name} as a CloudWatch Logs export: {error}"
                return
            except (OSError, EOFError, zlib.error) as error:
                file_stats.error = f"cannot read {name}: {_file_error(error, path, name)}"
                return
            file_stats.notes.append(read.note())
            problem = _format_problem(
                sniff_file(events), fmt, given=flow_format is not None, what="log event"
            )
            if problem is not None:
                file_stats.error = problem
                return
            _note_unknown_fields(fmt, file_stats)
            self._load_text(events, "none", None, fmt, window, file_stats, stats)
            if file_stats.error is not None:
                file_stats.error = file_stats.error.replace("events.log", name)

    # -- the fast path -----------------------------------------------------------------------

    def _load_fast_text(
        self,
        path: str,
        compression: str,
        header: bool,
        fmt: FlowFormat,
        window: TimeWindow | None,
        file_stats: FileStats,
        stats: LoadStats,
        limit: int | None = None,
    ) -> bool:
        """Load a clean text file with DuckDB's parallel reader (plain) or pyarrow's parser
        (gzip, see analysis.arrowread); False (nothing loaded) when the file needs the exact
        parser. ISA-L inflates gzip on the scan's thread, once for the scan and pyarrow (or,
        without pyarrow, for the scan while DuckDB inflates it for its read), and raises
        GzipTooLarge (the insert rolled back) past `limit` inflated."""
        con = self.connection
        stop = threading.Event()
        scanner: Callable[[], TextScan]
        source_sql = None
        parsed = _parsed_gzip(path, fmt, header, stop) if compression == "gzip" else None
        if parsed is not None:
            # gzip: inflated once, scanned and parsed by pyarrow on the scan's thread, read
            # by DuckDB as an Arrow stream (analysis.arrowread).
            con.register(_ARROW_SOURCE, parsed.reader())
            source_sql = f"SELECT * FROM {_ARROW_SOURCE}"
            scanner = partial(parsed.scan, self._note_lines_scanned, limit)
        elif compression == "gzip":
            scanner = partial(scan_gzip_file, path, stop, self._note_lines_scanned, limit)
        else:
            scanner = partial(scan_plain_file, path, stop, self._note_lines_scanned)
        try:
            return self._load_fast_text_scanned(
                path, compression, header, fmt, window, file_stats, stats, scanner, source_sql, stop
            )
        finally:
            if parsed is not None:
                con.unregister(_ARROW_SOURCE)

    def _load_fast_text_scanned(
        self,
        path: str,
        compression: str,
        header: bool,
        fmt: FlowFormat,
        window: TimeWindow | None,
        file_stats: FileStats,
        stats: LoadStats,
        scanner: Callable[[], TextScan],
        source_sql: str | None,
        stop: threading.Event,
    ) -> bool:
        counts = _FastCounts()
        con = self.connection
        self._loading_from, self._lines_scanned = self.record_count(), 0
        scan: Future[TextScan] | None = None
        con.execute("BEGIN TRANSACTION")
        try:
            # The byte scan (Python, holding the GIL; ISA-L inflating gzip for it) runs while
            # DuckDB reads the file (its threads need no GIL); the rows are committed only
            # once the scan vouches for them. This thread reports progress meanwhile.
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="flow-load") as pool:
                scan = pool.submit(scanner)
                load = pool.submit(
                    self._fast_insert_text_file,
                    path,
                    compression,
                    scan.result,
                    header,
                    fmt,
                    window,
                    counts,
                    source_sql,
                )
                try:
                    # A scan that finds the file inflating too far stops DuckDB's read too.
                    self._report_until_done(load, watch=scan)
                except BaseException:
                    if not load.done():
                        con.interrupt()  # stop the read before the rollback waits for it
                    raise
                finally:
                    stop.set()
            con.execute("COMMIT")
        except (LoadCancelled, GzipTooLarge):
            con.execute("ROLLBACK")
            raise
        except Exception as error:  # any doubt at all: the exact parser reads the file
            con.execute("ROLLBACK")
            too_large = scan.exception() if scan is not None and scan.done() else None
            if isinstance(too_large, GzipTooLarge):  # the Arrow stream failed with it first
                raise too_large from None
            failure = storage_failure(error)
            if failure is not None:  # the exact parser would need the same space
                raise failure from error
            return False
        finally:
            self._loading_from = None
        self._merge_fast_counts(counts, file_stats, stats)
        return True

    def _note_lines_scanned(self, lines: int) -> None:
        self._lines_scanned = lines

    def _report_until_done(self, load: Future[None], watch: Future[Any] | None = None) -> None:
        """Wait for `load`, reporting progress every PROGRESS_POLL_SECONDS; its error raised,
        or the GzipTooLarge of `watch` as soon as it fails with it."""
        while True:
            try:
                load.result(timeout=PROGRESS_POLL_SECONDS)
                return
            except TimeoutError:
                if self._file_progress is not None:
                    self._file_progress()
                self._check_cancel()
                if watch is not None and watch.done():
                    error = watch.exception()
                    if isinstance(error, GzipTooLarge):
                        raise error from None

    def _fast_insert_text_file(
        self,
        path: str,
        compression: str,
        scan_of: Callable[[], TextScan],
        skip_header: bool,
        fmt: FlowFormat,
        window: TimeWindow | None,
        counts: _FastCounts,
        source_sql: str | None = None,
    ) -> None:
        """One DuckDB pass inserts the good rows; the byte scan (`scan_of()`, which may still
        be running while DuckDB reads) vouches for them and its NODATA/SKIPDATA lines give
        the other counts. Raises NeedsExactParser unless every line is accounted for; the
        caller rolls the insert back then. The rows come from DuckDB's reader, or from
        `source_sql` (the same columns, the header already left out)."""
        if len(fmt) < 2:
            raise NeedsExactParser("a format of one field")
        con = self.connection
        mark_row = con.execute(f"SELECT coalesce(max(rowid) + 1, 0) FROM {FLOWS_TABLE}").fetchone()
        mark = int(mark_row[0]) if mark_row else 0
        read_sql = source_sql or fast_read_sql(
            path, fmt, skip_header=skip_header, compression=compression, typed_integers=True
        )
        rows_sql = fast_rows_sql(
            read_sql, fmt, window, address_table=None, trusted_text=True, typed_integers=True
        )
        columns, values = fast_insert_columns(fmt)
        # Every record goes in, the window's outside too, so that every row's bytes can be
        # counted below; those outside are deleted after. NODATA/SKIPDATA lines are not
        # records: the scan has their text.
        record = "log_status = 'OK'" if fmt.has("log-status") else "TRUE"
        row = con.execute(
            f"INSERT INTO {FLOWS_TABLE} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM ({rows_sql}) AS r "
            f"WHERE CASE WHEN valid THEN {record} "
            f"ELSE error({sql_string(FAST_PATH_ERROR)}) END"
        ).fetchone()
        inserted = int(row[0]) if row else 0
        scan = scan_of()
        if not scan.plain:
            raise NeedsExactParser(scan.why_not)
        lines = scan.lines - (1 if skip_header else 0)
        status_rows = _status_rows(scan.status_lines, fmt)
        nodata, gaps, filtered_status = self._classify_status_lines(status_rows, fmt, window)
        if inserted + nodata + len(gaps) + filtered_status != lines:
            # Strict mode refuses a line of another width, but drops blank lines silently.
            raise NeedsExactParser("rows and lines disagree (blank lines?)")
        self._check_integer_bytes(fmt, mark, inserted, scan, skip_header, status_rows)
        filtered = 0
        window_test = fast_window_test(fmt, window, '"start"', '"end"')
        if window_test != "FALSE":
            deleted = con.execute(
                f"DELETE FROM {FLOWS_TABLE} WHERE rowid >= {mark} AND {window_test}"
            ).fetchone()
            filtered = int(deleted[0]) if deleted else 0
        inserted -= filtered
        if inserted and fmt.has("start") and fmt.has("end"):
            first, last = con.execute(
                f'SELECT min("start"), max("end") FROM {FLOWS_TABLE} WHERE rowid >= {mark}'
            ).fetchone() or (None, None)
            counts.add_range(first, last)
        counts.lines += lines
        counts.ok += inserted
        counts.nodata += nodata
        counts.skipdata += len(gaps)
        counts.filtered += filtered + filtered_status
        counts.gaps.extend(gaps)

    def _check_integer_bytes(
        self,
        fmt: FlowFormat,
        mark: int,
        rows: int,
        scan: TextScan,
        skip_header: bool,
        status_rows: list[tuple[int, list[str]]],
    ) -> None:
        """Prove that every integer field of the `rows` rows just read (rowid >= mark) was `-` or
        plain digits without leading zeros, as the exact parser requires: DuckDB's typed read
        also takes +5, 4.5, 1e2, 0x10 and 007. Raises NeedsExactParser otherwise.

        Two byte counts over the rows' fields, from the loaded values, must equal the byte
        scan's, less the header and the NODATA/SKIPDATA lines (which are not rows here):
        - non-digit bytes: exact for the text fields (their text is stored), 1 for a `-`, and
          0 for an integer. A field like `+5` has more than its expected 0, and no field has
          fewer than expected, so equal totals mean that every integer is digits only.
        - all bytes: exact for text, 1 for `-`, and the digit count of its value for an
          integer. Digits-only text has at least that many (more with leading zeros), so
          equal totals mean no leading zeros: each text is exactly its value written out.
        """
        con = self.connection
        where = f"WHERE rowid >= {mark}"
        size_terms: list[str] = ["0"]
        other_terms: list[str] = ["0"]
        grouped: list[str] = []
        for flow_field in fmt:
            col = quote_ident(flow_field.column)
            if flow_field.kind is FieldKind.INTEGER:
                # Digits of v >= 0 (1 for a NULL, whose text is `-`): 1 + how many of 10,
                # 100, ... 10^18 it reaches. Those comparisons are the fastest over many rows,
                # but 19 aggregates a field take DuckDB ~20 ms to plan: a small file's few rows
                # are counted by writing each value out instead (the same figure).
                if rows < SMALL_LOAD_ROWS:
                    size_terms.append(
                        f"sum(CASE WHEN {col} >= 10 THEN strlen(CAST({col} AS VARCHAR)) ELSE 1 END)"
                    )
                else:
                    size_terms.append("count(*)")
                    size_terms += [f"count_if({col} >= {10**k})" for k in range(1, 19)]
                other_terms.append(f"count_if({col} IS NULL)")
                continue
            size_terms.append(f"sum(coalesce(strlen({col}), 1))")
            if flow_field.kind is FieldKind.ADDRESS:
                # Valid dotted IPv4 (the row check) has exactly its three dots.
                other_terms.append(
                    f"sum(CASE WHEN {col} IS NULL THEN 1 WHEN strpos({col}, ':') = 0 THEN 3 "
                    f"ELSE strlen(translate({col}, '0123456789', '')) END)"
                )
            else:
                # Few distinct values in practice: count each one's non-digits once.
                grouped.append(
                    "(SELECT coalesce(sum(n * coalesce(strlen(translate(v, '0123456789', '')), "
                    f"1)), 0) FROM (SELECT {col} AS v, count(*) AS n FROM {FLOWS_TABLE} "
                    f"{where} GROUP BY {col}) AS distinct_values)"
                )
        row = con.execute(
            f"SELECT {' + '.join(size_terms)}, {' + '.join(other_terms)} FROM {FLOWS_TABLE} {where}"
        ).fetchone()
        size, others = (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)
        if grouped:
            extra = con.execute(f"SELECT {' + '.join(grouped)}").fetchone()
            others += int(extra[0] or 0) if extra else 0
        # Every line but the header is a row of len(fmt) fields: len(fmt) - 1 separators.
        header = scan.first_line if skip_header else None
        separators = (scan.lines - (header is not None)) * (len(fmt) - 1)
        if header is not None:
            separators += header.count(" ")
        expected_size = scan.size - scan.newlines - separators
        expected_others = scan.nondigits
        not_rows = [" ".join(fields) for _, fields in status_rows]
        if header is not None:
            not_rows.append(header)
        for text in not_rows:
            expected_size -= len(text) - text.count(" ")
            expected_others -= nondigit_bytes(text.encode("ascii"))
        if (size, others) != (expected_size, expected_others):
            raise NeedsExactParser("an integer field is not plain digits")

    @staticmethod
    def _classify_status_lines(
        status_rows: list[tuple[int, list[str]]], fmt: FlowFormat, window: TimeWindow | None
    ) -> tuple[int, list[tuple[int, str | None, int | None, int | None]], int]:
        """(NODATA count, SKIPDATA gaps, window-filtered count) of the NODATA/SKIPDATA lines
        (`_status_rows`), classified as the SQL does: the file is known valid, so splitting
        on single spaces is exactly how DuckDB split them."""
        spots = {
            name: fmt.index_of(name) if fmt.has(name) else None
            for name in ("interface-id", "start", "end")
        }
        nodata, filtered = 0, 0
        gaps: list[tuple[int, str | None, int | None, int | None]] = []
        for line_no, fields in status_rows:
            values = {
                name: (None if at is None or fields[at] == "-" else fields[at])
                for name, at in spots.items()
            }
            start = None if values["start"] is None else int(values["start"])
            end = None if values["end"] is None else int(values["end"])
            if window is not None and start is not None and end is not None:
                outside_start = window.start_epoch is not None and end < window.start_epoch
                outside_end = window.end_epoch is not None and start > window.end_epoch
                if outside_start or outside_end:
                    filtered += 1
                    continue
            if fields[fmt.index_of("log-status")] == "NODATA":
                nodata += 1
            else:
                gaps.append((line_no, values["interface-id"], start, end))
        return nodata, gaps, filtered

    def _fast_insert(
        self,
        source_sql: str,
        fmt: FlowFormat,
        window: TimeWindow | None,
        counts: _FastCounts,
        *,
        trusted_text: bool,
        line_numbers: bool = False,
    ) -> str:
        """Count the rows of `source_sql` by status and insert the good ones; returns the typed
        rows SQL (valid until the next call). Raises when a row is invalid."""
        con = self.connection
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_FAST_SURVEY} AS "
            f"{fast_survey_sql(source_sql, fmt, window)}"
        )
        by_status: dict[str, int] = {}
        for status, count, first, last in con.execute(
            f"SELECT status, n, first, last FROM {_FAST_SURVEY} WHERE status IS NOT NULL"
        ).fetchall():
            by_status[str(status)] = int(count)
            counts.add_range(first, last)
        address_table = None
        if any(field.kind is FieldKind.ADDRESS for field in fmt):
            address_table = _FAST_ADDRESSES
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {address_table} AS "
                f"{fast_addresses_sql(_FAST_SURVEY)}"
            )
        rows_sql = fast_rows_sql(
            source_sql,
            fmt,
            window,
            address_table=address_table,
            trusted_text=trusted_text,
            line_numbers=line_numbers,
        )
        columns, values = fast_insert_columns(fmt)
        row = con.execute(
            f"INSERT INTO {FLOWS_TABLE} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM ({rows_sql}) AS r "
            f"WHERE CASE WHEN valid THEN status = 'ok' "
            f"ELSE error({sql_string(FAST_PATH_ERROR)}) END"
        ).fetchone()
        inserted = int(row[0]) if row else 0
        if inserted != by_status.get("ok", 0):
            raise NeedsExactParser("inserted rows differ from counted rows")
        counts.ok += inserted
        counts.nodata += by_status.get("nodata", 0)
        counts.skipdata += by_status.get("skipdata", 0)
        counts.filtered += by_status.get("filtered", 0)
        return rows_sql

    def _merge_fast_counts(
        self, counts: _FastCounts, file_stats: FileStats, stats: LoadStats
    ) -> None:
        file_stats.lines = counts.lines
        file_stats.records = counts.ok
        file_stats.method = "fast"
        stats.total += counts.lines
        stats.ok += counts.ok
        stats.nodata += counts.nodata
        stats.skipdata += counts.skipdata
        stats.filtered_out += counts.filtered
        if counts.ok:
            stats.note_seen(_epoch_to_datetime(counts.first), _epoch_to_datetime(counts.last))
        room = MAX_SKIPDATA_GAPS - len(stats.skipdata_gaps)
        for line_no, interface_id, start, end in counts.gaps[: max(room, 0)]:
            stats.skipdata_gaps.append(
                CoverageGap(
                    file_stats.name,
                    line_no,
                    interface_id,
                    _epoch_to_datetime(start),
                    _epoch_to_datetime(end),
                )
            )

    # -- Parquet -----------------------------------------------------------------------------

    def parquet_format(self, path: str) -> FlowFormat:
        """The flow log fields of an AWS flow log Parquet file, in its column order; a
        column spelled like a field but not known here is kept as text, any other is left
        out (see FlowFormat.unknown_names)."""
        names = [
            str(row[0])
            for row in self.connection.execute(
                f"DESCRIBE SELECT * FROM read_parquet({sql_string(path)})"
            ).fetchall()
        ]
        known = [name for name in names if name.replace("_", "-") in FIELDS_BY_NAME]
        if not known:
            raise ValueError("no flow log field among the Parquet columns: " + ", ".join(names))
        kept = []
        for name in names:
            try:
                kept.append(field_named(name, allow_unknown=True))
            except ValueError:
                continue
        return FlowFormat(tuple(kept))

    def _load_parquet(
        self, path: str, size: int, window: TimeWindow | None, stats: LoadStats
    ) -> None:
        """Load an AWS flow log Parquet file (columns named as AWS writes them)."""
        name = os.path.basename(path)
        file_stats = FileStats(path, name, size, "parquet", "", False)
        stats.files.append(file_stats)
        try:
            fmt = self.parquet_format(path)
        except (duckdb.Error, ValueError) as error:
            file_stats.error = _file_error(error, path, name)
            return
        file_stats.flow_format = str(fmt)
        _note_unknown_fields(fmt, file_stats)
        self._ensure_flows_columns(fmt)
        if self.fast_path:
            counts = _FastCounts()
            self.connection.execute("BEGIN TRANSACTION")
            try:
                rows_sql = self._fast_insert(
                    fast_parquet_sql(path, fmt),
                    fmt,
                    window,
                    counts,
                    trusted_text=False,
                    line_numbers=True,
                )
                counts.lines = counts.ok + counts.nodata + counts.skipdata + counts.filtered
                interface = "interface_id" if fmt.has("interface-id") else "NULL"
                start = '"start"' if fmt.has("start") else "NULL"
                end = '"end"' if fmt.has("end") else "NULL"
                counts.gaps = [
                    (int(line_no), gap_interface, gap_start, gap_end)
                    for line_no, gap_interface, gap_start, gap_end in self.connection.execute(
                        f"SELECT line_no, {interface}, {start}, {end} FROM ({rows_sql}) AS r "
                        f"WHERE status = 'skipdata' ORDER BY line_no LIMIT {MAX_SKIPDATA_GAPS}"
                    ).fetchall()
                ]
                self.connection.execute("COMMIT")
            except Exception as error:  # the exact parser below reads it again and reports
                self.connection.execute("ROLLBACK")
                failure = storage_failure(error)
                if failure is not None:
                    raise failure from error
            else:
                self._merge_fast_counts(counts, file_stats, stats)
                return
        plan = ParsePlan(path, "none", fmt, None, window, lines_sql=parquet_lines_sql(path, fmt))
        try:
            self._load_plan(plan, fmt, file_stats, stats)
        except duckdb.Error as error:
            file_stats.error = _file_error(error, path, name)

    # -- the exact path ----------------------------------------------------------------------

    def _load_plan(
        self, plan: ParsePlan, fmt: FlowFormat, file_stats: FileStats, stats: LoadStats
    ) -> None:
        """Parse one file into `_parsed`, append its good rows to `flows`, and count. Atomic."""
        con = self.connection
        file_stats.method = "exact"
        # row_number() over the read order numbers the lines: keep that order here.
        con.execute("SET preserve_insertion_order = true")
        try:
            if self._cancel is None and self._file_progress is None:
                self._parse_plan_atomically(plan, fmt, file_stats, stats)
            else:
                # On a thread of its own, so this one reports progress and notices a cancel
                # while the (single, long) parse statement runs.
                with ThreadPoolExecutor(max_workers=1, thread_name_prefix="flow-parse") as pool:
                    parse = pool.submit(self._parse_plan_atomically, plan, fmt, file_stats, stats)
                    try:
                        self._report_until_done(parse)
                    except BaseException:
                        if not parse.done():
                            con.interrupt()  # the parse rolls back; this waits for it
                        raise
        finally:
            con.execute("SET preserve_insertion_order = false")

    def _parse_plan_atomically(
        self, plan: ParsePlan, fmt: FlowFormat, file_stats: FileStats, stats: LoadStats
    ) -> None:
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
        for name, column in PACKET_ADDRESS_COLUMNS.items():
            if fmt.has(name):
                columns.append(column)
                values.append(column)
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

        if ok and (fmt.has("start") or fmt.has("end")):
            row = con.execute(
                f"SELECT count(*) FROM {_PARSED} WHERE status = 'ok' AND millis"
            ).fetchone()
            if row is not None and row[0]:
                file_stats.notes.append(
                    f"{int(row[0]):,} records give start/end in milliseconds; read as seconds"
                )
        if ok and fmt.has("start") and fmt.has("end"):
            row = con.execute(
                f'SELECT min("start"), max("end") FROM {_PARSED} WHERE status = \'ok\''
            ).fetchone()
            if row is not None:
                stats.note_seen(_epoch_to_datetime(row[0]), _epoch_to_datetime(row[1]))

    # -- snapshots ---------------------------------------------------------------------------

    def save_snapshot(self, directory: str) -> None:
        """Write `flows` to `directory` as a DuckDB database file (see attach_snapshot).

        A database file keeps every column's exact type (128-bit addresses included) and can be
        opened read-only and analysed in place: a second analysis neither parses nor copies.
        """
        os.makedirs(directory, exist_ok=True)
        target = os.path.join(directory, SNAPSHOT_FLOWS)
        con = self.connection
        con.execute(f"ATTACH {sql_string(target)} AS {_SNAPSHOT_ALIAS}")
        try:
            con.execute(
                f"CREATE TABLE {_SNAPSHOT_ALIAS}.{FLOWS_TABLE} AS SELECT * FROM {FLOWS_TABLE}"
            )
        finally:
            con.execute(f"DETACH {_SNAPSHOT_ALIAS}")

    def attach_snapshot(self, directory: str) -> int:
        """Append the rows of a snapshot written by save_snapshot to `flows`; returns how many.

        Nothing is parsed again: the rows come back typed. One INSERT, so on failure nothing
        was added.
        """
        source = os.path.join(directory, SNAPSHOT_FLOWS)
        if not os.path.isfile(source):
            raise FileNotFoundError(f"no flows snapshot in {directory}")
        con = self.connection
        con.execute(f"ATTACH {sql_string(source)} AS {_SNAPSHOT_ALIAS} (READ_ONLY)")
        try:
            schema = flows_schema(con, catalog=_SNAPSHOT_ALIAS)
            existing = dict(flows_schema(con))
            for name, sql_type in schema:
                if name not in existing:
                    con.execute(
                        f"ALTER TABLE {FLOWS_TABLE} ADD COLUMN {quote_ident(name)} {sql_type}"
                    )
            names = ", ".join(quote_ident(name) for name, _ in schema)
            row = con.execute(
                f"INSERT INTO {FLOWS_TABLE} ({names}) "
                f"SELECT {names} FROM {_SNAPSHOT_ALIAS}.{FLOWS_TABLE}"
            ).fetchone()
        finally:
            con.execute(f"DETACH {_SNAPSHOT_ALIAS}")
        return int(row[0]) if row else 0

    @classmethod
    def load_snapshot(cls, directory: str, **options: Any) -> FlowEngine:
        """A new engine over the snapshot's database file, opened read-only: analyses run on
        the stored table in place, with nothing parsed or copied."""
        source = os.path.join(directory, SNAPSHOT_FLOWS)
        if not os.path.isfile(source):
            raise FileNotFoundError(f"no flows snapshot in {directory}")
        return cls(source, read_only=True, **options)

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
