"""Ids typed by people: in query strings, form fields and links. An id is a plain ASCII number a
database integer column can hold; anything else is "not an id", never a server error (`int()`
refuses some digits `str.isdigit()` accepts, such as "²", and PostgreSQL refuses numbers past
2**63 - 1)."""

from __future__ import annotations

from typing import Any

MAX_ID = 2**63 - 1  # the largest id a database integer column holds


def parse_id(value: Any) -> int | None:
    """`value` (surrounding blanks ignored) as an id, or None when it is not one."""
    text = str(value if value is not None else "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None
    number = int(text)
    return number if number <= MAX_ID else None
