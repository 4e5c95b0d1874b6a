"""CloudWatch Logs subscription exports: the flow log records out of their JSON payloads.

A subscription filter sends each batch of log events as one JSON document (`messageType`,
`logGroup`, `logStream`, `logEvents: [{id, timestamp, message}]`), gzip'd; Firehose writes
them to S3 one after another in one file (gzip members and JSON documents back to back, with
or without newlines between them). Each event's `message` is one flow log record, in the flow
log's format (CloudWatch holds no header line). CONTROL_MESSAGE documents (sent when the
subscription is set up) hold no records and are skipped.
"""

from __future__ import annotations

import codecs
import gzip
import json
from collections.abc import Generator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_CHUNK = 1024 * 1024
# A subscription payload is at most about 1 MiB; a document this large is not one.
MAX_DOCUMENT_CHARS = 64 * 1024 * 1024
_BLANKS = " \t\r\n"


class NotASubscriptionExport(ValueError):
    """The file is not a CloudWatch Logs subscription export; the message says why."""


@dataclass
class SubscriptionRead:
    """What one export held: documents, of which control messages, and log events."""

    documents: int = 0
    control_messages: int = 0
    events: int = 0

    def note(self) -> str:
        text = (
            f"CloudWatch Logs subscription export: {self.events:,} log events in "
            f"{self.documents - self.control_messages:,} data messages; line numbers count "
            "log events"
        )
        if self.control_messages:
            text += f"; {self.control_messages:,} control messages skipped"
        return text


def _events(document: Any, number: int) -> list[Any] | None:
    """The log events of one document, or None for a control message."""
    if not isinstance(document, dict):
        raise NotASubscriptionExport(f"JSON document {number} is not an object")
    kind = document.get("messageType")
    if kind == "CONTROL_MESSAGE":
        return None
    events = document.get("logEvents")
    if kind not in (None, "DATA_MESSAGE") or not isinstance(events, list):
        raise NotASubscriptionExport(
            f"JSON document {number} is not a CloudWatch Logs subscription payload "
            "(no logEvents list)"
        )
    return events


def _message(event: Any, document: int) -> str:
    if not isinstance(event, dict) or not isinstance(event.get("message"), str):
        raise NotASubscriptionExport(f"a log event of JSON document {document} has no message")
    # One record per line: a line break inside a message would split it in two.
    text: str = event["message"]
    return text.replace("\r", " ").replace("\n", " ")


def _chunks(source: str | Path, compression: str) -> Generator[bytes]:
    if compression == "gzip":
        with gzip.open(source, "rb") as stream:
            yield from iter(lambda: stream.read(_CHUNK), b"")
    else:
        with open(source, "rb") as plain:
            yield from iter(lambda: plain.read(_CHUNK), b"")


def extract_records(source: str | Path, target: str | Path, compression: str) -> SubscriptionRead:
    """Write the message of every log event of the export `source` (plain or gzip, any
    number of documents) to `target`, one per line, in file order. Raises
    NotASubscriptionExport when the JSON is not what a subscription sends, and OSError,
    EOFError or zlib.error for damaged gzip."""
    read = SubscriptionRead()
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with (
        closing(_chunks(source, compression)) as chunks,
        open(target, "w", encoding="utf-8", newline="\n") as out,
    ):
        buffer, at, ended = "", 0, False
        while True:
            while at < len(buffer) and buffer[at] in _BLANKS:
                at += 1
            if at < len(buffer):
                try:
                    document, end = decoder.raw_decode(buffer, at)
                except json.JSONDecodeError as error:
                    if ended:
                        raise NotASubscriptionExport(
                            f"JSON document {read.documents + 1} is not valid JSON: {error.msg}"
                        ) from None
                    if len(buffer) - at > MAX_DOCUMENT_CHARS:
                        raise NotASubscriptionExport(
                            f"JSON document {read.documents + 1} is larger than "
                            f"{MAX_DOCUMENT_CHARS:,} characters"
                        ) from None
                else:
                    read.documents += 1
                    events = _events(document, read.documents)
                    if events is None:
                        read.control_messages += 1
                    else:
                        for event in events:
                            out.write(_message(event, read.documents) + "\n")
                        read.events += len(events)
                    at = end
                    continue
            if ended:
                break
            chunk = next(chunks, b"")
            ended = not chunk
            buffer = buffer[at:] + utf8.decode(chunk, final=ended)
            at = 0
    if read.documents == 0:
        raise NotASubscriptionExport("no JSON document in the file")
    return read
