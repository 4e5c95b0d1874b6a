"""Peek at a flow log file before loading it: Parquet, CloudWatch Logs JSON or text, gzip or
not, its header line and its first lines."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from analysis.formats import FlowFormat, looks_like_header

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
_PEEK_BYTES = 64 * 1024
# How many first lines the loader may check against a format (see first_lines).
FIRST_LINES = 20
# Keys of a CloudWatch Logs subscription payload, one of which shows in its first bytes.
_CLOUDWATCH_KEYS = (b'"logEvents"', b'"messageType"')


@dataclass(frozen=True)
class FileSniff:
    """What the first bytes of a file say.

    `compression` is "gzip" or "none" for text, "parquet" for an Apache Parquet file (which
    compresses inside); `header_line` is the first line when it names flow log fields;
    `cloudwatch` is set for CloudWatch Logs subscription payloads (JSON with `logEvents`);
    `first_lines` are the first non-empty lines of text after the header (at most
    FIRST_LINES, from the first 64 KiB).
    """

    compression: str
    header_line: str | None
    cloudwatch: bool = False
    first_lines: tuple[str, ...] = field(default=())

    @property
    def is_parquet(self) -> bool:
        return self.compression == "parquet"

    @property
    def header_format(self) -> FlowFormat | None:
        return None if self.header_line is None else FlowFormat.from_header(self.header_line)


def sniff_file(path: str | Path) -> FileSniff:
    """Detect Parquet and gzip from the magic bytes, CloudWatch Logs JSON from its keys, and a
    header line of field names."""
    with open(path, "rb") as raw:
        magic = raw.read(4)
    if magic == PARQUET_MAGIC:
        return FileSniff("parquet", None)
    compression = "gzip" if magic[:2] == GZIP_MAGIC else "none"
    head = b""
    try:
        if compression == "gzip":
            with gzip.open(path, "rb") as stream:
                head = stream.read(_PEEK_BYTES)
        else:
            with open(path, "rb") as stream:
                head = stream.read(_PEEK_BYTES)
    except (OSError, EOFError, zlib.error):
        # A damaged gzip stream is reported when the file is read; no header can be seen.
        head = b""
    if head.lstrip()[:1] == b"{" and any(key in head for key in _CLOUDWATCH_KEYS):
        return FileSniff(compression, None, cloudwatch=True)
    lines = head.split(b"\n")
    if len(head) == _PEEK_BYTES and len(lines) > 1:
        lines.pop()  # cut at the peek's end
    texts = [line.decode("latin-1").strip(" \t\r") for line in lines]
    header = texts[0] if texts and looks_like_header(texts[0]) else None
    rest = texts[1:] if header is not None else texts
    first = tuple(text for text in rest if text)[:FIRST_LINES]
    return FileSniff(compression, header, first_lines=first)
