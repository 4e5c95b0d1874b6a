"""A webhook's delivery log: attempts, the last error and when the next retry comes."""

from __future__ import annotations

from typing import Any

import pytest

from portal.models import WebhookDelivery
from portal.views import retry_delay_seconds
from portal.webhooks import create_webhook
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
    _delivery(hook, 1, attempts=3, last_status_code=503, last_error="HTTP 503")
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
    assert "attempt 4 about 20 s after attempt 3" in html
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
