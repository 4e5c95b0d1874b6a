"""Peek at a flow log file before loading it: compression (by magic bytes) and header line."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

from analysis.formats import FlowFormat, looks_like_header

GZIP_MAGIC = b"\x1f\x8b"
_PEEK_BYTES = 64 * 1024


@dataclass(frozen=True)
class FileSniff:
    """What the first bytes of a file say: `compression` is "gzip" or "none"."""

    compression: str
    header_line: str | None

    @property
    def header_format(self) -> FlowFormat | None:
        return None if self.header_line is None else FlowFormat.from_header(self.header_line)


def sniff_file(path: str | Path) -> FileSniff:
    """Detect gzip from the magic bytes and a header line of field names on the first line."""
    with open(path, "rb") as raw:
        compression = "gzip" if raw.read(2) == GZIP_MAGIC else "none"
    first = b""
    try:
        if compression == "gzip":
            with gzip.open(path, "rb") as stream:
                first = stream.readline(_PEEK_BYTES)
        else:
            with open(path, "rb") as stream:
                first = stream.readline(_PEEK_BYTES)
    except (OSError, EOFError, zlib.error):
        # A damaged gzip stream is reported when the file is read; no header can be seen.
        first = b""
    text = first.decode("latin-1").strip(" \t\r\n")
    return FileSniff(compression, text if looks_like_header(text) else None)
