"""Loading flow log files: counts, malformed lines, coverage gaps, windows, persistence."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analysis import chunks
from analysis import engine as engine_module
from analysis.engine import EngineStorageError, FlowEngine, storage_failure
from analysis.formats import DEFAULT_FORMAT
from analysis.loadstats import MAX_MALFORMED_SAMPLES
from analysis.window import TimeWindow

WriteLog = Callable[..., str]  # the write_log fixture of conftest.py
HEADER = " ".join(DEFAULT_FORMAT.names)

T0 = 1_700_000_000


def ok_line(src: str = "192.0.2.1", dport: int = 22, start: int = T0, end: int = T0 + 10) -> str:
    return f"2 123456789012 eni-1 {src} 10.0.0.5 40000 {dport} 6 3 180 {start} {end} ACCEPT OK"


def test_malformed_lines_are_counted_with_line_numbers(
    engine: FlowEngine, write_log: WriteLog
) -> None:
    lines: list[str | bytes] = [
        ok_line(),  # 1
        "2 123456789012 eni-1 192.0.2.1 10.0.0.5 40000 22 6 3 180 1700000000",  # 2 too few
        ok_line() + " extra",  # 3 too many
        ok_line().encode().replace(b"eni-1", b"eni\x00-1"),  # 4 NUL
        ok_line().encode().replace(b"eni-1", b"eni-\xff\xfe"),  # 5 bad UTF-8
        ok_line().replace("40000", "abc"),  # 6 not an integer
        ok_line().replace("40000", "70000"),  # 7 port range
        ok_line().replace("ACCEPT", "ALLOW"),  # 8 action
        ok_line(src="10.0.0.256"),  # 9 address
        ok_line(src="2001:db8:::1"),  # 10 IPv6
        "",  # 11 empty
        b"\x89PNG\x1a\x00\xff\xfe\x01\x07garbage\x1b[0m",  # 12 binary
        ok_line(start=T0 + 50, end=T0 + 10),  # 13 start > end
        ok_line().replace(" OK", " WHAT"),  # 14 log-status
        "x" * 300_000,  # 15 very long
        ok_line().replace("40000", "4.5"),  # 16 not integer
        ok_line(src="2001:db8::1"),  # 17 ok
    ]
    stats = engine.load_files([write_log(lines, name="bad.log", trailing=b"\n\n\n")])
    assert (stats.total, stats.ok, stats.malformed, stats.nodata, stats.skipdata) == (
        17,
        2,
        15,
        0,
        0,
    )
    reasons = [(sample.line, sample.reason) for sample in stats.malformed_samples]
    assert reasons == [
        (2, "expected 14 fields, found 11"),
        (3, "expected 14 fields, found 15"),
        (4, "binary or non-ASCII data"),
        (5, "binary or non-ASCII data"),
        (6, "bad srcport: abc"),
        (7, "bad srcport: 70000"),
        (8, "bad action: ALLOW"),
        (9, "bad srcaddr: 10.0.0.256"),
        (10, "bad srcaddr: 2001:db8:::1"),
        (11, "empty line"),
        (12, "binary or non-ASCII data"),
        (13, "start is after end"),
        (14, "bad log-status: WHAT"),
        (15, "expected 14 fields, found 1"),
        (16, "bad srcport: 4.5"),
    ]
    assert {sample.file for sample in stats.malformed_samples} == {"bad.log"}
    assert stats.malformed_samples[2].text == ok_line().replace("eni-1", "eni\ufffd-1")
    assert len(stats.malformed_samples[13].text) == 200
    assert stats.files[0].lines == 17 and stats.files[0].records == 2
    assert engine.record_count() == 2


def test_only_the_first_twenty_malformed_lines_are_kept(
    engine: FlowEngine, write_log: WriteLog
) -> None:
    # Each file has a record among its first lines, so it is a flow log with bad lines.
    first = write_log([f"junk {n}" for n in range(15)] + [ok_line()])
    second = write_log([ok_line()] + [f"junk {n}" for n in range(15)])
    stats = engine.load_files([first, second])
    assert stats.malformed == 30
    assert len(stats.malformed_samples) == 20
    assert [sample.line for sample in stats.malformed_samples[14:]] == [15, 2, 3, 4, 5, 6]


def test_nodata_and_skipdata_are_counted_not_loaded(
    engine: FlowEngine, write_log: WriteLog
) -> None:
    lines = [
        HEADER,
        ok_line(),
        f"2 123456789012 eni-9 - - - - - - - {T0} {T0 + 60} - NODATA",
        f"2 123456789012 eni-7 - - - - - - - {T0 + 60} {T0 + 120} - SKIPDATA",
    ]
    stats = engine.load_files([write_log(lines, name="gaps.log")])
    assert (stats.total, stats.ok, stats.nodata, stats.skipdata) == (3, 1, 1, 1)
    assert [gap.to_dict() for gap in stats.skipdata_gaps] == [
        {
            "file": "gaps.log",
            "line": 4,
            "interface_id": "eni-7",
            "start": "2023-11-14T22:14:20+00:00",
            "end": "2023-11-14T22:15:20+00:00",
        }
    ]
    assert engine.record_count() == 1


def test_crlf_files_and_header_lines(engine: FlowEngine, write_log: WriteLog) -> None:
    path = write_log([HEADER, ok_line(), "bad", ok_line()], newline=b"\r\n", trailing=b"\r\n")
    stats = engine.load_files([path])
    assert (stats.total, stats.ok, stats.malformed) == (3, 2, 1)
    assert stats.malformed_samples[0].line == 3
    assert stats.files[0].header is True


def test_gzip_is_detected_by_content_not_name(engine: FlowEngine, tmp_path: Path) -> None:
    disguised = tmp_path / "flows.txt"
    disguised.write_bytes(gzip.compress((ok_line() + "\n").encode()))
    plain_named_gz = tmp_path / "flows.gz"
    plain_named_gz.write_bytes((ok_line() + "\n").encode())
    stats = engine.load_files([str(disguised), str(plain_named_gz)])
    assert [(f.compression, f.records) for f in stats.files] == [("gzip", 1), ("none", 1)]


def test_unreadable_files_are_reported_and_skipped(
    engine: FlowEngine, tmp_path: Path, write_log: WriteLog
) -> None:
    broken = tmp_path / "broken.log.gz"
    broken.write_bytes(gzip.compress(("\n".join([ok_line()] * 2000) + "\n").encode())[:-30])
    good = write_log([ok_line()])
    stats = engine.load_files([str(tmp_path / "missing.log"), str(broken), good])
    assert [f.error is not None for f in stats.files] == [True, True, False]
    assert (stats.total, stats.ok) == (1, 1)
    assert engine.record_count() == 1  # nothing of the damaged file is half-loaded
    # The reasons name the files, never the server's paths to them.
    missing, damaged = stats.files[0].error or "", stats.files[1].error or ""
    assert "missing.log" in missing and "broken.log.gz" in damaged
    assert str(tmp_path) not in missing + damaged


def test_running_out_of_memory_and_scratch_space_stops_the_load(
    tmp_path: Path, write_log: WriteLog
) -> None:
    """No fault of the file: the load raises rather than record the file as unreadable and
    go on without its records."""
    path = write_log(
        [
            ok_line(src=f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", start=T0 + n)
            for n in range(200_000)
        ]
    )
    with FlowEngine(memory_limit="8MB", temp_directory=str(tmp_path / "spill")) as engine:
        engine.connection.execute("SET max_temp_directory_size = '1MB'")
        with pytest.raises(EngineStorageError) as raised:
            engine.load_files([path])
    assert "memory limit and its scratch space" in str(raised.value.strerror)
    assert isinstance(raised.value, OSError)  # runs fail with a storage error, not a bug


def test_storage_failures_are_told_from_damaged_data() -> None:
    import errno

    import duckdb

    assert storage_failure(duckdb.IOException("IO Error: Unexpected end of GZIP stream")) is None
    assert storage_failure(ValueError("no")) is None
    full = storage_failure(duckdb.IOException("Could not write file: No space left on device"))
    assert full is not None and full.errno == errno.ENOSPC
    read_only = storage_failure(OSError(errno.EROFS, "Read-only file system"))
    assert read_only is not None and read_only.strerror == "Read-only file system"


def test_the_window_keeps_overlapping_records(engine: FlowEngine, write_log: WriteLog) -> None:
    lines = [
        ok_line(start=T0, end=T0 + 59),  # ends before the window
        ok_line(start=T0 + 30, end=T0 + 60),  # ends at its start
        ok_line(start=T0 + 90, end=T0 + 100),  # inside
        ok_line(start=T0 + 110, end=T0 + 200),  # starts at its end
        ok_line(start=T0 + 121, end=T0 + 200),  # starts after
        f"2 123456789012 eni-7 - - - - - - - {T0 + 500} {T0 + 560} - SKIPDATA",  # outside
    ]
    window = TimeWindow(datetime.fromtimestamp(T0 + 60, UTC), datetime.fromtimestamp(T0 + 120, UTC))
    stats = engine.load_files([write_log(lines)], window=window)
    assert (stats.total, stats.ok, stats.filtered_out, stats.skipdata) == (6, 3, 3, 0)
    assert stats.first_seen == datetime.fromtimestamp(T0 + 30, UTC)
    assert stats.last_seen == datetime.fromtimestamp(T0 + 200, UTC)


def test_loads_append_and_persist_in_a_database_file(tmp_path: Path, write_log: WriteLog) -> None:
    database = str(tmp_path / "cache.duckdb")
    path = write_log([ok_line(), ok_line(src="2001:db8::7")])
    progress: list[tuple[str, float]] = []
    with FlowEngine(
        database, memory_limit="256MB", threads=1, temp_directory=str(tmp_path / "spill")
    ) as engine:
        engine.load_files([path], progress=lambda message, done: progress.append((message, done)))
        engine.load_files([path])
        assert engine.record_count() == 4
    assert progress[0][1] == 0.0 and progress[-1] == ("Loaded", 1.0)
    with FlowEngine(database) as reopened:
        assert reopened.record_count() == 4
        families = reopened.connection.execute(
            "SELECT src_family, count(*) FROM flows GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert families == [(4, 2), (6, 2)]


def test_stats_serialise_to_plain_values(engine: FlowEngine, write_log: WriteLog) -> None:
    stats = engine.load_files([write_log([ok_line(), "junk"], name="a.log")])
    data = stats.to_dict()
    assert data["total"] == 2 and data["ok"] == 1 and data["malformed"] == 1
    assert data["malformed_samples"] == [
        {"file": "a.log", "line": 2, "reason": "expected 14 fields, found 1", "text": "junk"}
    ]
    assert data["files"][0]["name"] == "a.log"
    assert data["files"][0]["lines"] == 2
    assert data["first_seen"] == "2023-11-14T22:13:20+00:00"


def test_line_numbers_stay_exact_in_a_large_file(engine: FlowEngine, write_log: WriteLog) -> None:
    count = 300_000
    lines = [ok_line(dport=n % 65536, start=T0 + n, end=T0 + n) for n in range(count)]
    for bad in (1, 150_001, count):
        lines[bad - 1] = f"broken line {bad}"
    stats = engine.load_files([write_log(lines)])
    assert stats.ok == count - 3
    assert [(s.line, s.text) for s in stats.malformed_samples] == [
        (1, "broken line 1"),
        (150_001, "broken line 150001"),
        (count, f"broken line {count}"),
    ]


def test_lines_the_reader_refuses_are_still_counted_in_place(
    engine: FlowEngine, write_log: WriteLog
) -> None:
    lines: list[str | bytes] = [
        ok_line(),
        b"caf\xc3\xa9 \x80\x9f c1 control bytes",
        b"y" * 9_000_000,
        ok_line(),
    ]
    for gz in (False, True):
        stats = engine.load_files([write_log(lines, gz=gz)])
        assert (stats.total, stats.ok, stats.malformed) == (4, 2, 2)
        assert [(s.line, s.reason) for s in stats.malformed_samples] == [
            (2, "binary or non-ASCII data"),
            (3, "line too long (over 4194304 bytes)"),
        ]
        assert stats.files[0].error is None


def flows_content(engine: FlowEngine) -> list[tuple[object, ...]]:
    return engine.connection.execute("SELECT * FROM flows ORDER BY ALL").fetchall()


def load_both_ways(
    paths: list[str], window: TimeWindow | None = None
) -> tuple[
    dict[str, object], dict[str, object], list[tuple[object, ...]], list[tuple[object, ...]]
]:
    with FlowEngine() as fast, FlowEngine() as exact:
        exact.fast_path = False
        fast_stats = fast.load_files(paths, window=window).to_dict()
        exact_stats = exact.load_files(paths, window=window).to_dict()
        return fast_stats, exact_stats, flows_content(fast), flows_content(exact)


def without_methods(stats: dict[str, object]) -> dict[str, object]:
    files = [dict(f, method="") for f in stats["files"]]  # type: ignore[attr-defined]
    return {**stats, "files": files}


def clean_lines(count: int, skipdata: tuple[int, int], nodata: tuple[int, int]) -> list[str]:
    """A header and `count` clean lines: SKIPDATA where n % skipdata[0] == skipdata[1], NODATA
    where n % nodata[0] == nodata[1], else records, every tenth over IPv6."""
    lines = [HEADER]
    for n in range(count):
        if n % skipdata[0] == skipdata[1]:
            lines.append(f"2 123456789012 eni-{n} - - - - - - - {T0 + n} {T0 + n + 60} - SKIPDATA")
        elif n % nodata[0] == nodata[1]:
            lines.append(f"2 123456789012 eni-{n} - - - - - - - {T0 + n} {T0 + n + 60} - NODATA")
        elif n % 10 == 3:
            lines.append(ok_line(src=f"2001:db8::{n:x}", start=T0 + n, end=T0 + n + 5))
        else:
            lines.append(ok_line(src=f"198.51.{n % 256}.{n % 7}", start=T0 + n, end=T0 + n + 5))
    return lines


def test_clean_files_take_the_fast_path_with_the_exact_results(
    write_log: WriteLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small blocks, so both files are scanned in many pieces (lines cut across pieces).
    monkeypatch.setattr(chunks, "BLOCK_BYTES", 700)
    lines = clean_lines(300, skipdata=(37, 5), nodata=(41, 7))
    paths = [write_log(lines, name="clean.log"), write_log(lines, gz=True, name="clean.log.gz")]
    window = TimeWindow(datetime.fromtimestamp(T0 + 50, UTC), datetime.fromtimestamp(T0 + 200, UTC))
    for chosen in (None, window):
        fast_stats, exact_stats, fast_rows, exact_rows = load_both_ways(paths, chosen)
        assert [f["method"] for f in fast_stats["files"]] == ["fast", "fast"]  # type: ignore[index]
        assert without_methods(fast_stats) == without_methods(exact_stats)
        assert fast_rows == exact_rows
    assert fast_stats["skipdata_gaps"][0]["line"] == 7  # type: ignore[index]


def assert_each_file_goes_exact(write_log: WriteLog, cases: dict[str, list[str]]) -> None:
    """Each case's lines in a file of its own: every file goes to the exact parser, and the
    fast and the exact load agree on every count, sample and row. Files load a few at a time
    (the loader decides file by file; two engines per case made these the slowest tests), so
    that every malformed line of a load stays among the samples kept."""
    items = list(cases.items())
    for start in range(0, len(items), 6):
        batch = items[start : start + 6]
        paths = [write_log(lines) for _, lines in batch]
        texts = [text for text, _ in batch]
        fast_stats, exact_stats, fast_rows, exact_rows = load_both_ways(paths)
        methods = [f["method"] for f in fast_stats["files"]]  # type: ignore[attr-defined]
        assert methods == ["exact"] * len(batch), list(zip(texts, methods, strict=True))
        assert fast_stats["malformed"] <= MAX_MALFORMED_SAMPLES, texts  # type: ignore[operator]
        assert fast_stats == exact_stats and fast_rows == exact_rows, texts


# Integers DuckDB's own cast reads (as 5, 100, 16, ...) but the exact parser refuses.
LENIENT_INTEGERS = "+4000 2.5 5. .5 1e2 1E2 1e+2 0x10 0X1F 0b1 1_000 -0 -5 00000000000000000022"


@pytest.mark.parametrize("field", [" 40000 ", " 22 ", " 6 ", " 3 ", " 180 ", f" {T0} "])
def test_lenient_integers_anywhere_are_caught_by_the_byte_counts(
    write_log: WriteLog, field: str
) -> None:
    """DuckDB's typed read takes each of these for a number; the byte counts must notice,
    whichever integer field holds it, and even when other lines try to even the counts out
    (a shorter `1e9`, a `-` where digits were)."""
    evener = ok_line().replace(" 180 ", " 1e9 ").replace(" 3 ", " - ")
    texts = (*LENIENT_INTEGERS.split(), "1e9", "1E18")
    bad = {text: ok_line().replace(field, f" {text} ", 1) for text in texts}
    assert_each_file_goes_exact(
        write_log, {text: [ok_line(), line, ok_line()] for text, line in bad.items()}
    )
    assert_each_file_goes_exact(
        write_log,
        {text: [line, evener, ok_line().replace(" 6 ", " 06 ")] for text, line in bad.items()},
    )


# Dotted quads whose parts DuckDB's cast reads as octets, or that the exact parser refuses.
LENIENT_ADDRESSES = (
    "+192.0.2.1 192.0.+2.1 192.0.2.1e0 1e2.0.2.1 0x10.0.2.1 1_0.0.2.1 192.0.2.0x1 "
    "00000000192.0.2.1 192..2.1 192.0.2. .192.0.2 192.0.2.1.5 256.0.2.1 192.0.2.-1"
)


@pytest.mark.parametrize("side", ["src", "dst"])
def test_lenient_ipv4_addresses_go_to_the_exact_parser(write_log: WriteLog, side: str) -> None:
    """The fast path splits dotted quads on their dots and relies on the byte counts for
    the digits: any other byte in an address, or a quad the exact parser would refuse,
    sends the file to the exact parser, and both paths then agree."""
    evener = ok_line().replace(" 180 ", " 1e9 ").replace(" 3 ", " - ")
    bad = {
        text: ok_line(src=text) if side == "src" else ok_line().replace(" 10.0.0.5 ", f" {text} ")
        for text in LENIENT_ADDRESSES.split()
    }
    assert_each_file_goes_exact(
        write_log, {text: [ok_line(), line, ok_line()] for text, line in bad.items()}
    )
    assert_each_file_goes_exact(write_log, {text: [line, evener] for text, line in bad.items()})


def test_plain_ipv4_addresses_with_leading_zeros_load_as_the_exact_parser_loads_them(
    write_log: WriteLog,
) -> None:
    path = write_log([ok_line(src="192.000.002.001"), ok_line(src="0.0.0.0")])
    fast_stats, exact_stats, fast_rows, exact_rows = load_both_ways([path])
    assert fast_stats["files"][0]["method"] == "fast"  # type: ignore[index]
    assert without_methods(fast_stats) == without_methods(exact_stats)
    assert fast_rows == exact_rows and fast_stats["ok"] == 2


def test_leading_zeros_load_as_the_exact_parser_loads_them(write_log: WriteLog) -> None:
    path = write_log([ok_line(), ok_line().replace(" 22 ", " 0022 ").replace(" 180 ", " 0 ")])
    fast_stats, exact_stats, fast_rows, exact_rows = load_both_ways([path])
    assert fast_stats == exact_stats and fast_rows == exact_rows
    assert fast_stats["ok"] == 2
    assert fast_stats["files"][0]["method"] == "exact"  # type: ignore[index]


def test_status_lines_with_lenient_integers_are_malformed(write_log: WriteLog) -> None:
    nodata = f"2 123456789012 eni-9 - - - - - - - +{T0} {T0 + 60} - NODATA"
    fast_stats, exact_stats, _, _ = load_both_ways([write_log([ok_line(), nodata])])
    assert fast_stats == exact_stats
    assert fast_stats["malformed"] == 1 and fast_stats["nodata"] == 0


def test_one_bad_line_sends_the_file_to_the_exact_parser(write_log: WriteLog) -> None:
    bad_lines = ["x"] + [
        ok_line().replace(" 22 ", f" {text} ") for text in LENIENT_INTEGERS.split()
    ]
    for bad in bad_lines:
        path = write_log([ok_line(), bad, ok_line()])
        fast_stats, exact_stats, fast_rows, exact_rows = load_both_ways([path])
        assert fast_stats["files"][0]["method"] == "exact"  # type: ignore[index]
        assert fast_stats == exact_stats and fast_rows == exact_rows
        assert fast_stats["malformed_samples"][0]["line"] == 2  # type: ignore[index]


def write_parquet(engine: FlowEngine, path: Path, rows: list[str]) -> None:
    """A Parquet file with the columns and types AWS writes (as Athena's DDL lists them)."""
    engine.connection.execute(
        f"""COPY (SELECT * FROM (VALUES {", ".join(rows)}) AS t(
            version, account_id, interface_id, srcaddr, dstaddr, srcport, dstport, protocol,
            packets, bytes, start, "end", action, log_status, vpc_id, tcp_flags, flow_direction))
        TO '{path}' (FORMAT PARQUET)"""
    )


def parquet_row(
    src: str | None, dport: int | None, start: int, status: str = "OK", action: str = "ACCEPT"
) -> str:
    src_sql = "NULL" if src is None else f"'{src}'"
    port = "NULL" if dport is None else f"{dport}"
    return (
        f"(2::INT, '123456789012', 'eni-1', {src_sql}, '10.0.0.5', 40000::INT, {port}::INT, "
        f"6::BIGINT, 3::BIGINT, 180::BIGINT, {start}::BIGINT, {start + 10}::BIGINT, "
        f"'{action}', '{status}', 'vpc-1', 2::INT, 'ingress')"
    )


def test_parquet_files_load_into_the_same_table(engine: FlowEngine, tmp_path: Path) -> None:
    path = tmp_path / "flows.parquet"  # detected by its magic bytes, not this name
    rows = [
        parquet_row("192.0.2.1", 22, T0),
        parquet_row("2001:db8::7", 22, T0 + 20, action="REJECT"),
        parquet_row(None, None, T0 + 30, status="SKIPDATA"),
        parquet_row(None, None, T0 + 40, status="NODATA"),
    ]
    write_parquet(engine, path, rows)
    stats = engine.load_files([str(path)])
    assert (stats.total, stats.ok, stats.nodata, stats.skipdata, stats.malformed) == (4, 2, 1, 1, 0)
    assert stats.files[0].compression == "parquet" and stats.files[0].method == "fast"
    assert stats.files[0].flow_format.startswith("version account-id interface-id srcaddr")
    assert [(gap.line, gap.interface_id) for gap in stats.skipdata_gaps] == [(3, "eni-1")]
    assert {"vpc_id", "tcp_flags", "flow_direction"} <= set(engine.columns())
    assert engine.connection.execute(
        "SELECT srcaddr, src_family, dstport, tcp_flags, flow_direction, start_ts FROM flows "
        "ORDER BY start"
    ).fetchall() == [
        ("192.0.2.1", 4, 22, 2, "ingress", datetime(2023, 11, 14, 22, 13, 20)),
        ("2001:db8::7", 6, 22, 2, "ingress", datetime(2023, 11, 14, 22, 13, 40)),
    ]
    rows_by_source = {
        (row["srcaddr"], row["action"]): row["flows"] for row in engine.run("ssh-inbound").rows
    }
    assert rows_by_source == {("192.0.2.1", "ACCEPT"): 1, ("2001:db8::7", "REJECT"): 1}


def test_bad_parquet_rows_are_malformed_with_their_row_numbers(
    engine: FlowEngine, tmp_path: Path
) -> None:
    path = tmp_path / "bad.parquet"
    write_parquet(
        engine,
        path,
        [
            parquet_row("192.0.2.1", 22, T0),
            parquet_row("10.0.0.256", 22, T0),
            parquet_row("192.0.2.1", 70000, T0),
            parquet_row("192.0.2.1", 22, T0, action="ALLOW"),
        ],
    )
    stats = engine.load_files([str(path)])
    assert (stats.total, stats.ok, stats.malformed) == (4, 1, 3)
    assert stats.files[0].method == "exact"
    assert [(s.line, s.reason) for s in stats.malformed_samples] == [
        (2, "bad srcaddr: 10.0.0.256"),
        (3, "bad dstport: 70000"),
        (4, "bad action: ALLOW"),
    ]


def test_a_long_fast_load_reports_the_lines_read_so_far(
    write_log: WriteLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While DuckDB reads one file, the loader reports progress with the lines scanned so
    far; the exact record count replaces them when the file is done."""
    monkeypatch.setattr(engine_module, "PROGRESS_POLL_SECONDS", 0.01)
    monkeypatch.setattr(chunks, "BLOCK_BYTES", 2000)
    slow_scan = chunks.scan_text

    def scan_text(*args: object, **kwargs: object) -> chunks.TextScan:
        time.sleep(0.01)
        return slow_scan(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(chunks, "scan_text", scan_text)
    lines = [ok_line(start=T0 + n, end=T0 + n + 5) for n in range(2000)]
    for gz in (False, True):
        with FlowEngine() as engine:
            seen: list[int] = []

            def note(
                stage: str, fraction: float, engine: FlowEngine = engine, seen: list[int] = seen
            ) -> None:
                seen.append(engine.records_so_far())

            engine.load_files([write_log(lines, gz=gz)], progress=note)
            assert any(0 < count < len(lines) for count in seen), seen
            assert seen == sorted(seen) and seen[-1] == len(lines)
            assert engine.records_so_far() == engine.record_count() == len(lines)
