"""Peek at a flow log file before loading it: Parquet or text, gzip or not, and header line."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

from analysis.formats import FlowFormat, looks_like_header

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
_PEEK_BYTES = 64 * 1024


@dataclass(frozen=True)
class FileSniff:
    """What the first bytes of a file say.

    `compression` is "gzip" or "none" for text, "parquet" for an Apache Parquet file (which
    compresses inside); `header_line` is the first line when it names flow log fields.
    """

    compression: str
    header_line: str | None

    @property
    def is_parquet(self) -> bool:
        return self.compression == "parquet"

    @property
    def header_format(self) -> FlowFormat | None:
        return None if self.header_line is None else FlowFormat.from_header(self.header_line)


def sniff_file(path: str | Path) -> FileSniff:
    """Detect Parquet and gzip from the magic bytes, and a header line of field names."""
    with open(path, "rb") as raw:
        magic = raw.read(4)
    if magic == PARQUET_MAGIC:
        return FileSniff("parquet", None)
    compression = "gzip" if magic[:2] == GZIP_MAGIC else "none"
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
