"""The gzip fast path reads through pyarrow (analysis.arrowread): the same guarantees as
DuckDB's reader on plain files, and DuckDB's reader still serves when pyarrow is absent."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from analysis import chunks
from analysis import engine as engine_module
from analysis.engine import FlowEngine
from tests.analysis.conftest import WriteLog
from tests.analysis.test_loader import (
    HEADER,
    LENIENT_ADDRESSES,
    LENIENT_INTEGERS,
    clean_lines,
    load_both_ways,
    ok_line,
    without_methods,
)


def gzip_methods(write_log: WriteLog, cases: dict[str, list[str]]) -> dict[str, str]:
    """Each case's lines as a gzip file of its own, loaded both ways: the two loads agree on
    every count, sample and row; returns the method of each case's fast load."""
    texts = list(cases)
    paths = [write_log(cases[text], gz=True) for text in texts]
    fast_stats, exact_stats, fast_rows, exact_rows = load_both_ways(paths)
    assert without_methods(fast_stats) == without_methods(exact_stats), texts
    assert fast_rows == exact_rows, texts
    files = fast_stats["files"]
    assert isinstance(files, list)
    return {text: file["method"] for text, file in zip(texts, files, strict=True)}


def test_lenient_integers_and_addresses_in_gzip_go_to_the_exact_parser(
    write_log: WriteLog,
) -> None:
    """pyarrow's int64 takes 007 and 0x10 (and refuses +5 and 1e2, as a parse error): either
    way the file goes to the exact parser and both paths agree."""
    cases = {
        text: [ok_line(), ok_line().replace(" 22 ", f" {text} "), ok_line()]
        for text in (*LENIENT_INTEGERS.split(), "007", "1E18")
    }
    cases |= {f"src {text}": [ok_line(src=text), ok_line()] for text in LENIENT_ADDRESSES.split()}
    methods = gzip_methods(write_log, cases)
    assert methods == dict.fromkeys(cases, "exact")


def test_hostile_gzip_lines_go_to_the_exact_parser(write_log: WriteLog) -> None:
    cases: dict[str, list[str]] = {
        "blank line": [ok_line(), "", ok_line()],
        "extra field": [ok_line(), ok_line() + " x"],
        "missing field": [ok_line(), ok_line().rsplit(" ", 1)[0]],
        "double space": [ok_line(), ok_line().replace(" 22 ", "  22 ")],
        "tab": [ok_line(), ok_line().replace(" ACCEPT", "\tACCEPT")],
        "bad action": [ok_line(), ok_line().replace("ACCEPT", "ALLOW")],
    }
    assert gzip_methods(write_log, cases) == dict.fromkeys(cases, "exact")


def test_quotes_in_gzip_are_text_not_quoting(write_log: WriteLog) -> None:
    """pyarrow's quoting is off: a `"` is a byte of its field, as for the exact parser."""
    cases = {
        "a quote in a field": [ok_line(), ok_line().replace("eni-1", '"eni-1')],
        "quoted blank": [ok_line(), ok_line().replace("eni-1", '"eni 1"')],
    }
    methods = gzip_methods(write_log, cases)
    assert methods == {"a quote in a field": "fast", "quoted blank": "exact"}


def test_clean_gzip_over_many_pieces_takes_the_arrow_path(
    write_log: WriteLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines cut between inflated pieces, a header, NODATA/SKIPDATA lines and IPv6: loaded
    fast through pyarrow, exactly as the exact parser loads them, gaps at their lines."""
    monkeypatch.setattr(chunks, "BLOCK_BYTES", 500)
    used = []
    original = engine_module._parsed_gzip

    def spy(*args: object) -> object:
        parsed = original(*args)  # type: ignore[arg-type]
        used.append(parsed is not None)
        return parsed

    monkeypatch.setattr(engine_module, "_parsed_gzip", spy)
    lines = clean_lines(400, skipdata=(53, 9), nodata=(47, 3))
    path = write_log(lines, gz=True)
    fast_stats, exact_stats, fast_rows, exact_rows = load_both_ways([path])
    assert used == [True]
    assert fast_stats["files"][0]["method"] == "fast"  # type: ignore[index]
    assert without_methods(fast_stats) == without_methods(exact_stats)
    assert fast_rows == exact_rows
    assert fast_stats["skipdata_gaps"][0]["line"] == 11  # type: ignore[index]


def test_a_gzip_header_alone_and_a_last_line_without_newline(write_log: WriteLog) -> None:
    cases = {
        "header only": [HEADER],
        "no final newline": [HEADER, ok_line(), ok_line(dport=443)],
    }
    paths = [
        write_log(cases["header only"], gz=True),
        write_log(cases["no final newline"], gz=True, trailing=b""),
    ]
    fast_stats, exact_stats, fast_rows, exact_rows = load_both_ways(paths)
    assert without_methods(fast_stats) == without_methods(exact_stats)
    assert fast_rows == exact_rows
    assert fast_stats["ok"] == 2


def test_without_pyarrow_gzip_takes_duckdbs_reader(
    write_log: WriteLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "_parsed_gzip", lambda *args: None)
    path = write_log([ok_line(), ok_line(dport=443)], gz=True)
    with FlowEngine() as engine:
        stats = engine.load_files([path])
    assert stats.files[0].method == "fast" and stats.ok == 2


def test_a_gzip_damaged_after_many_pieces_loads_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pieces before the damage were parsed and inserted already: all of it rolls back."""
    monkeypatch.setattr(chunks, "BLOCK_BYTES", 4096)
    broken = tmp_path / "broken.log.gz"
    broken.write_bytes(gzip.compress(("\n".join([ok_line()] * 20000) + "\n").encode())[:-30])
    with FlowEngine() as engine:
        stats = engine.load_files([str(broken)])
        assert engine.record_count() == 0
    error = stats.files[0].error or ""
    assert "broken.log.gz" in error and str(tmp_path) not in error
