"""Per-token throttling answers 429 with Retry-After, and budgets are per token."""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from portal.models import ApiToken
from tests.conftest import api_token

pytestmark = pytest.mark.django_db


def _token(user: Any, name: str) -> str:
    return api_token(user, "read:investigations", name)


def test_a_token_over_its_rate_gets_429_with_retry_after(analyst: Any, settings: Any) -> None:
    settings.API_TOKEN_RATE = "3/min"
    cache.clear()
    first, second = _token(analyst, "siem-a"), _token(analyst, "siem-b")
    client = Client()
    codes = [
        client.get("/api/v1/investigations/", HTTP_AUTHORIZATION=f"Bearer {first}").status_code
        for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    limited = client.get("/api/v1/investigations/", HTTP_AUTHORIZATION=f"Bearer {first}")
    assert 0 < int(limited["Retry-After"]) <= 60
    # Another integration keeps its own budget.
    assert (
        client.get("/api/v1/investigations/", HTTP_AUTHORIZATION=f"Bearer {second}").status_code
        == 200
    )
    cache.clear()


def test_every_api_call_is_logged_with_its_token(analyst: Any, caplog: Any) -> None:
    key = _token(analyst, "siem-log")
    token_id = ApiToken.objects.get(name="siem-log").pk
    with caplog.at_level(logging.INFO, logger="portal.api"):
        Client().get("/api/v1/investigations/", HTTP_AUTHORIZATION=f"Bearer {key}")
        Client().get("/api/v1/runs/")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "portal.api"]
    assert {k: lines[0][k] for k in ("path", "status", "user", "token")} == {
        "path": "/api/v1/investigations/",
        "status": 200,
        "user": "alice",
        "token": token_id,
    }
    assert {k: lines[1][k] for k in ("path", "status", "user", "token")} == {
        "path": "/api/v1/runs/",
        "status": 401,
        "user": None,
        "token": None,
    }


def test_a_newline_in_the_path_cannot_forge_a_log_line(caplog: Any) -> None:
    """`%0a` decodes to a newline in the path; the log line stays one JSON object."""
    forged = "/api/v1/x%0a2026-01-01%2000:00:00,000%20INFO%20portal.api%20user=admin%0d"
    with caplog.at_level(logging.INFO, logger="portal.api"):
        Client().get(forged)
    records = [r for r in caplog.records if r.name == "portal.api"]
    assert len(records) == 1
    # Formatted exactly as the configured handler writes it.
    config: Any = settings.LOGGING
    formatter = logging.Formatter(config["formatters"]["plain"]["format"])
    written = formatter.format(records[0])
    assert "\n" not in written and "\r" not in written
    assert len(written.splitlines()) == 1
    entry = json.loads(records[0].getMessage())
    assert entry["path"] == "/api/v1/x\n2026-01-01 00:00:00,000 INFO portal.api user=admin\r"
    assert entry["user"] is None


def test_the_limiter_fails_open_when_its_cache_is_down(
    analyst: Any,
    settings: Any,
    caplog: Any,
) -> None:
    """Counters live in the cache (Redis in production); a cache outage must not take the API
    down: requests go through unthrottled and the outage is logged."""
    key = _token(analyst, "siem-redis-down")
    with socket.socket() as probe:  # a local port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    settings.API_TOKEN_RATE = "1/min"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
        }
    }
    with caplog.at_level(logging.WARNING, logger="portal.api.throttling"):
        codes = [
            Client().get("/api/v1/investigations/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code
            for _ in range(3)
        ]
    assert codes == [200, 200, 200]
    assert any("rate limiter" in r.getMessage() for r in caplog.records)


def test_no_logged_message_can_start_a_new_line(caplog: Any) -> None:
    """Django's own "Not Found: <path>" line, and any other, goes through the escaping
    formatter the settings configure."""
    from portal.logformat import SingleLineFormatter

    with caplog.at_level(logging.WARNING, logger="django.request"):
        Client().get("/api/v1/x%0a2026-01-01%20INFO%20forged%0d%e2%80%a8")
    records = [r for r in caplog.records if r.name == "django.request"]
    assert records, "Django logs the 404"
    config: Any = settings.LOGGING
    assert config["formatters"]["plain"]["()"] == "portal.logformat.SingleLineFormatter"
    written = SingleLineFormatter(config["formatters"]["plain"]["format"]).format(records[0])
    assert len(written.splitlines()) == 1
    assert "x\\n2026-01-01 INFO forged\\r\\u2028" in written
