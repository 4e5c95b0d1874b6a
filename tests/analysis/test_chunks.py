"""The byte scan gives the same answer however a file is cut into pieces, plain or gzip."""

from __future__ import annotations

import gzip
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import chunks
from analysis.chunks import scan_gzip_file, scan_plain_file, scan_text

lines = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "2 1 eni-1 10.0.0.1 10.0.0.2 1 22 6 1 1 1700000000 1700000060 ACCEPT OK",
                "2 1 eni-2 - - - - - - - 1700000000 1700000060 - NODATA",
                "2 1 eni-3 - - - - - - - 1700000000 1700000060 - SKIPDATA",
                "",
                "x y",
            ]
        ),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=lines, block=st.integers(8, 200), final_newline=st.booleans())
def test_pieces_scan_like_the_whole_text(body: list[str], block: int, final_newline: bool) -> None:
    data = "\n".join(body).encode() + (b"\n" if final_newline and body else b"")
    whole = scan_text(data)
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as folder:
        patch.setattr(chunks, "BLOCK_BYTES", block)
        plain, packed = Path(folder) / "a.log", Path(folder) / "a.log.gz"
        plain.write_bytes(data)
        # Two gzip members: the scan reads on across the member boundary.
        half = len(data) // 2
        packed.write_bytes(gzip.compress(data[:half]) + gzip.compress(data[half:]))
        for scanned in (scan_plain_file(str(plain)), scan_gzip_file(str(packed))):
            assert (scanned.lines, scanned.newlines, scanned.size) == (
                whole.lines,
                whole.newlines,
                whole.size,
            )
            assert (scanned.plain, scanned.nondigits) == (whole.plain, whole.nondigits)
            assert scanned.first_line == whole.first_line
            assert scanned.status_lines == whole.status_lines


def test_status_lines_carry_their_line_numbers() -> None:
    data = b"a b\nc NODATA\n\nd SKIPDATA e\nf"
    scan = scan_text(data)
    assert scan.lines == 5 and scan.newlines == 4 and scan.size == len(data) and scan.plain
    assert scan.nondigits == len(data) - data.count(b" ") - data.count(b"\n")
    assert scan.first_line == "a b"
    assert scan.status_lines == [(2, "c NODATA"), (4, "d SKIPDATA e")]
    # A range of a larger buffer: line numbers count from its first line.
    assert scan_text(b"zz\n" + data, 7, 3, len(data) + 3).status_lines == [
        (8, "c NODATA"),
        (10, "d SKIPDATA e"),
    ]


def test_control_bytes_and_a_stop_end_the_scan(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"a b\nc\x00d\n")
    assert not scan_plain_file(str(path)).plain
    path.write_bytes(b"a b\n" * 10)
    stop = threading.Event()
    stop.set()
    stopped = scan_plain_file(str(path), stop)
    assert not stopped.plain and stopped.why_not == "scan stopped"


def test_a_damaged_gzip_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "a.log.gz"
    path.write_bytes(gzip.compress(b"a b\n" * 1000)[:-20])
    with pytest.raises((EOFError, OSError)):
        scan_gzip_file(str(path))
