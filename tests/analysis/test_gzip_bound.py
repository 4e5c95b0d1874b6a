"""A gzip file that inflates past `max_gzip_ratio` times its size is not loaded: the reader
stops there (fast path and exact parser alike) and the file is recorded as unreadable with the
reason; ordinary gzip flow logs load whole."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from analysis.chunks import GzipTooLarge, scan_gzip_file
from analysis.demo import generate
from analysis.engine import FlowEngine

LINE = b"2 123456789012 eni-1 192.0.2.1 10.0.0.5 40000 22 6 3 180 1700000000 1700000010 ACCEPT OK\n"


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 27 MB of one valid record repeated, gzipped to well under 1% of that."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.log.gz"
    path.write_bytes(gzip.compress(LINE * 300_000, compresslevel=9))
    assert path.stat().st_size * 100 < len(LINE) * 300_000
    return path


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "exact"])
def test_a_gzip_bomb_is_not_loaded_and_says_why(bomb: Path, fast_path: bool) -> None:
    with FlowEngine(max_gzip_ratio=50) as engine:
        engine.fast_path = fast_path
        stats = engine.load_files([str(bomb)])
        assert engine.record_count() == 0
    (file_stats,) = stats.files
    assert file_stats.error is not None
    assert "inflates to more than" in file_stats.error
    assert "50 times its compressed size" in file_stats.error
    assert str(bomb.parent) not in file_stats.error


def test_the_scan_stops_at_the_bound(bomb: Path) -> None:
    limit = 50 * bomb.stat().st_size
    with pytest.raises(GzipTooLarge) as raised:
        scan_gzip_file(str(bomb), max_bytes=limit)
    assert raised.value.limit == limit


def test_ordinary_gzip_flow_logs_load_whole_under_the_bound(tmp_path: Path) -> None:
    plain = tmp_path / "flows.log"
    generate(str(plain), lines=50_000, seed=9)
    packed = tmp_path / "flows.log.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=9))
    with FlowEngine() as reference:
        reference.load_files([str(plain)])
        expected = reference.record_count()
    for fast_path in (True, False):
        with FlowEngine(max_gzip_ratio=50) as engine:
            engine.fast_path = fast_path
            stats = engine.load_files([str(packed)])
            assert stats.files[0].error is None
            assert engine.record_count() == expected


def test_without_a_bound_a_highly_compressed_file_loads(bomb: Path) -> None:
    with FlowEngine() as engine:
        engine.load_files([str(bomb)])
        assert engine.record_count() == 300_000


def test_pieces_are_bounded_and_every_line_is_scanned(bomb: Path, tmp_path: Path) -> None:
    """Inflating in pieces of at most BLOCK_BYTES loses nothing, across members too."""
    assert scan_gzip_file(str(bomb)).lines == 300_000
    two = tmp_path / "two-members.log.gz"
    two.write_bytes(bomb.read_bytes() * 2)
    assert scan_gzip_file(str(two)).lines == 600_000
