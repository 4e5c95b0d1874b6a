"""The integrations page: tokens and webhooks created with their secret shown once, revoked."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from portal.models import ApiToken, AuditEvent, Webhook
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_a_token_is_created_shown_once_and_works(analyst: Any) -> None:
    client = client_for(analyst)
    page = client.post(
        reverse("integrations"),
        {
            "token-name": "Splunk pull",
            "token-scopes": ["read:findings", "read:investigations"],
        },
    )
    assert page.status_code == 200
    key = re.search(rb'id="revealed-secret">(fp_[^<]+)<', page.content).group(1).decode()
    token = ApiToken.objects.get(name="Splunk pull")
    assert token.scopes == ["read:findings", "read:investigations"]
    again = client.get(reverse("integrations"))
    assert key.encode() not in again.content and b"Splunk pull" in again.content
    assert Client().get("/api/v1/findings/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    client.post(reverse("token_revoke", args=[token.pk]))
    assert Client().get("/api/v1/findings/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401
    assert AuditEvent.objects.filter(action="api_token.revoked").exists()


def test_a_token_form_error_is_shown_next_to_the_field(analyst: Any) -> None:
    response = client_for(analyst).post(reverse("integrations"), {"token-name": "x"})
    assert response.status_code == 400
    assert b"This field is required" in response.content
    assert not ApiToken.objects.exists()


def test_nobody_revokes_someone_elses_token(analyst: Any, teammate: Any) -> None:
    client_for(analyst).post(
        reverse("integrations"), {"token-name": "mine", "token-scopes": ["read:findings"]}
    )
    token = ApiToken.objects.get()
    assert client_for(teammate).post(reverse("token_revoke", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_a_webhook_is_added_with_its_secret_shown_once(analyst: Any) -> None:
    client = client_for(analyst)
    page = client.post(
        reverse("integrations"),
        {
            "hook-name": "SOAR",
            "hook-url": "https://soar.example/hooks/flow",
            "hook-events": ["run.finished", "finding.created"],
        },
    )
    assert page.status_code == 200
    assert re.search(rb'id="revealed-secret">whsec_', page.content)
    hook = Webhook.objects.get()
    assert hook.events == ["finding.created", "run.finished"]
    client.post(reverse("webhook_delete", args=[hook.pk]))
    assert not Webhook.objects.exists()
