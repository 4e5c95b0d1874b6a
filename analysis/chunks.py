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
from pathlib import Path
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


def scan_text(data: bytes, first_line: int = 1) -> TextScan:
    """Scan newline-aligned `data` whose first line is line `first_line` of its file."""
    scan = TextScan()
    if not data:
        return scan
    scan.lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if data.translate(None, _ALLOWED):
        scan.plain, scan.why_not = False, "bytes other than printable ASCII"
        return scan
    scan.spaces = data.count(b" ")
    found: dict[int, int] = {}  # line start offset -> offset of a status word in it
    for word in _STATUS_WORDS:
        position = data.find(word)
        while position >= 0:
            found.setdefault(data.rfind(b"\n", 0, position) + 1, position)
            position = data.find(word, position + len(word))
    line, counted_to = first_line, 0
    for start in sorted(found):
        line += data.count(b"\n", counted_to, start)
        counted_to = start
        end = data.find(b"\n", start)
        text = data[start : end if end >= 0 else len(data)]
        scan.status_lines.append((line, text.decode("ascii")))
    return scan


def _aligned_blocks(stream: Iterator[bytes]) -> Iterator[bytes]:
    """Regroup a stream of byte blocks into blocks that end at a newline (the last may not)."""
    carry = b""
    for block in stream:
        if not block:
            continue
        data = carry + block
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            carry = data
            continue
        carry = data[cut:]
        yield data[:cut]
    if carry:
        yield carry


def _file_blocks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as stream:
        while block := stream.read(BLOCK_BYTES):
            yield block


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


def scan_plain_file(path: str) -> TextScan:
    """Scan a whole uncompressed file."""
    total = TextScan()
    line = 1
    for block in _aligned_blocks(_file_blocks(path)):
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
            for block in _aligned_blocks(_gzip_blocks(self.path)):
                pending.append(block)
                size += len(block)
                if size >= CHUNK_BYTES:
                    line = self._emit(b"".join(pending), index, line)
                    index, pending, size = index + 1, [], 0
                if self._stop.is_set():
                    return
            if pending or index == 0:
                self._emit(b"".join(pending), index, line)
            self._put(None)
        except BaseException as error:  # handed to the consumer, which decides
            self._put(error)

    def _emit(self, data: bytes, index: int, line: int) -> int:
        scan = scan_text(data, line)
        target = os.path.join(self.directory, f"chunk-{index:05d}.log")
        Path(target).write_bytes(data)
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
