"""Line endings: CRLF and mixed LF/CRLF files load every record with exact line numbers."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from analysis.engine import FlowEngine

T0 = 1_700_000_000


def ok_line(n: int) -> bytes:
    return (
        f"2 123456789012 eni-1 192.0.2.{n % 250 + 1} 10.0.0.5 40000 22 6 3 180 "
        f"{T0 + n} {T0 + n + 10} ACCEPT OK"
    ).encode()


def mixed_file() -> bytes:
    """110 good records, every 11th ending CRLF (10 in all), and one bad line at line 101."""
    out = b""
    for n in range(1, 112):
        line = b"bad line" if n == 101 else ok_line(n)
        ending = b"\r\n" if n % 11 == 0 and n != 101 else b"\n"
        out += line + ending
    assert out.count(b"\r\n") == 10
    return out


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_mixed_lf_and_crlf_lines_load_with_exact_line_numbers(
    engine: FlowEngine, tmp_path: Path, gz: bool
) -> None:
    data = mixed_file()
    path = tmp_path / "mixed.log"
    path.write_bytes(gzip.compress(data) if gz else data)
    stats = engine.load_files([str(path)])
    assert (stats.total, stats.ok, stats.malformed) == (111, 110, 1)
    assert [(s.line, s.text) for s in stats.malformed_samples] == [(101, "bad line")]
    assert engine.record_count() == 110


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_a_lone_cr_inside_a_line_is_part_of_that_line(
    engine: FlowEngine, tmp_path: Path, gz: bool
) -> None:
    # A CR not followed by LF does not end a line: the line holding it is one malformed line.
    data = ok_line(1) + b"\r\n" + ok_line(2)[:20] + b"\r" + ok_line(3) + b"\n" + ok_line(4) + b"\n"
    path = tmp_path / "lone-cr.log"
    path.write_bytes(gzip.compress(data) if gz else data)
    stats = engine.load_files([str(path)])
    assert (stats.total, stats.ok, stats.malformed) == (3, 2, 1)
    assert [(s.line, s.reason) for s in stats.malformed_samples] == [
        (2, "binary or non-ASCII data")
    ]
