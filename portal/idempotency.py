"""Idempotency-Key support for API creates: a retried request returns the original object."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import IntegrityError, transaction

from portal.models import IdempotencyRecord

MAX_KEY_LENGTH = 255


class IdempotencyConflict(Exception):
    """The key was used before with a different request."""


def fingerprint(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def previous_object_id(*, user: Any, scope: str, key: str, print_: str) -> int | None:
    """The object created earlier with this key, or None; a different request is a conflict."""
    record = IdempotencyRecord.objects.filter(user=user, scope=scope, key=key).first()
    if record is None:
        return None
    if record.fingerprint != print_:
        raise IdempotencyConflict("This Idempotency-Key was already used with a different request.")
    return record.object_id


def remember(*, user: Any, scope: str, key: str, print_: str, object_id: int) -> bool:
    """Store the key in the creating transaction; False if a concurrent request won the race."""
    try:
        with transaction.atomic():
            IdempotencyRecord.objects.create(
                user=user, scope=scope, key=key, fingerprint=print_, object_id=object_id
            )
    except IntegrityError:
        return False
    return True
