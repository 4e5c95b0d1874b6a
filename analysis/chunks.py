"""Flow log text in newline-aligned chunks, each checked byte by byte for the fast loader.

The fast loader hands whole files (or, for gzip, decompressed chunk files) to DuckDB's
parallel CSV reader. That reader skips empty lines and takes control bytes into fields, so
each chunk is first scanned here at C speed (bytes methods): its lines are counted (the loader
compares that with the rows read, which finds skipped blank lines) and only plain printable
ASCII may take the fast path. Anything else sends the whole file to the exact parser.
"""

from __future__ import annotations

import os
import queue
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

_inflate_module: ModuleType
try:  # ISA-L inflates about three times faster than zlib; zlib is the fallback.
    from isal import isal_zlib as _inflate_module
except ImportError:  # pragma: no cover - isal is a declared dependency
    _inflate_module = zlib


def _new_inflater() -> Any:
    """A decompressor for one gzip member."""
    return _inflate_module.decompressobj(wbits=31)


BLOCK_BYTES = 16 * 1024 * 1024
CHUNK_BYTES = 64 * 1024 * 1024
# Bytes a fast-path line may hold: printable ASCII and the space separator.
_ALLOWED = bytes(range(0x20, 0x7F)) + b"\n"
_STATUS_WORDS = (b"NODATA", b"SKIPDATA")


@dataclass
class TextScan:
    """What one newline-aligned piece of text holds: its line count and whether it is plain."""

    lines: int = 0
    spaces: int = 0
    plain: bool = True
    why_not: str = ""
    # (1-based line number in the file, text) of the lines mentioning NODATA or SKIPDATA,
    # in file order: few in practice, and the loader classifies them itself.
    status_lines: list[tuple[int, str]] = field(default_factory=list)

    def merge(self, other: TextScan) -> None:
        self.lines += other.lines
        self.spaces += other.spaces
        if self.plain and not other.plain:
            self.plain, self.why_not = False, other.why_not
        self.status_lines.extend(other.status_lines)


def scan_text(data: bytes | bytearray, first_line: int = 1, end: int | None = None) -> TextScan:
    """Scan newline-aligned `data[:end]` whose first line is line `first_line` of its file.

    Bytes past `end` (the start of a line the next piece completes) are checked for
    printable ASCII too, which is harmless: the next piece checks them again. Counting and
    searching take ranges, so no piece of a large buffer is copied."""
    end = len(data) if end is None else end
    scan = TextScan()
    if end == 0:
        return scan
    scan.lines = data.count(b"\n", 0, end) + (0 if data[end - 1] == 0x0A else 1)
    if data.translate(None, _ALLOWED):
        scan.plain, scan.why_not = False, "bytes other than printable ASCII"
        return scan
    scan.spaces = data.count(b" ", 0, end)
    found: dict[int, int] = {}  # line start offset -> offset of a status word in it
    for word in _STATUS_WORDS:
        position = data.find(word, 0, end)
        while position >= 0:
            found.setdefault(data.rfind(b"\n", 0, position) + 1, position)
            position = data.find(word, position + len(word), end)
    line, counted_to = first_line, 0
    for start in sorted(found):
        line += data.count(b"\n", counted_to, start)
        counted_to = start
        stop = data.find(b"\n", start, end)
        text = data[start : stop if stop >= 0 else end]
        scan.status_lines.append((line, text.decode("ascii")))
    return scan


def _gzip_blocks(path: str) -> Iterator[bytes]:
    """Decompress every member of a gzip file (zlib releases the GIL while inflating)."""
    with open(path, "rb") as stream:
        inflater = _new_inflater()
        started = False
        while raw := stream.read(BLOCK_BYTES // 4):
            while raw:
                started = True
                yield inflater.decompress(raw)
                raw = b""
                if inflater.eof:
                    raw, started = inflater.unused_data, False
                    inflater = _new_inflater()
        if started and not inflater.eof:
            raise EOFError("compressed file ended before the end-of-stream marker was reached")


def scan_plain_file(path: str, stop: threading.Event | None = None) -> TextScan:
    """Scan a whole uncompressed file, block by block (each block read into one buffer and
    completed to the end of its last line). Stops early, not plain, once `stop` is set."""
    total = TextScan()
    line = 1
    with open(path, "rb") as stream:
        while True:
            if stop is not None and stop.is_set():
                total.plain, total.why_not = False, "scan stopped"
                break
            block = bytearray(BLOCK_BYTES)
            size = stream.readinto(block)
            if not size:
                break
            del block[size:]
            block += stream.readline()
            part = scan_text(block, line)
            total.merge(part)
            if not total.plain:
                break
            line += part.lines
    return total


@dataclass
class TextChunk:
    """One decompressed, newline-aligned chunk file and what its scan found."""

    path: str
    first_line: int
    scan: TextScan


class GzipChunker:
    """Decompress a gzip file into chunk files on a background thread, a few ahead of use.

    Iterating yields TextChunk objects in file order; the consumer deletes each chunk file when
    done with it. An error of the producer (damaged gzip) is raised from the iteration.
    """

    def __init__(self, path: str, directory: str, *, ahead: int = 2) -> None:
        self.path = path
        self.directory = directory
        self._queue: queue.Queue[TextChunk | BaseException | None] = queue.Queue(ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="gzip-chunker", daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        try:
            line = 1
            index = 0
            pending: list[bytes] = []
            size = 0
            for piece in _gzip_blocks(self.path):
                pending.append(piece)
                size += len(piece)
                if size >= CHUNK_BYTES:
                    data = b"".join(pending)
                    cut = data.rfind(b"\n") + 1
                    if cut == 0:  # one line so far: keep reading
                        pending = [data]
                        continue
                    line = self._emit(data, cut, index, line)
                    index, pending = index + 1, [data[cut:]]
                    size = len(pending[0])
                if self._stop.is_set():
                    return
            data = b"".join(pending)
            if data or index == 0:
                self._emit(data, len(data), index, line)
            self._put(None)
        except BaseException as error:  # handed to the consumer, which decides
            self._put(error)

    def _emit(self, data: bytes, end: int, index: int, line: int) -> int:
        """Write `data[:end]` (whole lines) as chunk `index`, its first line being `line`."""
        scan = scan_text(data, line, end)
        target = os.path.join(self.directory, f"chunk-{index:05d}.log")
        with open(target, "wb") as chunk:
            chunk.write(memoryview(data)[:end])
        self._put(TextChunk(target, line, scan))
        return line + scan.lines

    def _put(self, item: TextChunk | BaseException | None) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[TextChunk]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
