"""A local cache of loaded flows as DuckDB database files: a second analysis neither fetches,
parses nor copies again — it opens the stored table read-only and queries it in place."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.engine import SNAPSHOT_FLOWS, FlowEngine
from analysis.loadstats import LoadStats

MANIFEST = "manifest.json"
STATS = "stats.json"
_LAST_USED = "last-used"
# In an entry being built: the file its writer holds locked (flock) until it publishes or
# discards. The kernel drops the lock when the writer dies, however it dies (SIGKILL too), so
# eviction can tell a dead writer's leftovers from a live one's at once.
_WRITER = ".writer"
_KEY_LENGTH = 40
# Entries of another layout (the Parquet snapshots of earlier versions) are misses.
FORMAT = "duckdb-1"


def cache_key(**parts: Any) -> str:
    """A stable key for what was loaded, e.g. cache_key(source="s3", location=..., window=...,
    format=..., target=...). The same parts (in any order) always give the same key."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:_KEY_LENGTH]


@dataclass(frozen=True)
class CachedFlows:
    """One cache entry: a snapshot of `flows` and the LoadStats of the load that made it."""

    key: str
    directory: str
    stats: LoadStats
    manifest: dict[str, Any]

    @property
    def records(self) -> int:
        return int(self.manifest.get("records", 0))

    def attach_to(self, engine: FlowEngine) -> int:
        """Append the cached rows to `engine`'s flows table; returns how many."""
        return engine.attach_snapshot(self.directory)

    def open_engine(self, **options: Any) -> FlowEngine:
        """A read-only FlowEngine(**options) over the cached table, queried in place."""
        return FlowEngine.load_snapshot(self.directory, **options)


class FlowCache:
    """Snapshots under `root/<key>/`, evicted least recently used first past `max_bytes`, and
    after `max_age_seconds` whatever their use.

    Writers build an entry in a private temporary directory and rename it into place, so
    readers never see half an entry and two writers of one key cannot mix their files (the
    first rename wins; the other copy is dropped). Eviction renames an entry away before
    deleting it. A reader that loses its entry to eviction midway gets an error from the
    engine and should treat it as a miss.

    Entries being built count against `max_bytes`; those of writers that died (their lock
    released) are removed by the next eviction, and any left without a lock after
    `stale_seconds`.
    """

    def __init__(
        self,
        root: str,
        *,
        max_bytes: int,
        max_age_seconds: int,
        stale_seconds: int = 3600,
    ) -> None:
        if max_bytes <= 0 or max_age_seconds <= 0 or stale_seconds <= 0:
            raise ValueError("max_bytes, max_age_seconds and stale_seconds must be positive")
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.max_age_seconds = max_age_seconds
        # An entry still being built this long after it was started belongs to a writer that
        # died: eviction removes it. Longer than any load may take.
        self.stale_seconds = stale_seconds
        self.root.mkdir(parents=True, exist_ok=True)

    def _entry(self, key: str) -> Path:
        if not key or not all(char in "0123456789abcdef" for char in key):
            raise ValueError(f"not a cache key: {key!r} (use cache_key())")
        return self.root / key

    def get(self, key: str) -> CachedFlows | None:
        """The entry for `key`, or None when absent, expired or unreadable."""
        entry = self._entry(key)
        try:
            manifest = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
            stats = LoadStats.from_dict(json.loads((entry / STATS).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if manifest.get("format") != FORMAT:
            self._remove(entry)
            return None
        if time.time() - float(manifest.get("created", 0)) > self.max_age_seconds:
            self._remove(entry)
            return None
        with contextlib.suppress(OSError):
            (entry / _LAST_USED).touch()
        return CachedFlows(key, str(entry), stats, manifest)

    def start(self, key: str) -> PendingFlows:
        """A private directory in the cache to build the entry for `key` in: load straight
        into its `database` (a FlowEngine over that file), then `publish` it. Raises OSError
        when the cache cannot be written."""
        self._entry(key)  # refuse a bad key before making anything
        building = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.root))
        lock = None
        with contextlib.suppress(OSError):  # no flock here: the age rule sweeps it if need be
            lock = _lock_writer(building / _WRITER)
        return PendingFlows(self, key, building, lock)

    def put(self, key: str, engine: FlowEngine, stats: LoadStats) -> CachedFlows:
        """Store a copy of `engine`'s flows and `stats` under `key`, then evict to stay within
        bounds. (An engine loaded into a `start`ed entry's database needs no copy.)"""
        pending = self.start(key)
        try:
            pending.engine_copy(engine)
            stored = pending.publish(stats, records=engine.record_count(), columns=engine.columns())
        finally:
            pending.discard()
        self.evict(keep=key)
        return self.get(key) or stored  # None: evicted at once, bigger than the whole cache

    def entries(self) -> list[tuple[str, float, int]]:
        """(key, last used, bytes) of every complete entry."""
        found = []
        for entry in self.root.iterdir():
            if entry.name.startswith(".") or not (entry / MANIFEST).exists():
                continue
            try:
                used = (entry / _LAST_USED).stat().st_mtime
            except OSError:
                used = 0.0
            found.append((entry.name, used, _size_of(entry)))
        return found

    def total_bytes(self) -> int:
        return sum(size for _, _, size in self.entries())

    def evict(self, *, keep: str | None = None) -> list[str]:
        """Drop what dead writers left, expired entries, then least recently used ones past
        max_bytes (counting the entries being built). `keep` (the entry just written) goes
        last of all. Returns the keys dropped."""
        dropped = []
        now = time.time()
        building = self._sweep_building(now)
        entries = []
        for key, used, size in self.entries():
            try:
                manifest = json.loads((self.root / key / MANIFEST).read_text(encoding="utf-8"))
                created = float(manifest.get("created", 0))
            except (OSError, ValueError):
                created = 0.0
            if now - created > self.max_age_seconds:
                self._remove(self.root / key)
                dropped.append(key)
            else:
                entries.append((key == keep, used, key, size))
        total = building + sum(size for *_, size in entries)
        for _, _, key, size in sorted(entries):
            if total <= self.max_bytes:
                break
            self._remove(self.root / key)
            dropped.append(key)
            total -= size
        return dropped

    def _sweep_building(self, now: float) -> int:
        """Remove the leftovers of writers that died (and of removals cut short); the bytes
        of the entries still being built."""
        building = 0
        for folder in self.root.glob(".*"):
            if folder.name.startswith(".trash-"):
                shutil.rmtree(folder, ignore_errors=True)  # renamed away: nobody reads it
                continue
            try:
                lock = _lock_writer(folder / _WRITER, create=False)
            except OSError:
                # No lock file (a writer publishing right now removes it first; one of an
                # older version never made it) or no flock on this file system: old enough,
                # it is a leftover.
                with contextlib.suppress(OSError):
                    if now - folder.stat().st_mtime > self.stale_seconds:
                        shutil.rmtree(folder, ignore_errors=True)
                        continue
                    building += _size_of(folder)
                continue
            if lock is None:  # its writer is alive
                with contextlib.suppress(OSError):
                    building += _size_of(folder)
                continue
            try:
                shutil.rmtree(folder, ignore_errors=True)  # its writer died
            finally:
                os.close(lock)
        return building

    def remove(self, key: str) -> None:
        """Drop the entry for `key` (one found damaged, say); readers holding it open keep it."""
        self._remove(self._entry(key))

    def _remove(self, entry: Path) -> None:
        trash = self.root / f".trash-{uuid.uuid4().hex}"
        try:
            os.rename(entry, trash)
        except OSError:
            return
        shutil.rmtree(trash, ignore_errors=True)


@dataclass
class PendingFlows:
    """An entry being built in a private directory of the cache; readers cannot see it until
    `publish` renames it into place."""

    cache: FlowCache
    key: str
    directory: Path
    # The open, flock-ed writer file (see _WRITER); None once published or discarded.
    lock: int | None = field(default=None, repr=False, compare=False)

    @property
    def database(self) -> str:
        """The DuckDB file to load into (FlowEngine(pending.database, ...))."""
        return str(self.directory / SNAPSHOT_FLOWS)

    def engine_copy(self, engine: FlowEngine) -> None:
        """Copy the flows of an engine held elsewhere (in memory) into this entry."""
        engine.save_snapshot(str(self.directory))

    def publish(self, stats: LoadStats, *, records: int, columns: list[str]) -> CachedFlows:
        """Make the entry readable under its key, with its stats and manifest; the database
        file must be complete and closed. If another writer published the key first, its
        entry stands and this one is dropped. Does not evict (the caller opens the entry
        first, then evicts)."""
        entry = self.cache._entry(self.key)
        manifest = {
            "key": self.key,
            "format": FORMAT,
            "created": time.time(),
            "records": records,
            "columns": columns,
            "bytes": _size_of(self.directory),
        }
        (self.directory / STATS).write_text(json.dumps(stats.to_dict()), encoding="utf-8")
        (self.directory / _LAST_USED).touch()
        # The manifest goes last: an entry without one is never read.
        (self.directory / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
        # The lock file stays out of the published entry (the lock itself is held until the
        # rename; without the file, eviction leaves a young folder alone).
        (self.directory / _WRITER).unlink(missing_ok=True)
        try:
            os.rename(self.directory, entry)
        except OSError:
            if not (entry / MANIFEST).exists():
                raise
            # Another writer stored this key first; its entry is as good as ours.
        finally:
            self._release()
        found = self.cache.get(self.key)
        return found or CachedFlows(self.key, str(entry), stats, manifest)

    def discard(self) -> None:
        """Remove what is left of an entry that was not published (nothing if it was)."""
        if self.directory.exists():
            shutil.rmtree(self.directory, ignore_errors=True)
        self._release()

    def _release(self) -> None:
        if self.lock is not None:
            os.close(self.lock)  # closing the file releases its flock
            self.lock = None


def _lock_writer(path: Path, *, create: bool = True) -> int | None:
    """An open descriptor of `path` holding its exclusive flock, or None when another process
    (or descriptor) holds it. Raises FileNotFoundError when `path` is missing and not `create`.
    """
    flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    fd = os.open(path, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _size_of(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
