"""Change numbers that follow commit order, so API clients can poll for changes exactly once.

`next_change_number()` increments one counter row as the *last* write of a transaction. The row
lock it takes (PostgreSQL) or the database write lock (SQLite) is held until commit, so a later
number is never handed out before an earlier one is committed: a reader that has seen number N
has seen every change numbered below N. Timestamps cannot promise that.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import F

from portal.audit import lock_ordered_writes
from portal.models import ChangeSequence

CHANGES = "changes"


def next_change_number(name: str = CHANGES) -> int:
    if not connection.in_atomic_block:
        raise RuntimeError("next_change_number() must run inside the writing transaction.")
    lock_ordered_writes()  # before the counter row: the same order as the audit chain
    updated = ChangeSequence.objects.filter(name=name).update(value=F("value") + 1)
    if not updated:
        with transaction.atomic():  # first use: create the row, racing safely
            ChangeSequence.objects.get_or_create(name=name)
        ChangeSequence.objects.filter(name=name).update(value=F("value") + 1)
    return int(ChangeSequence.objects.values_list("value", flat=True).get(name=name))


def encode_cursor(number: int, pk: int) -> str:
    return f"{number}.{pk}"


def decode_cursor(cursor: str) -> tuple[int, int]:
    """Raises ValueError with a message fit for an API client."""
    try:
        number, pk = cursor.split(".", 1)
        return int(number), int(pk)
    except ValueError:
        raise ValueError("cursor must be a value returned as next_cursor.") from None
