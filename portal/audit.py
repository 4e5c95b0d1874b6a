"""Writes audit events; every service function calls `record` inside its own transaction."""

from __future__ import annotations

import logging
from typing import Any

from django.db import connection, models, transaction

from portal.audit_chain import signing_key
from portal.clientaddr import client_address
from portal.models import AuditEvent

# Any constant works: it only serialises writers of the hash chain on PostgreSQL.
_AUDIT_CHAIN_LOCK_ID = 7_300_001

log = logging.getLogger("portal.audit")


def lock_ordered_writes() -> None:
    """Serialise writers of the audit chain and of change numbers until commit (PostgreSQL; SQLite
    has one writer at a time anyway). Everything that takes either takes this first, so they are
    always locked in the same order and two transactions cannot deadlock over them."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_AUDIT_CHAIN_LOCK_ID])


def record(
    *,
    actor: Any,
    action: str,
    target: models.Model | None = None,
    details: dict[str, Any] | None = None,
    client_ip: str | None = None,
    api_token_id: int | None = None,
    user_agent: str | None = None,
) -> AuditEvent:
    """Append one event to the chain. Call it inside the transaction that makes the change.

    `actor` is the user who acted; None for the portal itself ("system"), an anonymous user for
    someone not signed in ("anonymous", e.g. a failed login)."""
    key = signing_key()
    with transaction.atomic():
        lock_ordered_writes()
        previous = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        user = actor if getattr(actor, "is_authenticated", False) else None
        event = AuditEvent(
            actor=user,
            actor_user_id=user.pk if user else None,
            actor_name=user.get_username()
            if user
            else ("system" if actor is None else "anonymous"),
            action=action,
            target_type=target._meta.label_lower if target is not None else "",
            target_id=str(target.pk) if target is not None else "",
            target_repr=str(target)[:255] if target is not None else "",
            details=details or {},
            client_ip=client_ip or None,
            user_agent=(user_agent or "")[:255],
            api_token_id=api_token_id,
            prev_hash=previous or "",
            key_id=key.key_id,
        )
        event.hash = event.compute_hash(key)
        event.save()
        # The log keeps a copy of every committed event's hash, outside the database.
        transaction.on_commit(
            lambda: log.info(
                "audit event id=%s action=%s hash=%s", event.pk, event.action, event.hash
            )
        )
    return event


def client_ip_of(request: Any) -> str | None:
    """The caller's address (portal.clientaddr decides it, proxies included)."""
    return client_address(request)
