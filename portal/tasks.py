"""Celery tasks of the portal itself: webhook delivery with exponential backoff."""

from __future__ import annotations

from celery import Task, shared_task

from portal.models import WebhookDelivery
from portal.webhooks import MAX_ATTEMPTS, attempt_delivery, retry_delay_seconds


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=MAX_ATTEMPTS)
def deliver_webhook(self: Task, delivery_id: int) -> None:
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.PENDING:
        return
    if attempt_delivery(delivery) or delivery.status == WebhookDelivery.FAILED:
        return
    # 5 s, 10 s, 20 s ... capped at an hour; the delivery row keeps every outcome and says
    # when the next attempt is due.
    raise self.retry(countdown=retry_delay_seconds(delivery.attempts))


@shared_task(ignore_result=True)
def write_audit_checkpoint() -> None:
    """Celery beat: a signed checkpoint of the audit chain, outside the database."""
    from portal.audit_chain import write_checkpoint

    write_checkpoint()
