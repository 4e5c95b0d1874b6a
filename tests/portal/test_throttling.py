"""Per-token throttling answers 429 with Retry-After, and budgets are per token."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client

from portal.models import ApiToken

pytestmark = pytest.mark.django_db


def _token(user: Any, name: str) -> str:
    out = StringIO()
    call_command("create_api_token", "--user", user.username, "--name", name,
                 "--scopes", "read:investigations", stdout=out)
    return out.getvalue().strip()


def test_a_token_over_its_rate_gets_429_with_retry_after(analyst: Any, settings: Any) -> None:
    settings.API_TOKEN_RATE = "3/min"
    cache.clear()
    first, second = _token(analyst, "siem-a"), _token(analyst, "siem-b")
    client = Client()
    codes = [client.get("/api/v1/investigations/", HTTP_AUTHORIZATION=f"Bearer {first}"
                        ).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.get("/api/v1/investigations/", HTTP_AUTHORIZATION=f"Bearer {first}")
    assert 0 < int(limited["Retry-After"]) <= 60
    # Another integration keeps its own budget.
    assert client.get("/api/v1/investigations/",
                      HTTP_AUTHORIZATION=f"Bearer {second}").status_code == 200
    cache.clear()


def test_every_api_call_is_logged_with_its_token(analyst: Any, caplog: Any) -> None:
    import logging

    key = _token(analyst, "siem-log")
    token_id = ApiToken.objects.get(name="siem-log").pk
    with caplog.at_level(logging.INFO, logger="portal.api"):
        Client().get("/api/v1/investigations/", HTTP_AUTHORIZATION=f"Bearer {key}")
        Client().get("/api/v1/runs/")
    lines = [r.getMessage() for r in caplog.records if r.name == "portal.api"]
    assert f"path=/api/v1/investigations/ status=200 user=alice token={token_id}" in lines[0]
    assert "path=/api/v1/runs/ status=401 user=- token=-" in lines[1]
