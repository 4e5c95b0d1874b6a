"""Entries being built in the flow cache: a writer killed with SIGKILL leaves a folder that the
next eviction removes at once (its lock died with it), while a live writer's folder stays and
counts against the size limit. Writers are real processes."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from analysis.cache import FlowCache, cache_key
from analysis.engine import FlowEngine
from analysis.loadstats import LoadStats

HOUR = 3600
WRITER = """
import sys, time
from analysis.cache import FlowCache
cache = FlowCache(sys.argv[1], max_bytes=10**12, max_age_seconds=3600, stale_seconds=36000)
pending = cache.start(sys.argv[2])
(pending.directory / "partial.bin").write_bytes(b"x" * int(sys.argv[3]))
print(pending.directory, flush=True)
time.sleep(600)
"""


class Writer:
    """A process building a cache entry of `size` bytes, holding it until killed."""

    def __init__(self, root: Path, key: str, size: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(root), key, str(size)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert self.process.stdout is not None
        self.directory = Path(self.process.stdout.readline().strip())
        assert self.directory.is_dir(), "the writer did not start its entry"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def writers() -> Iterator[list[Writer]]:
    started: list[Writer] = []
    yield started
    for writer in started:
        if writer.process.poll() is None:
            writer.kill()


def _publish(cache: FlowCache, key: str) -> None:
    pending = cache.start(key)
    with FlowEngine(pending.database) as engine:
        count, columns = engine.record_count(), engine.columns()
    pending.publish(LoadStats(), records=count, columns=columns)
    pending.discard()


def test_a_writer_killed_with_sigkill_leaves_nothing_after_the_next_eviction(
    tmp_path: Path, writers: list[Writer]
) -> None:
    cache = FlowCache(str(tmp_path), max_bytes=10**9, max_age_seconds=HOUR, stale_seconds=HOUR)
    dead = Writer(tmp_path, cache_key(n=1), 1000)
    live = Writer(tmp_path, cache_key(n=2), 1000)
    writers += [dead, live]
    dead.kill()
    cache.evict()  # long before stale_seconds
    assert not dead.directory.exists()
    assert live.directory.exists()  # its writer still holds it
    live.kill()
    cache.evict()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_live_writers_folder_counts_against_the_size_limit(
    tmp_path: Path, writers: list[Writer]
) -> None:
    cache = FlowCache(str(tmp_path), max_bytes=2_000_000, max_age_seconds=HOUR)
    key = cache_key(n="published")
    _publish(cache, key)
    cache.evict()
    assert cache.get(key) is not None  # fits on its own
    writer = Writer(tmp_path, cache_key(n="building"), 2_000_000)
    writers.append(writer)
    cache.evict()
    assert cache.get(key) is None  # room for the load in progress
    assert writer.directory.exists()


def test_a_published_entry_holds_no_writer_lock_file(tmp_path: Path) -> None:
    cache = FlowCache(str(tmp_path), max_bytes=10**9, max_age_seconds=HOUR)
    key = cache_key(n=3)
    _publish(cache, key)
    assert not (tmp_path / key / ".writer").exists()
    assert [p.name for p in tmp_path.iterdir()] == [key]
    cache.evict()
    assert cache.get(key) is not None
