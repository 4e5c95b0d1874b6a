"""Concurrency caps that hold across worker processes and machines, kept in the database.

`acquire(scope, limit=n, holder=..., lease_seconds=...)` takes one of `n` slots of `scope`
(say, one AWS account) for `holder` (say, one run). A slot is a row with a unique (scope, slot)
pair, so two workers racing for the last free slot cannot both win, whatever the database.
A holder renews its lease while it works; a slot whose lease ran out (its worker died) is free
again. PostgreSQL and SQLite behave alike, so the embedded default needs no Redis.
"""

from __future__ import annotations

from datetime import timedelta
from enum import Enum

from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.models import ConcurrencySlot


class Acquired(Enum):
    NO = "no"
    NEW = "new"  # a slot was taken for the holder
    HELD = "held"  # the holder already had one (a redelivered message); its lease was renewed

    def __bool__(self) -> bool:
        return self is not Acquired.NO


def acquire(scope: str, *, limit: int, holder: str, lease_seconds: float) -> Acquired:
    if limit < 1:
        raise ValueError("a concurrency limit must be at least 1")
    now = timezone.now()
    expires = now + timedelta(seconds=lease_seconds)
    ConcurrencySlot.objects.filter(scope=scope, expires_at__lt=now).delete()
    if ConcurrencySlot.objects.filter(scope=scope, holder=holder).update(expires_at=expires):
        return Acquired.HELD
    taken = set(ConcurrencySlot.objects.filter(scope=scope).values_list("slot", flat=True))
    for slot in range(limit):
        if slot in taken:
            continue
        try:
            with transaction.atomic():
                ConcurrencySlot.objects.create(
                    scope=scope, slot=slot, holder=holder, expires_at=expires
                )
        except IntegrityError:  # another worker took it between our read and our insert
            continue
        return Acquired.NEW
    return Acquired.NO


def renew(scope: str, *, holder: str, lease_seconds: float) -> bool:
    """Extend the holder's lease; False when it no longer holds a slot (it expired)."""
    expires = timezone.now() + timedelta(seconds=lease_seconds)
    return bool(
        ConcurrencySlot.objects.filter(scope=scope, holder=holder).update(expires_at=expires)
    )


def release(scope: str, *, holder: str) -> None:
    ConcurrencySlot.objects.filter(scope=scope, holder=holder).delete()


def holders(scope: str) -> list[str]:
    """Who holds a live slot of `scope` now."""
    return list(
        ConcurrencySlot.objects.filter(scope=scope, expires_at__gte=timezone.now())
        .order_by("slot")
        .values_list("holder", flat=True)
    )
