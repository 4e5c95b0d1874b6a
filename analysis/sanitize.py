"""Rewrite a hostile flow log file into one DuckDB's line reader accepts, line for line.

DuckDB reads the files as latin-1, which still refuses the bytes 0x80-0x9F, and a line
longer than the reader's limit fails the whole file. Only when the direct read fails does the
loader fall back to this slower copy: those bytes become SUB (0x1A, which the parser reports as
binary data) and over-long lines are cut and marked, so every line keeps its number.

DuckDB's reader also ends a line at any CR, so a file holding CRs is always loaded from this
copy: only LF ends a line, a CR-LF pair is one line end (the CR is dropped), and a lone CR
becomes SUB, so its line is one malformed line ("binary or non-ASCII data").
"""

from __future__ import annotations

import gzip
from pathlib import Path

from analysis.chunks import GzipTooLarge
from analysis.lineparse import MAX_LINE_BYTES, TOO_LONG_MARK

_C1_TO_SUB = bytes(0x1A if 0x80 <= b <= 0x9F else b for b in range(256))
_KEEP_OF_LONG_LINE = 4096


def sanitized_copy(
    source: str | Path, target: str | Path, compression: str, *, max_bytes: int | None = None
) -> None:
    """Write a plain-text copy of `source` (gzip when `compression` is "gzip") to `target`;
    GzipTooLarge once a gzip source inflated past `max_bytes`."""
    opener = gzip.open if compression == "gzip" else open
    limit = MAX_LINE_BYTES // 2
    mark = TOO_LONG_MARK.encode("ascii")
    gzipped = compression == "gzip"
    with opener(source, "rb") as stream, open(target, "wb") as out:
        while True:
            chunk = stream.readline(limit)
            if not chunk:
                break
            if gzipped and max_bytes is not None and stream.tell() > max_bytes:
                raise GzipTooLarge(max_bytes)
            if not chunk.endswith(b"\n") and len(chunk) >= limit:
                # Drop the rest of the over-long line, keeping its start for the sample.
                while True:
                    rest = stream.readline(limit)
                    if not rest or rest.endswith(b"\n"):
                        break
                chunk = chunk[:_KEEP_OF_LONG_LINE] + mark + b"\n"
            if b"\r" in chunk:
                ending = b"\n" if chunk.endswith(b"\n") else b""
                body = chunk[: len(chunk) - len(ending)]
                if ending and body.endswith(b"\r"):
                    body = body[:-1]
                chunk = body.replace(b"\r", b"\x1a") + ending
            out.write(chunk.translate(_C1_TO_SUB))


def has_carriage_return(
    path: str | Path, compression: str, *, max_bytes: int | None = None
) -> bool:
    """Whether the (decompressed) file holds a CR byte anywhere. GzipTooLarge when a gzip file
    inflates past `max_bytes` first (it is read whole unless a CR comes sooner, so this
    bounds what the exact parser then inflates)."""
    opener = gzip.open if compression == "gzip" else open
    inflated = 0
    with opener(path, "rb") as stream:
        while block := stream.read(1 << 20):
            if b"\r" in block:
                return True
            inflated += len(block)
            if compression == "gzip" and max_bytes is not None and inflated > max_bytes:
                raise GzipTooLarge(max_bytes)
    return False
