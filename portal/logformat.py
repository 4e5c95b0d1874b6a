"""Log formatting: one event, one line. Control characters in a message (a `%0a` in a logged
path, a newline in a username) are escaped, so no input can start a forged log line."""

from __future__ import annotations

import logging

_ESCAPES = {i: f"\\x{i:02x}" for i in range(32)} | {
    0x7F: "\\x7f",
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
    0x85: "\\x85",
}


def escape_controls(text: str) -> str:
    return text.translate(_ESCAPES)


class SingleLineFormatter(logging.Formatter):
    """Escapes the message; a traceback, when there is one, follows on its own lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)
