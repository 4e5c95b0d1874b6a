"""Rewrite a hostile flow log file into one DuckDB's line reader accepts, line for line.

DuckDB reads the files as latin-1, which still refuses the bytes 0x80-0x9F, and a line
longer than the reader's limit fails the whole file. Only when the direct read fails does the
loader fall back to this slower copy: those bytes become SUB (0x1A, which the parser reports as
binary data) and over-long lines are cut and marked, so every line keeps its number.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from analysis.lineparse import MAX_LINE_BYTES, TOO_LONG_MARK

_C1_TO_SUB = bytes(0x1A if 0x80 <= b <= 0x9F else b for b in range(256))
_KEEP_OF_LONG_LINE = 4096


def sanitized_copy(source: str | Path, target: str | Path, compression: str) -> None:
    """Write a plain-text copy of `source` (gzip when `compression` is "gzip") to `target`."""
    opener = gzip.open if compression == "gzip" else open
    limit = MAX_LINE_BYTES // 2
    mark = TOO_LONG_MARK.encode("ascii")
    with opener(source, "rb") as stream, open(target, "wb") as out:
        while True:
            chunk = stream.readline(limit)
            if not chunk:
                break
            if not chunk.endswith(b"\n") and len(chunk) >= limit:
                # Drop the rest of the over-long line, keeping its start for the sample.
                while True:
                    rest = stream.readline(limit)
                    if not rest or rest.endswith(b"\n"):
                        break
                chunk = chunk[:_KEEP_OF_LONG_LINE] + mark + b"\n"
            out.write(chunk.translate(_C1_TO_SUB))
