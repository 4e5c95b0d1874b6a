"""Login lockout, security headers and escaping of values that come from logs."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_repeated_failed_logins_lock_the_account_out(analyst: Any, settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(3):
        client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    locked = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    assert "_auth_user_id" not in client.session


def test_a_successful_login_resets_the_failure_count(analyst: Any, settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(2):
        client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    assert (
        client.post(reverse("login"), {"username": "alice", "password": PASSWORD}).status_code
        == 302
    )


def test_pages_carry_a_strict_content_security_policy(analyst: Any) -> None:
    client = Client()
    client.force_login(analyst)
    response = client.get(reverse("investigations:list"))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_values_from_logs_are_shown_as_text(investigation: Any, analyst: Any) -> None:
    from investigations.models import QueryRun, ResultRow, RunResult

    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=analyst,
        analyses=["ssh-inbound"],
        status="succeeded",
    )
    result = RunResult.objects.create(
        run=run,
        analysis="ssh-inbound",
        title="SSH inbound",
        columns=["srcaddr", "action"],
        row_count=1,
        total_groups=1,
    )
    ResultRow.objects.create(
        result=result, position=0, data={"srcaddr": "<script>alert(1)</script>", "action": "ACCEPT"}
    )
    client = Client()
    client.force_login(analyst)
    page = client.get(reverse("investigations:run_detail", args=[run.pk]))
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in page.content
    assert b"<script>alert(1)</script>" not in page.content
