"""Outgoing webhooks, signed per the Standard Webhooks spec, written as an outbox in the same
transaction as the event and delivered (with retries) by a Celery task."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from portal import audit, outbound
from portal.models import Webhook, WebhookDelivery
from portal.sealing import UnsealError, seal

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's marker, not a secret
VALID_EVENTS = {name for name, _ in Webhook.EVENTS}
DELIVERY_TIMEOUT_SECONDS = 10
MAX_ATTEMPTS = 8


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` over `{id}.{timestamp}.{body}` with the decoded secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def create_webhook(*, user: Any, name: str, url: str, events: list[str]) -> tuple[Webhook, str]:
    unknown = sorted(set(events) - VALID_EVENTS)
    if unknown or not events:
        raise ValueError(f"Events must be some of {', '.join(sorted(VALID_EVENTS))}.")
    # Resolved now for a clear answer; every delivery resolves and checks again.
    outbound.check_url(url)  # raises TargetRefused, a ValueError
    secret = new_secret()
    with transaction.atomic():
        hook = Webhook.objects.create(
            user=user, name=name, url=url, secret=seal(secret), events=sorted(set(events))
        )
        audit.record(
            actor=user,
            action="webhook.created",
            target=hook,
            details={"url": outbound.redacted(url), "events": hook.events},
        )
    return hook, secret


def emit(event: str, payload: dict[str, Any], *, recipients: Iterable[Any]) -> list[int]:
    """Queue `event` for every active webhook of these users that subscribed to it. Call inside
    the transaction that makes the change: deliveries exist only if it commits."""
    from portal.tasks import deliver_webhook

    user_ids = {user.pk for user in recipients}
    hooks = Webhook.objects.filter(active=True, user_id__in=user_ids)
    created = []
    for hook in hooks:
        if event not in hook.events:
            continue
        delivery = WebhookDelivery.objects.create(
            webhook=hook,
            message_id=f"msg_{uuid.uuid4().hex}",
            event=event,
            payload={"type": event, "timestamp": timezone.now().isoformat(), "data": payload},
        )
        created.append(delivery.pk)
        transaction.on_commit(partial(deliver_webhook.delay, delivery.pk))
    return created


def retry_delay_seconds(attempts: int) -> int:
    """How long the delivery task waits after failed attempt number `attempts`: 5 s, 10 s,
    20 s ... capped at an hour."""
    return min(3600, 5 * 2 ** max(attempts - 1, 0))


def attempt_delivery(delivery: WebhookDelivery) -> bool:
    """POST once; record the outcome. True when the receiver answered 2xx."""
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    try:
        secret = delivery.webhook.signing_secret
    except UnsealError as exc:
        # Retrying cannot help: no delivery of this webhook can be signed until an admin
        # restores the old SECRET_KEY as a fallback or the webhook is made again.
        logger.error("Webhook %s: %s", delivery.webhook.pk, exc)
        _record(
            delivery,
            {
                "attempts": delivery.attempts + 1,
                "status": WebhookDelivery.FAILED,
                "last_status_code": None,
                "last_error": f"Not sent: {exc}",
            },
        )
        return False
    headers = {
        "content-type": "application/json",
        "user-agent": "flowlog-portal-webhooks/1",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, delivery.message_id, timestamp, body),
    }
    code: int | None = None
    error = ""
    try:
        code = outbound.post(delivery.webhook.url, body, headers, timeout=DELIVERY_TIMEOUT_SECONDS)
    except outbound.HostNotFound:
        error = "host not found"
    except outbound.TargetRefused as exc:
        # The host now resolves somewhere it may not go (or https became required): nothing
        # was sent, and retrying would only knock again.
        logger.warning(
            "Webhook %s: refused target %s (%s)",
            delivery.webhook.pk,
            outbound.redacted(delivery.webhook.url),
            exc.coarse,
        )
        _record(
            delivery,
            {
                "attempts": delivery.attempts + 1,
                "status": WebhookDelivery.FAILED,
                "last_status_code": None,
                "last_error": f"Not sent: {exc.coarse}",
            },
        )
        return False
    except outbound.DeliveryError as exc:
        error = str(exc)
    if code is not None and not 200 <= code < 300:
        error = f"HTTP {code}" + (" (redirects are not followed)" if 300 <= code < 400 else "")
    ok = code is not None and 200 <= code < 300
    fields: dict[str, Any] = {
        "attempts": delivery.attempts + 1,
        "last_status_code": code,
        "last_error": error[:2000],
    }
    if ok:
        fields.update(status=WebhookDelivery.SUCCEEDED, delivered_at=timezone.now())
    elif delivery.attempts + 1 >= MAX_ATTEMPTS:
        fields.update(status=WebhookDelivery.FAILED)
    else:
        delay = timedelta(seconds=retry_delay_seconds(delivery.attempts + 1))
        fields.update(next_attempt_at=timezone.now() + delay)
    _record(delivery, fields)
    return ok


def _record(delivery: WebhookDelivery, fields: dict[str, Any]) -> None:
    """Store an attempt's outcome on the delivery row and the instance in hand."""
    fields = {"last_attempt_at": timezone.now(), "next_attempt_at": None, **fields}
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    for name, value in fields.items():
        setattr(delivery, name, value)


def delete_webhook(*, user: Any, webhook: Webhook) -> None:
    with transaction.atomic():
        audit.record(
            actor=user,
            action="webhook.deleted",
            target=webhook,
            details={"url": outbound.redacted(webhook.url)},
        )
        webhook.delete()
