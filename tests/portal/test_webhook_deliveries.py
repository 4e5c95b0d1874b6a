"""A webhook's delivery log: attempts, the last error and when the next retry comes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from portal.models import WebhookDelivery
from portal.webhooks import create_webhook, retry_delay_seconds
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def _delivery(hook: Any, n: int, **fields: Any) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        webhook=hook, message_id=f"msg_{n}", event="run.finished", payload={}, **fields
    )


def test_the_log_shows_attempts_the_last_error_and_the_next_retry(analyst: Any) -> None:
    hook, _secret = create_webhook(
        user=analyst, name="siem", url="https://siem.example.com/h", events=["run.finished"]
    )
    due = timezone.now() + timedelta(seconds=20)
    _delivery(
        hook, 1, attempts=3, last_status_code=503, last_error="HTTP 503", next_attempt_at=due,
        last_attempt_at=due - timedelta(seconds=20),
    )  # fmt: skip
    _delivery(hook, 2, status="succeeded", attempts=1, last_status_code=204)
    _delivery(hook, 3, status="failed", attempts=8, last_error="host not found")
    _delivery(hook, 4)
    html = " ".join(
        client_for(analyst)
        .get(f"/integrations/webhooks/{hook.pk}/deliveries/")
        .content.decode()
        .split()
    )
    assert "3 of 8" in html and 'HTTP 503: <span class="error">HTTP 503</span>' in html
    assert f"attempt 4 at {due:%Y-%m-%d %H:%M:%S} UTC (in " in html
    assert "none: delivered" in html and "none: gave up" in html and "host not found" in html
    assert "first attempt queued" in html
    integrations = client_for(analyst).get("/integrations/").content.decode()
    assert f'href="/integrations/webhooks/{hook.pk}/deliveries/"' in integrations


def test_the_backoff_matches_the_delivery_task() -> None:
    assert [retry_delay_seconds(n) for n in (1, 2, 3, 10, 20)] == [5, 10, 20, 2560, 3600]


def test_someone_elses_webhook_is_a_404(analyst: Any, teammate: Any) -> None:
    hook, _secret = create_webhook(
        user=analyst, name="siem", url="https://siem.example.com/h", events=["run.finished"]
    )
    assert (
        client_for(teammate).get(f"/integrations/webhooks/{hook.pk}/deliveries/").status_code == 404
    )


def test_an_attempt_records_when_it_ran_and_when_the_next_one_is_due(
    analyst: Any, settings: Any
) -> None:
    from portal.webhooks import attempt_delivery
    from tests.portal.test_webhooks import Receiver

    settings.DEBUG = True  # a plain-http receiver on loopback, as an admin may allow
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    receiver = Receiver(statuses=[503, 503])
    try:
        hook, _secret = create_webhook(
            user=analyst, name="siem", url=receiver.url, events=["run.finished"]
        )
        delivery = _delivery(hook, 1)
        before = timezone.now()
        assert not attempt_delivery(delivery)
        assert not attempt_delivery(delivery)
        delivery.refresh_from_db()
        assert delivery.attempts == 2 and delivery.last_attempt_at is not None
        assert delivery.next_attempt_at is not None
        # After failed attempt 2 the task waits 10 s: the row says exactly when.
        wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
        assert 9.9 <= wait <= 10.1 and delivery.last_attempt_at >= before
        assert attempt_delivery(delivery)  # the receiver answers 204 now
        delivery.refresh_from_db()
        assert (delivery.status, delivery.next_attempt_at) == ("succeeded", None)
    finally:
        receiver.server.shutdown()
