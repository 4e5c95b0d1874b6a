"""The audit log viewer, its CSV export and its API: managers and admins only."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.urls import reverse

from portal import audit
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(analyst: Any, investigation: Any) -> None:
    audit.record(
        actor=analyst,
        action="run.submitted",
        target=investigation,
        details={"analyses": ["ssh-inbound"]},
        client_ip="192.0.2.4",
    )
    audit.record(
        actor=analyst,
        action="investigation.created",
        target=investigation,
        details={"title": '=HYPERLINK("http://evil")'},
    )


def test_a_manager_reads_and_filters_the_audit_log(manager: Any, events: None) -> None:
    client = client_for(manager)
    page = client.get(reverse("audit_log"))
    assert page.status_code == 200
    assert b"run.submitted" in page.content and b"investigation.created" in page.content
    filtered = client.get(reverse("audit_log"), {"action": "run."})
    assert b"run.submitted" in filtered.content
    assert b"investigation.created" not in filtered.content
    by_actor = client.get(reverse("audit_log"), {"actor": "nobody"})
    assert b"No audit events match" in by_actor.content


def test_the_csv_export_neutralises_formulas(manager: Any, events: None) -> None:
    response = client_for(manager).get(reverse("audit_log"), {"export": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {"run.submitted", "investigation.created"} <= {r["action"] for r in rows}
    created = next(r for r in rows if r["action"] == "investigation.created")
    assert created["details"].startswith('{"title": "=HYPERLINK')  # JSON text, not a formula
    assert all(not cell.startswith("=") for r in rows for cell in r.values())


@pytest.mark.parametrize("who", ["analyst", "outsider"])
def test_analysts_cannot_read_the_audit_log(who: str, request: Any, events: None) -> None:
    client = client_for(request.getfixturevalue(who))
    assert client.get(reverse("audit_log")).status_code == 403
    assert client.get("/api/v1/audit-events/").status_code == 403


def test_the_audit_api_lists_events_for_admins(admin_user: Any, events: None) -> None:
    response = client_for(admin_user).get("/api/v1/audit-events/", {"action": "run."})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert body["results"][0]["client_ip"] == "192.0.2.4"
    assert len(body["results"][0]["hash"]) == 64


def test_the_audit_api_offers_no_writes(admin_user: Any, events: None) -> None:
    client = client_for(admin_user)
    assert client.post("/api/v1/audit-events/", {}).status_code == 405
    event_id = client.get("/api/v1/audit-events/").json()["results"][0]["id"]
    assert client.delete(f"/api/v1/audit-events/{event_id}/").status_code == 405
    assert client.patch(f"/api/v1/audit-events/{event_id}/", {}).status_code == 405
