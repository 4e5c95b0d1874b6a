"""Findings through the API: scoped like investigations, filterable, incremental by time."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from investigations.models import Finding, QueryRun
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def findings(investigation: Any) -> list[Finding]:
    run = QueryRun.objects.create(
        investigation=investigation,
        requested_by=investigation.owner,
        analyses=["detections"],
        status="succeeded",
    )
    now = timezone.now()
    return [
        Finding.objects.create(
            investigation=investigation,
            run=run,
            type="UnauthorizedAccess:EC2/SSHBruteForce",
            severity=8,
            title="SSH brute force from 203.0.113.50",
            evidence={"peer": "203.0.113.50", "flows": 400},
            first_seen=now,
            last_seen=now,
        ),
        Finding.objects.create(
            investigation=investigation,
            run=run,
            type="Recon:EC2/Portscan",
            severity=5,
            title="Port scan",
            evidence={"peer": "198.51.100.23", "distinct_ports": 600},
        ),
    ]


def test_members_see_findings_and_outsiders_do_not(
    findings: list[Finding], teammate: Any, outsider: Any
) -> None:
    body = client_for(teammate).get("/api/v1/findings/").json()
    assert body["count"] == 2
    assert {f["type"] for f in body["results"]} == {
        "UnauthorizedAccess:EC2/SSHBruteForce",
        "Recon:EC2/Portscan",
    }
    assert client_for(outsider).get("/api/v1/findings/").json()["count"] == 0
    assert client_for(outsider).get(f"/api/v1/findings/{findings[0].pk}/").status_code == 404


def test_findings_filter_by_severity_and_type(findings: list[Finding], analyst: Any) -> None:
    client = client_for(analyst)
    high = client.get("/api/v1/findings/", {"min_severity": 7}).json()
    assert [f["severity_label"] for f in high["results"]] == ["high"]
    scans = client.get("/api/v1/findings/", {"type": "Recon:EC2/Portscan"}).json()
    assert scans["results"][0]["evidence"]["distinct_ports"] == 600
    assert client.get("/api/v1/findings/", {"min_severity": "x"}).status_code == 400


def test_updated_since_returns_only_later_changes(findings: list[Finding], analyst: Any) -> None:
    client = client_for(analyst)
    cutoff = timezone.now()
    Finding.objects.filter(pk=findings[1].pk).update(updated_at=cutoff + timedelta(seconds=1))
    body = client.get("/api/v1/findings/", {"updated_since": cutoff.isoformat()}).json()
    assert [f["id"] for f in body["results"]] == [findings[1].pk]
    assert client.get("/api/v1/findings/", {"updated_since": "yesterday"}).status_code == 400
    # An offset no time zone has (PostgreSQL refuses it) is a 400, not a server error.
    odd = client.get("/api/v1/findings/", {"updated_since": "0320-12-05T12:11:41+19:59"})
    assert odd.status_code == 400


def test_a_token_needs_the_findings_scope(findings: list[Finding], analyst: Any) -> None:
    def token(scopes: str) -> str:
        out = StringIO()
        call_command(
            "create_api_token", "--user", "alice", "--name", scopes, "--scopes", scopes, stdout=out
        )
        return out.getvalue().strip()

    reader = token("read:findings")
    other = token("read:investigations")
    assert (
        Client().get("/api/v1/findings/", HTTP_AUTHORIZATION=f"Bearer {reader}").json()["count"]
        == 2
    )
    assert (
        Client().get("/api/v1/findings/", HTTP_AUTHORIZATION=f"Bearer {other}").status_code == 403
    )


def test_findings_show_on_the_investigation_and_run_pages(
    findings: list[Finding], manager: Any
) -> None:
    from django.urls import reverse

    client = client_for(manager)
    detail = client.get(reverse("investigations:detail", args=[findings[0].investigation_id]))
    assert b"UnauthorizedAccess:EC2/SSHBruteForce" in detail.content
    assert b"sev-high" in detail.content
    run_page = client.get(reverse("investigations:run_detail", args=[findings[0].run_id]))
    assert b"Recon:EC2/Portscan" in run_page.content
