"""Flow log text checked byte by byte for the fast loader, piece by piece.

The fast loader hands whole files (plain or gzip) to DuckDB's parallel CSV reader. That
reader skips empty lines and takes control bytes into fields, so while it reads, the same
text is scanned here at C speed (bytes methods, on another thread): its lines are counted (the
loader compares that with the rows read, which finds skipped blank lines) and only plain
printable ASCII may take the fast path. Anything else sends the whole file to the exact parser.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterator
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


class GzipTooLarge(ValueError):
    """A gzip file inflates past the bound its reader was given (a gzip bomb, most likely)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"it inflates to more than {limit:,} bytes")
        self.limit = limit


# Bytes a fast-path line may hold: printable ASCII and the space separator.
_ALLOWED = bytes(range(0x20, 0x7F)) + b"\n"
# What a field byte count leaves out: digits are counted apart from every other byte.
_DIGITS_AND_BLANKS = b"0123456789 \n"
_DIGITS_AND_SPACES = b"0123456789 "
_STATUS_WORDS = (b"NODATA", b"SKIPDATA")


@dataclass
class TextScan:
    """What one newline-aligned piece of text holds: its line count and whether it is plain.

    `size`, `newlines` and `nondigits` (bytes that are neither digits nor blanks)
    let the loader prove that DuckDB's typed read of integer fields saw plain digits only
    (see FlowEngine._check_integer_bytes)."""

    lines: int = 0
    plain: bool = True
    why_not: str = ""
    size: int = 0
    newlines: int = 0
    nondigits: int = 0
    # The text of line 1 of the file, when this scan covers it (a header, perhaps).
    first_line: str | None = None
    # (1-based line number in the file, text) of the lines mentioning NODATA or SKIPDATA,
    # in file order: few in practice, and the loader classifies them itself.
    status_lines: list[tuple[int, str]] = field(default_factory=list)

    def merge(self, other: TextScan) -> None:
        self.lines += other.lines
        self.size += other.size
        self.newlines += other.newlines
        self.nondigits += other.nondigits
        if self.first_line is None:
            self.first_line = other.first_line
        if self.plain and not other.plain:
            self.plain, self.why_not = False, other.why_not
        self.status_lines.extend(other.status_lines)


def nondigit_bytes(text: bytes | bytearray) -> int:
    """How many bytes of `text` are neither digits, spaces nor newlines."""
    return len(text.translate(None, _DIGITS_AND_BLANKS))


def scan_text(
    data: bytes | bytearray, first_line: int = 1, start: int = 0, end: int | None = None
) -> TextScan:
    """Scan the whole lines `data[start:end]`, the first being line `first_line` of its file.

    All of `data` is checked for printable ASCII, which is harmless: bytes outside the range
    belong to lines another call scans. Counting and searching take ranges, so no piece of a
    large buffer is copied."""
    end = len(data) if end is None else end
    scan = TextScan()
    if end <= start:
        return scan
    scan.size = end - start
    # One pass deletes digits and spaces; the newlines are counted in what is left (a small
    # fraction of the text), which is faster than counting them in the whole buffer.
    others = data.translate(None, _DIGITS_AND_SPACES)
    if others.translate(None, _ALLOWED):
        scan.plain, scan.why_not = False, "bytes other than printable ASCII"
        return scan
    newlines = others.count(b"\n")
    scan.nondigits = len(others) - newlines
    # Bytes outside the range are a line at either end at most: small copies.
    if start:
        newlines -= data.count(b"\n", 0, start)
        scan.nondigits -= nondigit_bytes(data[:start])
    if end < len(data):
        newlines -= data.count(b"\n", end)
        scan.nondigits -= nondigit_bytes(data[end:])
    scan.newlines = newlines
    scan.lines = newlines + (0 if data[end - 1] == 0x0A else 1)
    if first_line == 1:
        stop = data.find(b"\n", start, end)
        scan.first_line = bytes(data[start : stop if stop >= 0 else end]).decode("ascii")
    found: dict[int, int] = {}  # line start offset -> offset of a status word in it
    # Deleting digits and blanks leaves a word whole, so its absence from the (shorter)
    # remainder spares searching the whole text.
    for word in (word for word in _STATUS_WORDS if word in others):
        position = data.find(word, start, end)
        while position >= 0:
            found.setdefault(data.rfind(b"\n", start, position) + 1 or start, position)
            position = data.find(word, position + len(word), end)
    line, counted_to = first_line, start
    for begin in sorted(found):
        line += data.count(b"\n", counted_to, begin)
        counted_to = begin
        stop = data.find(b"\n", begin, end)
        text = data[begin : stop if stop >= 0 else end]
        scan.status_lines.append((line, text.decode("ascii")))
    return scan


def gzip_blocks(path: str, max_bytes: int | None = None) -> Iterator[bytes]:
    """Decompress every member of a gzip file (zlib releases the GIL while inflating), in
    pieces of at most BLOCK_BYTES; GzipTooLarge once more than `max_bytes` came out."""
    inflated = 0
    with open(path, "rb") as stream:
        inflater = _new_inflater()
        started = False
        while raw := stream.read(BLOCK_BYTES // 4):
            full = False  # a full piece may leave output pending with no input left
            while raw or full:
                started = True
                piece = inflater.decompress(raw, BLOCK_BYTES)
                full = len(piece) == BLOCK_BYTES
                inflated += len(piece)
                if max_bytes is not None and inflated > max_bytes:
                    raise GzipTooLarge(max_bytes)
                if piece:
                    yield piece
                if inflater.eof:
                    raw, started, full = inflater.unused_data, False, False
                    inflater = _new_inflater()
                else:
                    raw = inflater.unconsumed_tail
        if started and not inflater.eof:
            raise EOFError("compressed file ended before the end-of-stream marker was reached")


def scan_plain_file(
    path: str,
    stop: threading.Event | None = None,
    on_lines: Callable[[int], None] | None = None,
) -> TextScan:
    """Scan a whole uncompressed file, block by block (each block read into one buffer and
    completed to the end of its last line). Stops early, not plain, once `stop` is set;
    `on_lines` hears the lines scanned so far after each block."""
    total = TextScan()
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
            total.merge(scan_text(block, total.lines + 1))
            if not total.plain:
                break
            if on_lines is not None:
                on_lines(total.lines)
    return total


def scan_gzip_file(
    path: str,
    stop: threading.Event | None = None,
    on_lines: Callable[[int], None] | None = None,
    max_bytes: int | None = None,
) -> TextScan:
    """Scan the text of a gzip file (every member) as it inflates, piece by piece: the line
    a piece ends in the middle of is completed from the next piece and scanned on its own, so
    no piece is copied. Raises the inflater's error for a damaged file. `stop` and
    `on_lines` as for scan_plain_file."""
    total = TextScan()
    carry = b""

    def take(part: TextScan) -> bool:
        total.merge(part)
        return total.plain

    for piece in gzip_blocks(path, max_bytes):
        if stop is not None and stop.is_set():
            total.plain, total.why_not = False, "scan stopped"
            return total
        cut = piece.rfind(b"\n") + 1
        if cut == 0:
            carry += piece
            continue
        first = piece.find(b"\n") + 1
        if not take(scan_text(carry + piece[:first], total.lines + 1)):
            return total
        if not take(scan_text(piece, total.lines + 1, first, cut)):
            return total
        carry = piece[cut:]
        if on_lines is not None:
            on_lines(total.lines)
    if carry:
        take(scan_text(carry, total.lines + 1))
    return total
