"""FlowCache: snapshots of loaded flows, found by key, evicted by size and age."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from analysis.cache import FlowCache, cache_key
from analysis.engine import FlowEngine

WriteLog = Callable[..., str]  # the write_log fixture of conftest.py
T0 = 1_700_000_000


def line(src: str, dport: int = 22) -> str:
    return f"2 1 eni-1 {src} 10.0.0.5 40000 {dport} 6 3 180 {T0} {T0 + 10} ACCEPT OK"


def test_cache_keys_are_stable_and_distinct() -> None:
    key = cache_key(source="s3", location="bucket/prefix", window=("a", "b"), target=None)
    assert key == cache_key(target=None, window=("a", "b"), location="bucket/prefix", source="s3")
    assert key != cache_key(source="s3", location="bucket/other", window=("a", "b"), target=None)
    assert len(key) == 40 and int(key, 16) >= 0


def test_a_cached_load_comes_back_without_parsing(tmp_path: Path, write_log: WriteLog) -> None:
    lines = [line("192.0.2.1"), line("2001:db8::ffff:1"), line("ffff:ffff::1", 443), "junk"]
    path = write_log(lines, name="a.log")
    cache = FlowCache(str(tmp_path / "cache"), max_bytes=10**8, max_age_seconds=3600)
    key = cache_key(source="file", location=path)
    assert cache.get(key) is None
    with FlowEngine() as engine:
        stats = engine.load_files([path])
        before = engine.connection.execute("SELECT * FROM flows ORDER BY ALL").fetchall()
        expected = engine.run("ssh-inbound").rows
        cache.put(key, engine, stats)
    os.remove(path)  # the source is gone: only the cache can answer now
    cached = cache.get(key)
    assert cached is not None
    assert cached.stats == stats and cached.records == 3
    with cached.open_engine() as engine:
        assert engine.connection.execute("SELECT * FROM flows ORDER BY ALL").fetchall() == before
        assert engine.run("ssh-inbound").rows == expected
        # The cached table is queried in place (read-only), 128-bit addresses intact.
        assert engine.read_only and engine.database == str(Path(cached.directory) / "flows.duckdb")
        assert engine.connection.execute("SELECT max(src_ip) FROM flows").fetchone() == (
            0xFFFF_FFFF << 96 | 1,
        )
    with FlowEngine() as engine:
        engine.load_files([write_log([line("198.51.100.1")])])
        assert cached.attach_to(engine) == 3
        assert engine.record_count() == 4


def test_entries_expire(tmp_path: Path, write_log: WriteLog) -> None:
    cache = FlowCache(str(tmp_path), max_bytes=10**8, max_age_seconds=60)
    with FlowEngine() as engine:
        stats = engine.load_files([write_log([line("192.0.2.1")])])
        cache.put("ab12", engine, stats)
    assert cache.get("ab12") is not None
    manifest = tmp_path / "ab12" / "manifest.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps(data | {"created": data["created"] - 61}))
    assert cache.get("ab12") is None
    assert not (tmp_path / "ab12").exists()


def test_least_recently_used_entries_go_first(tmp_path: Path, write_log: WriteLog) -> None:
    cache = FlowCache(str(tmp_path), max_bytes=10**8, max_age_seconds=3600)
    with FlowEngine() as engine:
        stats = engine.load_files([write_log([line("192.0.2.1")] * 50)])
        for key in ("aa", "bb", "cc"):
            cache.put(key, engine, stats)
            time.sleep(0.02)
    size = cache.total_bytes() // 3
    assert cache.get("aa") is not None  # now aa is the most recently used
    cache.max_bytes = 2 * size + size // 2
    assert cache.evict() == ["bb"]
    assert {key for key, _, _ in cache.entries()} == {"aa", "cc"}


def test_concurrent_writers_of_one_key_leave_one_whole_entry(
    tmp_path: Path, write_log: WriteLog
) -> None:
    cache = FlowCache(str(tmp_path), max_bytes=10**8, max_age_seconds=3600)
    path = write_log([line("192.0.2.1")] * 20)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with FlowEngine() as engine:
                cache.put("ee", engine, engine.load_files([path]))
        except BaseException as error:  # collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [key for key, _, _ in cache.entries()] == ["ee"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    cached = cache.get("ee")
    assert cached is not None and cached.records == 20


def test_it_refuses_keys_that_are_not_cache_keys(tmp_path: Path) -> None:
    cache = FlowCache(str(tmp_path), max_bytes=1, max_age_seconds=1)
    with pytest.raises(ValueError, match="not a cache key"):
        cache.get("../etc")


def test_analyses_needing_temp_tables_run_on_a_read_only_cached_engine(
    tmp_path: Path, write_log: WriteLog
) -> None:
    cache = FlowCache(str(tmp_path), max_bytes=10**8, max_age_seconds=3600)
    params = {
        "lookup_table": [(6, 22, "ssh")],
        "cidr_tables": [{"name": "docs", "entries": [["192.0.2.0/24", {"label": "TEST-NET-1"}]]}],
    }
    with FlowEngine() as engine:
        stats = engine.load_files([write_log([line("192.0.2.1"), line("198.51.100.7", 443)])])
        expected = {
            name: engine.run(name, params).rows
            for name in ("tag-mapping", "cidr-connections", "detections")
        }
        cache.put("ab", engine, stats)
    cached = cache.get("ab")
    assert cached is not None
    with cached.open_engine() as engine:
        for name, rows in expected.items():
            assert engine.run(name, params).rows == rows
        with pytest.raises(Exception, match="read-only"):
            engine.connection.execute("DELETE FROM flows")


def test_an_entry_in_an_older_layout_is_a_miss_and_is_dropped(
    tmp_path: Path, write_log: WriteLog
) -> None:
    cache = FlowCache(str(tmp_path), max_bytes=10**8, max_age_seconds=3600)
    with FlowEngine() as engine:
        cache.put("cd", engine, engine.load_files([write_log([line("192.0.2.1")])]))
    manifest = tmp_path / "cd" / "manifest.json"
    data = json.loads(manifest.read_text())
    del data["format"]  # as the Parquet snapshots of earlier versions wrote it
    manifest.write_text(json.dumps(data))
    assert cache.get("cd") is None
    assert not (tmp_path / "cd").exists()


def test_a_load_straight_into_a_new_entry_is_published_whole(
    tmp_path: Path, write_log: WriteLog
) -> None:
    lines = [line("192.0.2.1"), line("2001:db8::1", 443), "junk"]
    path = write_log(lines)
    cache = FlowCache(str(tmp_path / "cache"), max_bytes=10**8, max_age_seconds=3600)
    with FlowEngine() as memory:  # what the same load gives in memory
        expected_stats = memory.load_files([path])
        expected = memory.connection.execute("SELECT * FROM flows ORDER BY ALL").fetchall()
    pending = cache.start("ab")
    engine = FlowEngine(pending.database)
    stats = engine.load_files([path])
    count, columns = engine.record_count(), engine.columns()
    engine.close()
    assert cache.get("ab") is None and cache.entries() == []  # unseen until published
    stored = pending.publish(stats, records=count, columns=columns)
    pending.discard()  # nothing left to discard: the directory is the entry now
    assert stats == expected_stats
    cached = cache.get("ab")
    assert cached is not None and cached.directory == stored.directory
    assert cached.records == 2 and cached.stats == stats
    assert cached.manifest["columns"] == columns
    with cached.open_engine() as opened:
        assert opened.connection.execute("SELECT * FROM flows ORDER BY ALL").fetchall() == expected
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["ab"]


def test_an_entry_that_is_never_published_leaves_nothing(tmp_path: Path) -> None:
    cache = FlowCache(str(tmp_path), max_bytes=10**8, max_age_seconds=3600)
    pending = cache.start("cd")
    with FlowEngine(pending.database) as engine:
        engine.connection.execute("SELECT count(*) FROM flows").fetchall()
    pending.discard()
    assert list(tmp_path.iterdir()) == [] and cache.get("cd") is None
    with pytest.raises(ValueError, match="not a cache key"):
        cache.start("../x")


def test_a_second_writer_of_a_key_keeps_the_first_entry(
    tmp_path: Path, write_log: WriteLog
) -> None:
    cache = FlowCache(str(tmp_path / "cache"), max_bytes=10**8, max_age_seconds=3600)
    first, second = cache.start("ef"), cache.start("ef")
    for pending, lines in ((first, [line("192.0.2.1")]), (second, [line("192.0.2.2")] * 2)):
        with FlowEngine(pending.database) as engine:
            stats = engine.load_files([write_log(lines)])
            count, columns = engine.record_count(), engine.columns()
        pending.publish(stats, records=count, columns=columns)
        pending.discard()
    cached = cache.get("ef")
    assert cached is not None and cached.records == 1
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["ef"]


def test_folders_without_a_writer_lock_are_swept_after_the_stale_time(tmp_path: Path) -> None:
    cache = FlowCache(str(tmp_path), max_bytes=10**8, max_age_seconds=3600, stale_seconds=60)
    young, old_one = tmp_path / ".aa-young", tmp_path / ".bb-old"  # no lock file: older layout
    young.mkdir()
    old_one.mkdir()
    old = time.time() - 120
    os.utime(old_one, (old, old))
    cache.evict()
    assert young.exists() and not old_one.exists()


def test_attaching_an_entry_with_more_fields_adds_them(tmp_path: Path, write_log: WriteLog) -> None:
    """Parts of one window can carry different fields: attaching one adds those the engine's
    table lacks (DuckDB lists the attached entry's columns next to the engine's own, which
    must not be taken for them)."""
    cache = FlowCache(str(tmp_path / "cache"), max_bytes=10**8, max_age_seconds=3600)
    header = (
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets "
        "bytes start end action log-status vpc-id"
    )
    with FlowEngine() as engine:
        stats = engine.load_files([write_log([header, line("192.0.2.1") + " vpc-1"])])
        cache.put("ab12", engine, stats)
    cached = cache.get("ab12")
    assert cached is not None
    with FlowEngine() as engine:
        engine.load_files([write_log([line("198.51.100.1")])])
        assert "vpc_id" not in engine.columns()
        assert cached.attach_to(engine) == 1
        assert "vpc_id" in engine.columns()
        rows = engine.connection.execute("SELECT vpc_id FROM flows ORDER BY vpc_id").fetchall()
        assert rows == [("vpc-1",), (None,)]
