"""gzip flow logs read for the fast loader by pyarrow's CSV parser, inflated once.

DuckDB reads a gzip file on one thread, and the byte scan (analysis.chunks) inflates it a
second time. Here one thread inflates each piece once (ISA-L), scans it (the same
`scan_text` proof as for DuckDB's read) and parses it with pyarrow; DuckDB's insert takes the
parsed batches as an Arrow stream, on all its threads, while the next piece inflates. A
piece is parsed only after its scan found it plain, and a parse or inflate error ends the
stream with that error: the insert fails and rolls back, and the loader reads the file
line by line (or, past the inflate bound, raises GzipTooLarge).

Measured (README, Performance; `python -m bench.gzip_reader`): a 5M-line gzip file loads into
a cache entry with 12 to 17% fewer CPU seconds than through DuckDB's reader in every pair of
runs, and 0.71x its wall time at best; on a plain file the two readers tie, so plain files
keep DuckDB's parallel reader.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from analysis.chunks import TextScan, gzip_blocks, scan_text
from analysis.formats import FieldKind, FlowFormat

# Parsed pieces waiting for DuckDB: each is about chunks.BLOCK_BYTES of text.
QUEUE_PIECES = 3
# pyarrow parses each piece on the scan's thread: DuckDB's threads already use the cores.
PARSE_THREADS = False
_END = object()


def arrow_schema(fmt: FlowFormat) -> Any:
    """The parsed columns, named as fast_read_sql names them: integers int64, the rest text."""
    return pa.schema(
        [
            (f"t_{field.column}", pa.int64() if field.kind is FieldKind.INTEGER else pa.string())
            for field in fmt
        ]
    )


def gzip_lines(path: str, max_bytes: int | None = None) -> Iterator[bytes]:
    """The inflated text of a gzip file in pieces that each end at a line end (the last may
    not): a line cut between two inflated blocks goes whole into the next piece."""
    carry = b""
    for piece in gzip_blocks(path, max_bytes):
        cut = piece.rfind(b"\n") + 1
        if cut == 0:
            carry += piece
            continue
        yield carry + piece[:cut] if carry else piece[:cut]
        carry = piece[cut:]
    if carry:
        yield carry


class ParsedGzip:
    """One gzip file, inflated, scanned and parsed piece by piece on the thread that calls
    `scan` (the loader's scan thread); `reader()` is the Arrow stream DuckDB reads meanwhile.
    """

    def __init__(
        self, path: str, fmt: FlowFormat, *, skip_header: bool, stop: threading.Event
    ) -> None:
        self.path = path
        # Set by the loader when it gives up: both sides of the queue stop waiting.
        self.stop = stop
        self.fmt = fmt
        self.skip_header = skip_header
        self.schema = arrow_schema(fmt)
        self._pieces: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_PIECES)

    def reader(self) -> Any:
        """A pyarrow RecordBatchReader over the parsed pieces (read once)."""
        return pa.RecordBatchReader.from_batches(self.schema, self._batches())

    def _batches(self) -> Iterator[Any]:
        while True:
            try:
                item = self._pieces.get(timeout=0.1)
            except queue.Empty:
                if self.stop.is_set():
                    raise ValueError(f"{self.path}: the read was stopped") from None
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise ValueError(f"{self.path}: {item}") from item
            yield from item.to_batches()

    def _parse(self, text: memoryview) -> Any:
        names = self.schema.names
        return pacsv.read_csv(
            pa.py_buffer(text),
            read_options=pacsv.ReadOptions(use_threads=PARSE_THREADS, column_names=names),
            # One space between fields, no quoting; a blank line is a row of one field (an
            # error), not skipped.
            parse_options=pacsv.ParseOptions(
                delimiter=" ",
                quote_char=False,
                escape_char=False,
                double_quote=False,
                newlines_in_values=False,
                ignore_empty_lines=False,
            ),
            # pyarrow's int64 refuses +5, 4.5 and 1e2 but takes 007 and 0x10: the loader's
            # byte counts prove every integer plain, as for DuckDB's typed read.
            convert_options=pacsv.ConvertOptions(
                column_types=self.schema,
                null_values=["-"],
                strings_can_be_null=True,
                check_utf8=False,
            ),
        )

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self._pieces.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def scan(
        self, on_lines: Callable[[int], None] | None = None, max_bytes: int | None = None
    ) -> TextScan:
        """Inflate, scan and parse the whole file, as scan_gzip_file scans it; the stream ends
        after the last piece, or early with an error (a piece not plain, a parse error, a
        damaged file, GzipTooLarge, which is raised here too). Ends, not plain, once `stop`
        is set."""
        stop = self.stop
        total = TextScan()
        end: Any = _END
        header = self.skip_header
        try:
            for text in gzip_lines(self.path, max_bytes):
                if stop.is_set():
                    total.plain, total.why_not = False, "scan stopped"
                    break
                total.merge(scan_text(text, total.lines + 1))
                if not total.plain:
                    end = ValueError(total.why_not)
                    break
                if on_lines is not None:
                    on_lines(total.lines)
                rows = memoryview(text)
                if header:  # line 1 is the header (the scan has it as first_line)
                    cut = text.find(b"\n")
                    rows, header = (rows[cut + 1 :] if cut >= 0 else rows[:0]), False
                if len(rows) and not self._put(self._parse(rows)):
                    break
        except BaseException as error:
            end = error
            raise
        finally:
            self._put(end)
        return total
